/**
 * vllm-routed reader: the `routed_experts` arrays vLLM returns per request with
 * `--enable-return-routed-experts` (shape [tokens-1][L][k] int ids; the last generated token was never
 * fed through the model, so it has no routing), saved as JSON.
 *
 * Accepted: a single response object, a JSON list of responses, or JSONL (one response per line).
 * In each response the arrays are found at `routed_experts` (top level), `outputs[i].routed_experts`
 * (an offline RequestOutput), `choices[i].routed_experts` and `prompt_routed_experts` (OpenAI-style
 * responses that split prompt and completion). Each request becomes one sequence: with
 * `prompt_routed_experts` and one choice, prompt then completion (phases prefill then decode); with
 * several choices, the prompt and each choice are separate sequences. A bare [T][L][k] array (forced
 * --format) is one sequence.
 *
 * vLLM keeps a slot for every decoder layer; dense layers (e.g. DeepSeek's first ones) come back as
 * all-zero rows. With k > 1 a real MoE layer can never route a token to expert 0 k times, so layers
 * that are zero for every token are dropped (layerIds keep the model-level indices). The expert count
 * is `num_experts` when the file gives one, else the largest id + 1 (with a warning).
 */
import { readFileSync, statSync } from 'node:fs';
import { InputError } from '../../../core/errors.ts';
import { allocExpertIds, makeTokenRoutes } from '../../../core/token-routes.ts';
import type { Probe, RawRead, ReadOptions, TraceReader } from '../../reader.ts';

interface Seq {
  where: string;
  file: string;
  rows: unknown[];
  /** 0 prefill, 1 decode, undefined unknown. */
  phase?: number;
}

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);
const is3d = (x: unknown): x is unknown[] => Array.isArray(x) && (x.length === 0 || (Array.isArray(x[0]) && (x[0].length === 0 || Array.isArray(x[0][0]))));

/** Join a where-prefix ('key ', 'key [0]', 'line 3 key ') and a key name. */
function sub(where: string, name: string): string {
  return where.endsWith(' ') ? `${where}${name}` : `${where}.${name}`;
}

function seqsOfResponse(o: unknown, where: string, file: string, out: Seq[]): number | undefined {
  if (is3d(o)) {
    out.push({ where: where.trim(), file, rows: o });
    return undefined;
  }
  if (!isObj(o)) throw new InputError(file, where.trim(), 'expected a response object with routed_experts');
  let n = 0;
  const numExperts = Number.isInteger(o.num_experts) ? (o.num_experts as number) : undefined;
  if (o.routed_experts != null) {
    if (!is3d(o.routed_experts)) throw new InputError(file, sub(where, `routed_experts`), 'expected a [tokens][layers][k] array');
    out.push({ where: sub(where, `routed_experts`), file, rows: o.routed_experts });
    n++;
  }
  if (Array.isArray(o.outputs)) {
    o.outputs.forEach((c, i) => {
      if (isObj(c) && c.routed_experts != null) {
        if (!is3d(c.routed_experts)) throw new InputError(file, sub(where, `outputs[${i}].routed_experts`), 'expected a [tokens][layers][k] array');
        out.push({ where: sub(where, `outputs[${i}].routed_experts`), file, rows: c.routed_experts });
        n++;
      }
    });
  }
  const prompt = o.prompt_routed_experts;
  if (prompt != null && !is3d(prompt)) throw new InputError(file, sub(where, `prompt_routed_experts`), 'expected a [tokens][layers][k] array');
  const choices = Array.isArray(o.choices) ? o.choices.map((c, i) => [c, i] as const).filter(([c]) => isObj(c) && c.routed_experts != null) : [];
  for (const [c, i] of choices) {
    if (!is3d((c as Obj).routed_experts)) throw new InputError(file, sub(where, `choices[${i}].routed_experts`), 'expected a [tokens][layers][k] array');
  }
  if (prompt != null && choices.length === 1) {
    out.push({ where: sub(where, `prompt_routed_experts`), file, rows: prompt as unknown[], phase: 0 });
    out.push({ where: sub(where, `choices[${choices[0][1]}].routed_experts`), file, rows: (choices[0][0] as Obj).routed_experts as unknown[], phase: 1 });
    // Marked so the two are joined into one sequence.
    (out[out.length - 1] as Seq & { joinPrev?: boolean }).joinPrev = true;
    n += 2;
  } else {
    if (prompt != null) {
      out.push({ where: sub(where, `prompt_routed_experts`), file, rows: prompt as unknown[], phase: 0 });
      n++;
    }
    for (const [c, i] of choices) {
      out.push({ where: sub(where, `choices[${i}].routed_experts`), file, rows: (c as Obj).routed_experts as unknown[], phase: prompt != null ? 1 : undefined });
      n++;
    }
  }
  if (n === 0) throw new InputError(file, where.trim(), 'no routed_experts in this response (was the server started with --enable-return-routed-experts?)');
  return numExperts;
}

