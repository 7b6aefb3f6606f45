/**
 * SGLang `[Expert Balancedness]` log lines (python/sglang/srt/eplb/expert_distribution.py, rank 0, with
 * --enable-expert-distribution-metrics or --expert-balancedness-report-mode server_log|both):
 *
 *   [Expert Balancedness] forward_pass_id=<id> current_pass_balancedness=<%.03f> last_10_average_balancedness=<%.03f> last_100_average_balancedness=<%.03f> last_1000_average_balancedness=<%.03f>  gpu_physical_count_sum=<int>
 *   [EPLBManager] rebalance end time=<s>s
 *
 * current_pass_balancedness = mean over layers of (mean GPU load + 1e-5) / (max GPU load + 1e-5) for one
 * forward pass (`sglangBalancedness`); gpu_physical_count_sum = token-expert assignments of that pass
 * summed over layers and GPUs. Aggregates only: no per-expert counts.
 */
import { readFileSync } from 'node:fs';
import { InputError } from '../../../core/errors.ts';

export interface SglangBalancednessLine {
  line: number;
  /** Log timestamp as printed ("YYYY-MM-DD HH:MM:SS"), when present. */
  time?: string;
  forwardPassId: number;
  current: number;
  /** window size -> logged running mean, e.g. {10: 0.91, 100: 0.88, 1000: 0.87}. */
  lastAverages: Record<string, number>;
  gpuPhysicalCountSum: number;
}

export interface SglangBalancednessLogSeries {
  engine: 'sglang';
  passes: SglangBalancednessLine[];
  rebalances: { line: number; time?: string; seconds: number }[];
  /** forward_pass_id jumps (> 1) between consecutive lines: passes missing from the log. */
  gaps: { afterLine: number; missing: number }[];
}

const LINE = /\[Expert Balancedness\]\s+forward_pass_id=(\d+)\s+current_pass_balancedness=([0-9.eE+-]+|nan)\s+((?:last_\d+_average_balancedness=[0-9.eE+-]+\s+)*)\s*gpu_physical_count_sum=(\d+)/;
const REBAL = /\[EPLBManager\] rebalance end time=([0-9.]+)\s*s/;
const TIME = /(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)/;

export function parseSglangBalancednessLog(text: string, file: string): SglangBalancednessLogSeries {
  const passes: SglangBalancednessLine[] = [];
  const rebalances: { line: number; time?: string; seconds: number }[] = [];
  const gaps: { afterLine: number; missing: number }[] = [];
  text.split('\n').forEach((ln, i) => {
    const line = i + 1;
    const time = TIME.exec(ln)?.[1];
    const m = LINE.exec(ln);
    if (m) {
      const current = Number(m[2]);
      if (Number.isNaN(current) && m[2] !== 'nan') throw new InputError(file, `line ${line}`, `bad current_pass_balancedness=${m[2]}`);
      const lastAverages: Record<string, number> = {};
      for (const a of m[3].matchAll(/last_(\d+)_average_balancedness=([0-9.eE+-]+)/g)) lastAverages[a[1]] = Number(a[2]);
      const forwardPassId = Number(m[1]);
      const prev = passes[passes.length - 1];
      if (prev && forwardPassId > prev.forwardPassId + 1) gaps.push({ afterLine: prev.line, missing: forwardPassId - prev.forwardPassId - 1 });
      passes.push({ line, ...(time ? { time } : {}), forwardPassId, current, lastAverages, gpuPhysicalCountSum: Number(m[4]) });
      return;
    }
    if (ln.includes('[Expert Balancedness]')) {
      throw new InputError(file, `line ${line}`, 'an [Expert Balancedness] line not in the expected form "forward_pass_id=<n> current_pass_balancedness=<f> ... gpu_physical_count_sum=<n>"');
    }
    const r = REBAL.exec(ln);
    if (r) rebalances.push({ line, ...(time ? { time } : {}), seconds: Number(r[1]) });
  });
  return { engine: 'sglang', passes, rebalances, gaps };
}

export function readSglangBalancednessLog(path: string): SglangBalancednessLogSeries {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new InputError(path, '', 'cannot read log file');
  }
  const s = parseSglangBalancednessLog(text, path);
  if (s.passes.length === 0) {
    throw new InputError(path, '', 'no "[Expert Balancedness]" lines; start SGLang with --enable-expert-distribution-metrics (or --expert-balancedness-report-mode server_log)');
  }
  return s;
}

/**
 * SGLang's balancedness of one pass from GPU loads n[L][G] (row-major):
 * mean over layers of (mean_r n[l][r] + 1e-5) / (max_r n[l][r] + 1e-5).
 */
export function sglangBalancedness(gpuLoads: Float64Array, L: number, G: number): number {
  let acc = 0;
  for (let l = 0; l < L; l++) {
    let s = 0;
    let m = 0;
    for (let r = 0; r < G; r++) {
      s += gpuLoads[l * G + r];
      m = Math.max(m, gpuLoads[l * G + r]);
    }
    acc += (s / G + 1e-5) / (m + 1e-5);
  }
  return acc / L;
}
