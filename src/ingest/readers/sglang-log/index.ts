/**
 * sglang-log reader. `[Expert Balancedness]` lines hold one balancedness number per forward pass and no
 * per-expert counts, so they cannot become a LoadTrace: the reader recognises them and refuses with a
 * pointer to `ballast doctor --sglang-log FILE` (./parse.ts reads the series).
 */
import { InputError } from '../../../core/errors.ts';
import type { Probe, TraceReader } from '../../reader.ts';
import { readSglangBalancednessLog } from './parse.ts';

export function detectSglangLog(p: Probe): number {
  if (p.isDirectory) return 0;
  const s = Buffer.from(p.head.buffer, p.head.byteOffset, p.head.byteLength).toString('latin1');
  return /\[Expert Balancedness\] forward_pass_id=/.test(s) ? 0.9 : 0;
}

export const reader: TraceReader = {
  name: 'sglang-log',
  description: 'SGLang "[Expert Balancedness]" log: aggregates only; view with `ballast doctor --sglang-log`',
  detect: detectSglangLog,
  read: (path) => {
    const s = readSglangBalancednessLog(path);
    throw new InputError(
      path,
      `line ${s.passes[0].line}`,
      `this SGLang log holds only one balancedness number per forward pass (${s.passes.length} "[Expert Balancedness]" lines), no per-expert counts; view the series with \`ballast doctor --sglang-log ${path}\`, and get counts from the recorder dump (POST /dump_expert_distribution_record) read as sglang-dump`,
    );
  },
};
