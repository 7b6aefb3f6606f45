/** Conformance cases for the vllm-log reader (see ../cases.ts): such logs hold aggregates only. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ReaderCases } from '../cases.ts';

export const VLLM_LOG = [
  'INFO 08-02 10:00:01 [api_server.py:1000] Starting vLLM API server 0 on http://0.0.0.0:8000',
  '(EngineCore_DP0 pid=123) INFO 08-02 10:01:00 [eplb_state.py:700] EPLB step: 100 for model deepseek-ai/DeepSeek-V2-Lite: avg_tokens=512.00, max_tokens=1024, balancedness=0.5000, steps until the next rearrangement: 2900',
  '(EngineCore_DP0 pid=123) INFO 08-02 10:02:00 [eplb_state.py:700] EPLB step: 200 for model deepseek-ai/DeepSeek-V2-Lite: avg_tokens=300.25, max_tokens=401, balancedness=0.7488, steps until the next rearrangement: 2800',
  '(EngineCore_DP0 pid=123) INFO 08-02 10:05:00 [eplb_state.py:800] Rearranged experts in 1.37 s.',
].join('\n');

export const cases: ReaderCases = {
  valid: [],
  invalid: [
    {
      name: 'an EPLB balancedness log is refused: aggregates only',
      make(dir) {
        const p = join(dir, 'vllm.log');
        writeFileSync(p, `${VLLM_LOG}\n`);
        return p;
      },
      where: /^line 2$/,
      message: /only per-step aggregates.*ballast doctor --vllm-log/,
    },
  ],
};