export function readVllmRouted(path: string, opts: ReadOptions = {}): RawRead {
  const warn = opts.warn ?? ((s: string) => process.stderr.write(`warning: ${s}\n`));
  const size = statSync(path).size;
  if (opts.maxBytes !== undefined && size > opts.maxBytes) throw new InputError(path, '', `file is ${size} bytes, over the ${opts.maxBytes}-byte limit`);
  const text = readFileSync(path, 'utf8');
  const seqs: Seq[] = [];
  let numExperts: number | undefined;
  let parsed: unknown;
  let whole = true;
  try {
    parsed = JSON.parse(text);
  } catch {
    whole = false;
  }
  const note = (e: number | undefined) => {
    if (e !== undefined) numExperts = Math.max(numExperts ?? 0, e);
  };
  if (whole) {
    if (Array.isArray(parsed) && !is3d(parsed)) parsed.forEach((o, i) => note(seqsOfResponse(o, `key [${i}]`, path, seqs)));
    else note(seqsOfResponse(parsed, 'key ', path, seqs));
  } else {
    const lines = text.split('\n');
    lines.forEach((ln, i) => {
      if (ln.trim() === '') return;
      let o: unknown;
      try {
        o = JSON.parse(ln);
      } catch {
        throw new InputError(path, `line ${i + 1}`, 'not valid JSON (expected one vLLM response per line)');
      }
      note(seqsOfResponse(o, `line ${i + 1} key `, path, seqs));
    });
  }
  if (seqs.length === 0) throw new InputError(path, '', 'no routed_experts arrays found');
  // Shapes.
  let L = -1;
  let K = -1;
  let T = 0;
  let maxId = -1;
  for (const s of seqs) {
    s.rows.forEach((tok, t) => {
      if (!Array.isArray(tok)) throw new InputError(path, `${s.where}[${t}]`, 'expected a [layers][k] array');
      if (L < 0) L = tok.length;
      if (tok.length !== L) throw new InputError(path, `${s.where}[${t}]`, `expected ${L} layers, got ${tok.length}`);
      tok.forEach((row, l) => {
        if (!Array.isArray(row)) throw new InputError(path, `${s.where}[${t}][${l}]`, 'expected an array of k expert ids');
        if (K < 0) K = row.length;
        if (row.length !== K) throw new InputError(path, `${s.where}[${t}][${l}]`, `expected top-${K} ids, got ${row.length}`);
        row.forEach((v, j) => {
          if (!Number.isInteger(v) || v < 0 || v > 65535) throw new InputError(path, `${s.where}[${t}][${l}][${j}]`, `expected an expert id in [0, 65536), got ${JSON.stringify(v)}`);
          if (v > maxId) maxId = v;
        });
      });
    });
    T += s.rows.length;
  }
  if (T === 0 || L <= 0 || K <= 0) throw new InputError(path, '', 'routed_experts arrays are empty');
  // Dense layers: zero for every token (only decidable when k > 1).
  const layerLive = new Uint8Array(L);
  if (K > 1) {
    for (const s of seqs) for (const tok of s.rows as number[][][]) tok.forEach((row, l) => {
      if (row.some((v) => v !== 0)) layerLive[l] = 1;
    });
  } else layerLive.fill(1);
  if (!layerLive.some((x) => x)) layerLive.fill(1);
  const keep = [...layerLive.keys()].filter((l) => layerLive[l]);
  const warnings: string[] = [];
  if (keep.length < L) {
    const m = `${L - keep.length} of ${L} layers are zero for every token (dense layers) and were left out`;
    warnings.push(m);
    warn(m);
  }
  let E = maxId + 1;
  if (numExperts !== undefined) {
    if (numExperts < E) throw new InputError(path, 'key num_experts', `num_experts ${numExperts} but ids reach ${maxId}`);
    E = numExperts;
  } else {
    const m = `the expert count is not in the file; using the largest id + 1 = ${E} (add "num_experts" if the highest experts were never chosen)`;
    warnings.push(m);
    warn(m);
  }
  const Lk = keep.length;
  const experts = allocExpertIds(E, T * Lk * K);
  const starts: number[] = [0];
  const phase = new Uint8Array(T);
  let phaseKnown = true;
  let t0 = 0;
  for (const s of seqs) {
    const rows = s.rows as number[][][];
    rows.forEach((tok, t) => keep.forEach((l, li) => {
      for (let j = 0; j < K; j++) experts[((t0 + t) * Lk + li) * K + j] = tok[l][j];
    }));
    if (s.phase === undefined) phaseKnown = false;
    else phase.fill(s.phase, t0, t0 + rows.length);
    t0 += rows.length;
    const joinPrev = (s as Seq & { joinPrev?: boolean }).joinPrev;
    if (joinPrev) starts[starts.length - 1] = t0;
    else if (t0 > starts[starts.length - 1]) starts.push(t0);
  }
  const routes = makeTokenRoutes({
    meta: { layerIds: keep, topK: K, sources: [{ path, format: 'vllm-routed' }], extra: { droppedDenseLayers: L - Lk } },
    numLayers: Lk,
    numExperts: E,
    topK: K,
    experts,
    seqStarts: Uint32Array.from(starts),
    phase: phaseKnown ? phase : undefined,
  });
  return { routes, warnings };
}

export function detectVllmRouted(p: Probe): number {
  if (p.isDirectory || p.head.length === 0) return 0;
  let i = p.head[0] === 0xef ? 3 : 0;
  while (i < p.head.length && (p.head[i] === 0x20 || p.head[i] === 0x0a || p.head[i] === 0x0d || p.head[i] === 0x09)) i++;
  const c = p.head[i];
  if (c !== 0x7b && c !== 0x5b) return 0; // '{' or '['
  const s = Buffer.from(p.head.buffer, p.head.byteOffset, p.head.byteLength);
  return s.includes('"routed_experts"') || s.includes('"prompt_routed_experts"') ? 0.9 : 0;
}

export const reader: TraceReader = {
  name: 'vllm-routed',
  description: 'vLLM routed_experts arrays (--enable-return-routed-experts responses as JSON / JSONL), one sequence per request',
  detect: detectVllmRouted,
  read: (path, opts) => readVllmRouted(path, opts),
};
