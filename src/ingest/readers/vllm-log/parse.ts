/**
 * vLLM EPLB log lines (vllm/distributed/eplb/eplb_state.py, rank 0, when
 * --eplb-config '{"log_balancedness": true}'):
 *
 *   EPLB step: <n> for model <m>: avg_tokens=<%.2f>, max_tokens=<%d>, balancedness=<%.4f>[, steps until the next rearrangement: <d>]
 *   EPLB step: avg_tokens=<%.2f>, max_tokens=<%d>, balancedness=<%.4f>           (older builds)
 *   Rearranged experts in <%.2f> s.   /   Rearranged experts (profile) in <%.2f> s.
 *
 * The numbers are aggregates of one forward pass: with n[l][r] the tokens rank r received in MoE layer l,
 * vLLM logs avg = sum_l mean_r n[l][r], max = sum_l max_r n[l][r] (max printed with %d, i.e. truncated)
 * and balancedness = avg / max. Builds before Aug 2026 (vLLM PR 51784/51813) reduced over the wrong
 * axis: avg = sum_r mean_l n[l][r], max = sum_r max_l n[l][r]; the logged triple is then still
 * self-consistent, so the fault shows only against counts (`compareWithRankLoads`).
 */
import { readFileSync } from 'node:fs';
import { InputError } from '../../../core/errors.ts';

export interface VllmEplbStep {
  /** 1-based line number in the log. */
  line: number;
  step?: number;
  model?: string;
  /** Log timestamp as printed ("MM-DD HH:MM:SS"), when the line has vLLM's prefix. */
  time?: string;
  avgTokens: number;
  maxTokens: number;
  balancedness: number;
  stepsUntilRearrangement?: number;
  /** Logged balancedness agrees with avg/max given the print rounding. */
  selfConsistent: boolean;
}

export interface EplbRearrangement {
  line: number;
  time?: string;
  seconds: number;
  profile: boolean;
}

export interface VllmEplbLogSeries {
  engine: 'vllm';
  steps: VllmEplbStep[];
  rearrangements: EplbRearrangement[];
  /** Lines whose balancedness disagrees with their own avg/max (not a vLLM line as printed). */
  inconsistentLines: number[];
}

const STEP = /EPLB step:\s*(?:(\d+)(?:\s+for model\s+(.*?))?:\s*)?avg_tokens=([^,\s]+),\s*max_tokens=([^,\s]+),\s*balancedness=([^,\s]+)(?:,\s*steps until the next rearrangement:\s*(-?\d+))?/;
const REARRANGED = /Rearranged experts( \(profile\))?\s+in\s+([0-9.]+)\s*s\./;
const TIME = /(\d\d-\d\d \d\d:\d\d:\d\d)/;

/** True when `bal` (printed %.4f) can be avg/max for avg printed %.2f and max printed %d (truncated). */
export function vllmLineConsistent(avg: number, max: number, bal: number): boolean {
  if (max <= 0) return bal >= 0 && bal <= 1.00005; // true max in [0, 1): any ratio up to 1
  const lo = Math.max(0, avg - 0.005) / (max + 1);
  const hi = (avg + 0.005) / max;
  return bal >= lo - 0.00005 && bal <= hi + 0.00005;
}

