/** Conformance cases for the sglang-log reader (see ../cases.ts): such logs hold aggregates only. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ReaderCases } from '../cases.ts';

export const SGLANG_LOG = [
  '[2026-08-02 10:00:00 TP0] Load weight end.',
  '[2026-08-02 10:01:00 TP0] [Expert Balancedness] forward_pass_id=41 current_pass_balancedness=0.812 last_10_average_balancedness=0.812 last_100_average_balancedness=0.812 last_1000_average_balancedness=0.812  gpu_physical_count_sum=3072',
  '[2026-08-02 10:01:00 TP0] [Expert Balancedness] forward_pass_id=42 current_pass_balancedness=0.700 last_10_average_balancedness=0.756 last_100_average_balancedness=0.756 last_1000_average_balancedness=0.756  gpu_physical_count_sum=48',
  '[2026-08-02 10:01:01 TP0] [Expert Balancedness] forward_pass_id=45 current_pass_balancedness=0.950 last_10_average_balancedness=0.821 last_100_average_balancedness=0.821 last_1000_average_balancedness=0.821  gpu_physical_count_sum=96',
  '[2026-08-02 10:01:02 TP0] [EPLBManager] rebalance end time=2.251s',
].join('\n');

export const cases: ReaderCases = {
  valid: [],
  invalid: [
    {
      name: 'an [Expert Balancedness] log is refused: aggregates only',
      make(dir) {
        const p = join(dir, 'sglang.log');
        writeFileSync(p, `${SGLANG_LOG}\n`);
        return p;
      },
      where: /^line 2$/,
      message: /only one balancedness number per forward pass.*ballast doctor --sglang-log/,
    },
  ],
};
