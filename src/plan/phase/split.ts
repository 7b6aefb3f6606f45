/**
 * Split a trace by recorded phase (prefill / decode), for planning and scoring each phase apart.
 *
 * Token routes carry a per-token phase (TokenRoutes.phase: 0 prefill, 1 decode) when the capture
 * could tell (the Python agent and the ballast format record it); load windows carry
 * WindowInfo.phase. A trace without either is "unrecorded": `phaseOf` says so and callers refuse a
 * phase they were asked for (one line, exit 2) or plan the trace as one phase, saying so.
 *
 * Shapes: routes [T][L][k] -> per phase [T_phase][L][k] (tokens kept in order; a sequence boundary
 * wherever the original had one, or where the kept tokens were not adjacent).
 */
import { InputError } from '../../core/errors.ts';
import type { LoadTrace } from '../../core/load-trace.ts';
import { allocExpertIds, makeTokenRoutes, type TokenRoutes } from '../../core/token-routes.ts';

export type ServedPhase = 'prefill' | 'decode';

export interface PhaseSplit {
  /** True when the trace records phase per token (routes) or per window (load). */
  recorded: boolean;
  /** How the phase is known, or why not, in words. */
  note: string;
  prefill?: TokenRoutes;
  decode?: TokenRoutes;
  /** Tokens of each phase in the trace. */
  tokens: { prefill: number; decode: number };
  /** Load windows of each phase (when windows record phase). */
  windows: { prefill: number; decode: number };
}

const CODE: Record<ServedPhase, number> = { prefill: 0, decode: 1 };

/** Tokens of `routes` whose phase code is `code`, in order. Returns undefined when there are none. */
export function routesOfPhase(routes: TokenRoutes, code: number): TokenRoutes | undefined {
  const ph = routes.phase;
  if (!ph) return undefined;
  let n = 0;
  for (let t = 0; t < routes.numTokens; t++) if (ph[t] === code) n++;
  if (n === 0) return undefined;
  const per = routes.numLayers * routes.topK;
  const experts = allocExpertIds(routes.numExperts, n * per);
  const weights = routes.weights ? new Float32Array(n * per) : undefined;
  const starts: number[] = [0];
  let o = 0;
  let prev = -2;
  let s = 0;
  for (let t = 0; t < routes.numTokens; t++) {
    while (s + 1 < routes.seqStarts.length && routes.seqStarts[s + 1] <= t) s++;
    if (ph[t] !== code) continue;
    const newSeq = routes.seqStarts[s] === t || prev !== t - 1;
    if (newSeq && o > 0) starts.push(o);
    experts.set(routes.experts.subarray(t * per, (t + 1) * per), o * per);
    if (weights) weights.set(routes.weights!.subarray(t * per, (t + 1) * per), o * per);
    prev = t;
    o++;
  }
  starts.push(n);
  return makeTokenRoutes({
    meta: { ...routes.meta, phase: code === 0 ? 'prefill' : 'decode' },
    numLayers: routes.numLayers,
    numExperts: routes.numExperts,
    topK: routes.topK,
    experts,
    weights,
    seqStarts: Uint32Array.from(new Set(starts)),
    phase: new Uint8Array(n).fill(code),
  });
}

/** Split a trace by its recorded phases (see the file comment). */
export function splitByPhase(load: LoadTrace, routes?: TokenRoutes): PhaseSplit {
  const windows = { prefill: 0, decode: 0 };
  for (const w of load.windows) {
    if (w.phase === 'prefill') windows.prefill++;
    else if (w.phase === 'decode') windows.decode++;
  }
  if (routes?.phase) {
    let p = 0;
    for (let t = 0; t < routes.numTokens; t++) if (routes.phase[t] === 0) p++;
    return {
      recorded: true,
      note: `phase recorded per token: ${p} prefill, ${routes.numTokens - p} decode tokens`,
      prefill: routesOfPhase(routes, 0),
      decode: routesOfPhase(routes, 1),
      tokens: { prefill: p, decode: routes.numTokens - p },
      windows,
    };
  }
  const uniform = routes?.meta.phase ?? load.meta.phase;
  if (routes && (uniform === 'prefill' || uniform === 'decode')) {
    return {
      recorded: true,
      note: `the whole trace is ${uniform} (trace metadata)`,
      [uniform]: routes,
      tokens: { prefill: uniform === 'prefill' ? routes.numTokens : 0, decode: uniform === 'decode' ? routes.numTokens : 0 },
      windows,
    };
  }
  return {
    recorded: windows.prefill + windows.decode > 0,
    note:
      windows.prefill + windows.decode > 0
        ? `phase recorded per load window only (${windows.prefill} prefill, ${windows.decode} decode windows), no token routes per phase`
        : 'the trace does not record prefill/decode phase',
    tokens: { prefill: 0, decode: 0 },
    windows,
  };
}

/**
 * The routes to plan phase `phase` on. Throws InputError naming `file` when the trace does not
 * record that phase (or records none).
 */
export function routesForPhase(split: PhaseSplit, phase: ServedPhase, file: string): TokenRoutes {
  const r = split[phase];
  if (r) return r;
  if (!split.recorded) {
    throw new InputError(file, '', `--phase ${phase}: the trace does not record prefill/decode phase; plan without --phase, or capture with the ballast agent, which records it`);
  }
  throw new InputError(file, '', `--phase ${phase}: the trace records no ${phase} tokens with routes (${split.note})`);
}

/**
 * Decode steps per prefill step measured from the recorded phases: the number of steps of each
 * phase needed to serve the recorded tokens at the given step sizes,
 * (decodeTokens / decodeStep) / (prefillTokens / prefillStep); from windows when they are the steps.
 * Returns undefined when either phase is missing.
 */
export function measuredDecodePerPrefill(split: PhaseSplit, prefillTokens: number, decodeTokens: number): number | undefined {
  if (split.tokens.prefill > 0 && split.tokens.decode > 0) {
    return split.tokens.decode / decodeTokens / (split.tokens.prefill / prefillTokens);
  }
  if (split.windows.prefill > 0 && split.windows.decode > 0) return split.windows.decode / split.windows.prefill;
  return undefined;
}

export { CODE as PHASE_CODE };
