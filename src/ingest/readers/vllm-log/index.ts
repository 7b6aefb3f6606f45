/**
 * vllm-log reader. vLLM's EPLB log lines carry only per-step aggregates (avg/max tokens over ranks and
 * their ratio), never per-expert counts, so they cannot become a LoadTrace. The reader recognises such
 * logs (so auto-detection never mistakes them for another format) and refuses them with a pointer to
 * `ballast doctor --vllm-log FILE`, which reads them with `readVllmEplbLog` (./parse.ts) and reports
 * the balancedness series, re-arrangement times and, given counts, whether the build logged the
 * wrong axis.
 */
import { InputError } from '../../../core/errors.ts';
import type { Probe, TraceReader } from '../../reader.ts';
import { readVllmEplbLog } from './parse.ts';

export function detectVllmLog(p: Probe): number {
  if (p.isDirectory) return 0;
  const s = Buffer.from(p.head.buffer, p.head.byteOffset, p.head.byteLength).toString('latin1');
  return /EPLB step:.*avg_tokens=.*balancedness=/.test(s) ? 0.9 : 0;
}

export const reader: TraceReader = {
  name: 'vllm-log',
  description: 'vLLM EPLB log ("EPLB step: ... balancedness=..."): aggregates only; view with `ballast doctor --vllm-log`',
  detect: detectVllmLog,
  read: (path) => {
    const s = readVllmEplbLog(path);
    throw new InputError(
      path,
      `line ${s.steps[0].line}`,
      `this vLLM log holds only per-step aggregates (${s.steps.length} "EPLB step" lines: avg/max tokens over ranks and balancedness), no per-expert counts; view the series with \`ballast doctor --vllm-log ${path}\`, and capture counts with \`ballast capture\` or vLLM's offline-EPLB JSONL`,
    );
  },
};