export function parseVllmEplbLog(text: string, file: string): VllmEplbLogSeries {
  const steps: VllmEplbStep[] = [];
  const rearrangements: EplbRearrangement[] = [];
  const inconsistentLines: number[] = [];
  text.split('\n').forEach((ln, i) => {
    const line = i + 1;
    const time = TIME.exec(ln)?.[1];
    const m = STEP.exec(ln);
    if (m) {
      const avg = Number(m[3]);
      const max = Number(m[4]);
      const bal = Number(m[5]);
      if (!Number.isFinite(avg) || !Number.isFinite(max) || Number.isNaN(bal)) {
        throw new InputError(file, `line ${line}`, `expected numbers in avg_tokens=${m[3]}, max_tokens=${m[4]}, balancedness=${m[5]}`);
      }
      const ok = vllmLineConsistent(avg, max, bal);
      if (!ok) inconsistentLines.push(line);
      steps.push({
        line,
        ...(m[1] !== undefined ? { step: Number(m[1]) } : {}),
        ...(m[2] !== undefined ? { model: m[2] } : {}),
        ...(time ? { time } : {}),
        avgTokens: avg,
        maxTokens: max,
        balancedness: bal,
        ...(m[6] !== undefined ? { stepsUntilRearrangement: Number(m[6]) } : {}),
        selfConsistent: ok,
      });
      return;
    }
    const r = REARRANGED.exec(ln);
    if (r) rearrangements.push({ line, ...(time ? { time } : {}), seconds: Number(r[2]), profile: r[1] !== undefined });
  });
  return { engine: 'vllm', steps, rearrangements, inconsistentLines };
}

/** Read a vLLM log file; throws InputError when it has no EPLB step line. */
export function readVllmEplbLog(path: string): VllmEplbLogSeries {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new InputError(path, '', 'cannot read log file');
  }
  const s = parseVllmEplbLog(text, path);
  if (s.steps.length === 0) {
    throw new InputError(path, '', 'no "EPLB step:" lines; start vLLM with --eplb-config \'{"log_balancedness": true}\'');
  }
  return s;
}

export interface VllmAggregates {
  avgTokens: number;
  maxTokens: number;
  balancedness: number;
}

/**
 * vLLM's three logged numbers from rank loads n[L][G] (row-major), both ways:
 *   correct:   avg = sum_l mean_r, max = sum_l max_r
 *   wrongAxis: avg = sum_r mean_l, max = sum_r max_l   (builds before Aug 2026)
 */
export function vllmAggregates(rankLoads: Float64Array, L: number, G: number): { correct: VllmAggregates; wrongAxis: VllmAggregates } {
  let avgC = 0;
  let maxC = 0;
  for (let l = 0; l < L; l++) {
    let s = 0;
    let m = 0;
    for (let r = 0; r < G; r++) {
      s += rankLoads[l * G + r];
      m = Math.max(m, rankLoads[l * G + r]);
    }
    avgC += s / G;
    maxC += m;
  }
  let avgW = 0;
  let maxW = 0;
  for (let r = 0; r < G; r++) {
    let s = 0;
    let m = 0;
    for (let l = 0; l < L; l++) {
      s += rankLoads[l * G + r];
      m = Math.max(m, rankLoads[l * G + r]);
    }
    avgW += s / L;
    maxW += m;
  }
  return {
    correct: { avgTokens: avgC, maxTokens: maxC, balancedness: maxC > 0 ? avgC / maxC : 0 },
    wrongAxis: { avgTokens: avgW, maxTokens: maxW, balancedness: maxW > 0 ? avgW / maxW : 0 },
  };
}

export type AxisVerdict = 'correct' | 'wrong-axis' | 'both' | 'neither';

/** Does a logged line match the correct or the wrong-axis aggregates of the same step's rank loads? */
export function compareWithRankLoads(step: VllmEplbStep, rankLoads: Float64Array, L: number, G: number): { verdict: AxisVerdict; correct: VllmAggregates; wrongAxis: VllmAggregates } {
  const { correct, wrongAxis } = vllmAggregates(rankLoads, L, G);
  const near = (a: VllmAggregates) =>
    Math.abs(a.avgTokens - step.avgTokens) <= 0.0051 && Math.trunc(a.maxTokens) === step.maxTokens && Math.abs(a.balancedness - step.balancedness) <= 0.00006;
  const c = near(correct);
  const w = near(wrongAxis);
  return { verdict: c && w ? 'both' : c ? 'correct' : w ? 'wrong-axis' : 'neither', correct, wrongAxis };
}
