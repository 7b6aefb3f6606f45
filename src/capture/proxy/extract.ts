/**
 * Find, decode and strip the routed-experts fields of one engine response (parsed JSON). Pure.
 *
 * vLLM (--enable-return-routed-experts; vllm-project/vllm@006c49d485f9ca479bf4989cbb694d0ac02f44b5
 * vllm/entrypoints/openai/chat_completion/protocol.py and serving.py, completion/protocol.py):
 *   `choices[i].routed_experts` on /v1/chat/completions and /v1/completions responses; in releases
 *   around v0.21-0.23 also `prompt_routed_experts` on the response (prompt rows), the choice then
 *   holding the completion rows. Stripping sets the fields to null, which is what a server without
 *   the flag returns.
 * SGLang (--enable-return-routed-experts plus `"return_routed_experts": true` per request on
 *   /generate): `meta_info.routed_experts`, raw int32 (tokens - 1) x layers x top_k; stripping deletes
 *   the key unless the client asked for it itself.
 * A request's rows become one sequence: prompt tokens (phase 0 = prefill) then generated tokens
 * (phase 1 = decode), when the row count shows where the prompt ends; else the phase is unknown.
 */
import { decodeRouted, type RoutedArray } from './decode-routed.ts';
import { unmark } from './splice.ts';

export type Engine = 'vllm' | 'sglang';

export interface RoutedSeq {
  arr: RoutedArray;
  /** Per token 0 prefill / 1 decode; undefined when unknown. */
  phase?: Uint8Array;
}

export interface Extracted {
  seqs: RoutedSeq[];
  /** Fields that held routing but could not be decoded (where: why). */
  problems: string[];
  /** Routed-experts fields present and non-null. */
  found: number;
  /** Engine version from the response, when it says (vLLM system_fingerprint "vllm-<ver>-<hash>"). */
  version?: string;
}

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);
const num = (x: unknown): number | undefined => (typeof x === 'number' && Number.isInteger(x) && x >= 0 ? x : undefined);

function phases(T: number, prompt: number | undefined): Uint8Array | undefined {
  if (prompt === undefined || prompt > T) return undefined;
  const p = new Uint8Array(T);
  p.fill(1, prompt);
  return p;
}

function concat(a: RoutedArray, b: RoutedArray): RoutedArray | string {
  if (a.T === 0) return b;
  if (b.T === 0) return a;
  if (a.L !== b.L || a.K !== b.K) return `prompt rows are ${a.L} layers x top-${a.K}, completion rows ${b.L} x top-${b.K}`;
  const ids = new Uint16Array(a.ids.length + b.ids.length);
  ids.set(a.ids);
  ids.set(b.ids, a.ids.length);
  return { T: a.T + b.T, L: a.L, K: a.K, ids };
}

function vllm(body: Obj, out: Extracted, strip: boolean, values: readonly string[]): void {
  const fp = body.system_fingerprint;
  if (typeof fp === 'string') {
    const m = /^vllm-(.+?)(?:-[0-9a-f]{6,})?$/.exec(fp);
    if (m) out.version = m[1];
  }
  const usage = isObj(body.usage) ? body.usage : {};
  const promptTokens = num(usage.prompt_tokens);
  const completionTokens = num(usage.completion_tokens);
  let prompt: RoutedArray | null = null;
  if ('prompt_routed_experts' in body) {
    const p = decodeRouted(unmark(body.prompt_routed_experts, values));
    if (typeof p === 'string') out.problems.push(`prompt_routed_experts: ${p}`);
    else if (p) {
      prompt = p;
      out.found++;
    }
    if (strip) body.prompt_routed_experts = null;
  }
  const choices = Array.isArray(body.choices) ? body.choices : [];
  const withRoutes = choices.filter((c) => isObj(c) && c.routed_experts != null).length;
  let promptUsed = false;
  choices.forEach((c, i) => {
    if (!isObj(c) || !('routed_experts' in c)) return;
    const r = decodeRouted(unmark(c.routed_experts, values));
    if (strip) c.routed_experts = null;
    if (typeof r === 'string') {
      out.problems.push(`choices[${i}].routed_experts: ${r}`);
      return;
    }
    if (!r) return;
    out.found++;
    if (prompt && !promptUsed) {
      const joined = concat(prompt, r);
      if (typeof joined === 'string') {
        out.problems.push(`choices[${i}].routed_experts: ${joined}`);
        return;
      }
      promptUsed = true;
      out.seqs.push({ arr: joined, phase: phases(joined.T, prompt.T) });
    } else if (prompt) {
      out.seqs.push({ arr: r, phase: new Uint8Array(r.T).fill(1) });
    } else {
      // One array per choice covering prompt and completion (all tokens but the last).
      const whole = withRoutes === 1 && promptTokens !== undefined && completionTokens !== undefined && r.T === promptTokens + completionTokens - 1;
      out.seqs.push({ arr: r, phase: whole ? phases(r.T, promptTokens) : undefined });
    }
  });
  if (prompt && !promptUsed) out.seqs.push({ arr: prompt, phase: new Uint8Array(prompt.T) });
}

function sglang(items: unknown[], out: Extracted, strip: boolean, values: readonly string[], shape?: { layers: number; topK: number }): void {
  items.forEach((it, i) => {
    if (!isObj(it) || !isObj(it.meta_info) || !('routed_experts' in it.meta_info)) return;
    const mi = it.meta_info;
    const r = decodeRouted(unmark(mi.routed_experts, values), shape);
    if (strip) delete mi.routed_experts;
    if (typeof r === 'string') {
      out.problems.push(`[${i}].meta_info.routed_experts: ${r}`);
      return;
    }
    if (!r) return;
    out.found++;
    const p = num(mi.prompt_tokens);
    const c = num(mi.completion_tokens);
    const whole = p !== undefined && c !== undefined && r.T === p + c - 1;
    out.seqs.push({ arr: r, phase: whole ? phases(r.T, p) : undefined });
  });
}

/**
 * Decode every routed-experts field in `body` (mutated: fields stripped when `strip`).
 * `shape` gives L and top-k for SGLang's raw int32 encoding.
 */
export function extractRouted(
  body: unknown,
  engine: Engine,
  opts: { strip: boolean; shape?: { layers: number; topK: number }; /** raw values cut out by spliceRouted */ values?: readonly string[] },
): Extracted {
  const out: Extracted = { seqs: [], problems: [], found: 0 };
  const values = opts.values ?? [];
  if (engine === 'vllm') {
    if (isObj(body)) vllm(body, out, opts.strip, values);
  } else {
    sglang(Array.isArray(body) ? body : [body], out, opts.strip, values, opts.shape);
  }
  return out;
}
