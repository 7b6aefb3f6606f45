/**
 * The bundled real routing data (data/README.md), loaded for the solver tests and benchmarks:
 *   - ESFT (DeepSeek-V2-Lite arch, 26 MoE layers x 64 experts, top-6): per-layer histograms from
 *     load_counts.json, and token routes parsed from the raw per-layer files in raw/<task>.tgz;
 *   - OLMoE / Mixtral per-expert counts on several domains (3 layers each).
 * Attribution stays in data/<set>/SOURCE.txt.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'fflate';
import { mulberry32 } from '../../core/random.ts';
import { allocExpertIds, makeTokenRoutes, type TokenRoutes } from '../../core/token-routes.ts';

const DATA = fileURLToPath(new URL('../../../data/', import.meta.url));
export const ESFT_TASKS = ['intent', 'law', 'summary'] as const;
export type EsftTask = (typeof ESFT_TASKS)[number];

export interface CountsSet {
  name: string;
  numLayers: number;
  numExperts: number;
  /** [L][E] */
  load: Float64Array;
}

/** ESFT per-layer histograms. Shapes: -> load [26][64]. */
export function esftCounts(task: EsftTask): CountsSet {
  const j = JSON.parse(readFileSync(`${DATA}esft-dsv2lite/load_counts.json`, 'utf8')) as {
    num_experts: number;
    tasks: Record<string, { counts: number[][] }>;
  };
  const rows = j.tasks[task].counts;
  return { name: `esft-${task}`, numLayers: rows.length, numExperts: j.num_experts, load: Float64Array.from(rows.flat()) };
}

/** OLMoE and Mixtral per-domain counts (3 layers each; top-k counts, not top-1). */
export function olmoeCounts(): CountsSet[] {
  const j = JSON.parse(readFileSync(`${DATA}olmoe-routing-analysis/olmoe_mixtral_expert_counts.json`, 'utf8')) as {
    models: Record<string, { num_experts: number; domains: Record<string, { expert_counts: number[][] }> }>;
  };
  const out: CountsSet[] = [];
  for (const [model, m] of Object.entries(j.models)) {
    for (const [domain, d] of Object.entries(m.domains)) {
      const rows = d.expert_counts;
      out.push({ name: `${model}-${domain}`, numLayers: rows.length, numExperts: m.num_experts, load: Float64Array.from(rows.flat()) });
    }
  }
  return out;
}

/** Minimal tar reader: file name -> bytes (regular files only). */
function untar(buf: Uint8Array): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const dec = new TextDecoder();
  let off = 0;
  while (off + 512 <= buf.length) {
    const h = buf.subarray(off, off + 512);
    if (h[0] === 0) break;
    const name = dec.decode(h.subarray(0, 100)).replace(/\0.*$/s, '');
    const prefix = dec.decode(h.subarray(345, 500)).replace(/\0.*$/s, '');
    const size = Number.parseInt(dec.decode(h.subarray(124, 136)).replace(/\0.*$/s, '').trim() || '0', 8);
    const type = h[156];
    off += 512;
    if (type === 0 || type === 48) files.set(prefix ? `${prefix}/${name}` : name, buf.subarray(off, off + size));
    off += Math.ceil(size / 512) * 512;
  }
  return files;
}

/**
 * ESFT token routes from raw/<task>.tgz: 26 files expert_weights_<1..26>.txt, one line per sequence,
 * "<ids tab-separated>\t\t<weights>", 6 ids per token. Shapes: -> TokenRoutes [T][26][6].
 */
export function esftRoutes(task: EsftTask): TokenRoutes {
  const files = untar(gunzipSync(readFileSync(`${DATA}esft-dsv2lite/raw/${task}.tgz`)));
  const L = 26;
  const k = 6;
  const E = 64;
  const dec = new TextDecoder();
  const perLayer: number[][][] = []; // [L][seq][ids]
  for (let l = 1; l <= L; l++) {
    let bytes: Uint8Array | undefined;
    for (const [name, b] of files) if (name.endsWith(`/expert_weights_${l}.txt`) || name === `expert_weights_${l}.txt`) bytes = b;
    if (!bytes) throw new Error(`esft ${task}: expert_weights_${l}.txt missing`);
    const lines = dec.decode(bytes).split('\n').filter((s) => s.length > 0);
    perLayer.push(lines.map((line) => line.split('\t\t')[0].split('\t').map(Number)));
  }
  const seqLens = perLayer[0].map((ids) => ids.length / k);
  const T = seqLens.reduce((a, b) => a + b, 0);
  const experts = allocExpertIds(E, T * L * k);
  const seqStarts = new Uint32Array(seqLens.length + 1);
  let t0 = 0;
  for (let s = 0; s < seqLens.length; s++) {
    seqStarts[s] = t0;
    for (let l = 0; l < L; l++) {
      const ids = perLayer[l][s];
      if (ids.length !== seqLens[s] * k) throw new Error(`esft ${task}: layer ${l + 1} sequence ${s} length mismatch`);
      for (let i = 0; i < seqLens[s]; i++) for (let j = 0; j < k; j++) experts[((t0 + i) * L + l) * k + j] = ids[i * k + j];
    }
    t0 += seqLens[s];
  }
  seqStarts[seqLens.length] = T;
  return makeTokenRoutes({
    meta: { layerIds: Array.from({ length: L }, (_, i) => i + 1), topK: k, sources: [{ path: `data/esft-dsv2lite/raw/${task}.tgz`, format: 'esft' }] },
    numLayers: L,
    numExperts: E,
    topK: k,
    experts,
    seqStarts,
  });
}

/** Deterministic lognormal loads (sigma = log-std), [L][E], from a 32-bit seed (mulberry32 + Box-Muller). */
export function lognormalLoad(L: number, E: number, sigma: number, seed: number, scale = 1000): Float64Array {
  const rand = mulberry32(seed);
  const out = new Float64Array(L * E);
  for (let i = 0; i < out.length; i++) {
    const u = Math.max(rand(), 1e-12);
    const v = rand();
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    out[i] = Math.round(scale * Math.exp(sigma * z));
  }
  return out;
}
