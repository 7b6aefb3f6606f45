/** Conformance cases for the prom-scrape reader (see ../cases.ts). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ReaderCases } from '../cases.ts';

/** prometheus_client exposition of SGLang's histogram: cumulative buckets le="0.0".."G-1.0", +Inf. */
export function promHistogram(perGpu: Record<number, number[]>, ts?: number): string {
  const lines = [
    '# HELP sglang:eplb_gpu_physical_count The selected count of physical experts on each layer and GPU rank.',
    '# TYPE sglang:eplb_gpu_physical_count histogram',
  ];
  const t = ts === undefined ? '' : ` ${ts}`;
  for (const [layer, counts] of Object.entries(perGpu)) {
    let cum = 0;
    let sum = 0;
    counts.forEach((c, r) => {
      cum += c;
      sum += c * r;
      lines.push(`sglang:eplb_gpu_physical_count_bucket{layer="${layer}",le="${r}.0"} ${cum}.0${t}`);
    });
    lines.push(`sglang:eplb_gpu_physical_count_bucket{layer="${layer}",le="+Inf"} ${cum}.0${t}`);
    lines.push(`sglang:eplb_gpu_physical_count_count{layer="${layer}"} ${cum}.0${t}`);
    lines.push(`sglang:eplb_gpu_physical_count_sum{layer="${layer}"} ${sum}.0${t}`);
  }
  return `${lines.join('\n')}\n`;
}

export const cases: ReaderCases = {
  valid: [
    {
      name: 'one scrape, dense layer 0 left out, 4 GPUs',
      make(dir) {
        const p = join(dir, 'metrics.txt');
        writeFileSync(p, `# HELP sglang:num_running_reqs x\nsglang:num_running_reqs{model_name="m"} 3.0\n${promHistogram({ 0: [0, 0, 0, 0], 1: [5, 1, 0, 2], 2: [3, 3, 1, 1] })}`);
        return p;
      },
      expect: { layers: 2, experts: 4, windows: 1, layerIds: [1, 2], counts: [5, 1, 0, 2, 3, 3, 1, 1] },
    },
    {
      name: 'two timestamped scrapes in one file: windows are increases, summing to the last scrape',
      make(dir) {
        const p = join(dir, 'scrapes.prom');
        writeFileSync(p, promHistogram({ 3: [1, 1] }, 1000) + promHistogram({ 3: [4, 2] }, 16000));
        return p;
      },
      expect: { layers: 1, experts: 2, windows: 2, counts: [4, 2] },
    },
  ],
  invalid: [
    {
      name: 'buckets that are not cumulative',
      make(dir) {
        const p = join(dir, 'bad.prom');
        writeFileSync(
          p,
          'sglang:eplb_gpu_physical_count_bucket{layer="1",le="0.0"} 5.0\nsglang:eplb_gpu_physical_count_bucket{layer="1",le="1.0"} 3.0\n',
        );
        return p;
      },
      where: /^$/,
      message: /below the previous bucket.*cumulative/,
    },
    {
      name: 'a malformed sample line',
      make(dir) {
        const p = join(dir, 'bad2.prom');
        writeFileSync(p, 'sglang:eplb_gpu_physical_count_bucket{layer="1",le="0.0"} 5.0\nsglang:eplb_gpu_physical_count_bucket{layer="1",le="1.0"}\n');
        return p;
      },
      where: /^line 2$/,
      message: /not a Prometheus text-format sample/,
    },
  ],
};
