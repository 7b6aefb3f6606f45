/**
 * Prometheus text exposition (format 0.0.4) of a load trace: per-layer imbalance, per-rank load,
 * and (opt-in) per-expert load. Used by the live collector's `GET /metrics` and by the dashboard.
 *
 * Label cardinality is bounded: series per layer (L) and per rank (R) by default; the L*E
 * per-expert series only with `perExpert: true`.
 *
 * Metrics (all gauges unless noted; `layer` is the model's layer index from meta.layerIds):
 *   ballast_info{model,session}                 1
 *   ballast_layers / ballast_experts / ballast_top_k
 *   ballast_windows_total                       counter: windows received (merged)
 *   ballast_assignments_total                   counter: token-expert assignments counted
 *   ballast_tokens_total                        counter: tokens, when the windows carry token counts
 *   ballast_layer_imbalance{layer}              max/mean of per-expert load over the scope
 *   ballast_layer_balancedness{layer}           mean/max of per-expert load (0 when the layer saw nothing)
 *   ballast_layer_assignments{layer}            sum of counts in the layer over the scope
 *   ballast_imbalance_max                       max over layers of ballast_layer_imbalance
 *   ballast_balancedness                        sum_l mean_l / sum_l max_l (vLLM convention, over experts)
 *   ballast_rank_assignments_total{rank}        counter: assignments recorded by each capture rank
 *   ballast_ep_rank_load{rank}                  with epRanks=G: sum over layers of load on EP rank r
 *                                               under the linear placement (rank r holds E/G consecutive experts)
 *   ballast_layer_ep_imbalance{layer}           with epRanks=G: max/mean over EP ranks in the layer
 *   ballast_expert_load{layer,expert}           with perExpert: per-expert load over the scope
 *   ballast_last_update_timestamp_seconds       time of the latest window
 *   ballast_agent_dropped_windows_total         counter: windows the agents dropped (queue full / send failed)
 */
import { type LoadTrace, totalCounts } from '../core/load-trace.ts';

export interface PrometheusOptions {
  /** Emit ballast_expert_load{layer,expert} (L*E series). Default false. */
  perExpert?: boolean;
  /**
   * Which counts the per-layer gauges describe: 'total' (sum of every window, default) or
   * 'recent' (sum of the last `recentWindows` windows of `load`).
   */
  scope?: 'total' | 'recent';
  recentWindows?: number;
  /** [L][E] cumulative counts to use instead of summing `load` (the collector keeps only recent windows). */
  totals?: Float64Array;
  /** Windows received in all (default load.numWindows). */
  windowsTotal?: number;
  /** Tokens seen in all, when known. */
  tokensTotal?: number;
  /** Per capture-rank assignment totals (rank -> count). */
  rankTotals?: Map<number, number> | Record<string, number>;
  /** EP size G for ballast_ep_rank_load / ballast_layer_ep_imbalance (needs E % G == 0). */
  epRanks?: number;
  /** Session id for ballast_info. */
  session?: string;
  /** Seconds since epoch of the last update (default: the last window's timeMs). */
  lastUpdateSeconds?: number;
  /** Windows dropped by agents. */
  droppedWindows?: number;
}

/** Escape a label value per the exposition format (backslash, double quote, newline). */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Render a number the way Prometheus parses it (NaN, +Inf, -Inf spelled out). */
export function promNumber(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** Row [n] -> max/mean, mean/max, sum, max, mean. A row with no load gives imbalance 0 and balancedness 0 (no NaN). */
function rowStats(row: Float64Array): { imbalance: number; balancedness: number; sum: number; max: number; mean: number } {
  let sum = 0;
  let max = 0;
  for (let i = 0; i < row.length; i++) {
    sum += row[i];
    if (row[i] > max) max = row[i];
  }
  const mean = row.length > 0 ? sum / row.length : 0;
  if (!(sum > 0)) return { imbalance: 0, balancedness: 0, sum, max, mean };
  return { imbalance: max / mean, balancedness: mean / max, sum, max, mean };
}

/** Sum of the last `n` windows of `load`. Returns [L][E]. */
function recentCounts(load: LoadTrace, n: number): Float64Array {
  const per = load.numLayers * load.numExperts;
  const out = new Float64Array(per);
  const from = Math.max(0, load.numWindows - Math.max(1, n));
  for (let w = from; w < load.numWindows; w++) {
    const base = w * per;
    for (let i = 0; i < per; i++) out[i] += load.counts[base + i];
  }
  return out;
}

class Exposition {
  private lines: string[] = [];
  private labels: string;
  constructor(constLabels: Record<string, string>) {
    this.labels = Object.entries(constLabels)
      .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
      .join(',');
  }
  family(name: string, type: 'gauge' | 'counter', help: string): void {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  }
  sample(name: string, value: number, labels: Record<string, string | number> = {}): void {
    const own = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(String(v))}"`);
    const all = [this.labels, ...own].filter((s) => s !== '').join(',');
    this.lines.push(`${name}${all ? `{${all}}` : ''} ${promNumber(value)}`);
  }
  text(): string {
    return this.lines.join('\n') + '\n';
  }
}

/**
 * Render `load` as Prometheus text exposition.
 * @param load LoadTrace with counts [W][L][E]; the per-layer gauges describe opts.totals ([L][E]) when
 *             given, else the sum over windows (scope 'total') or over the last windows (scope 'recent').
 * @returns the exposition text, ending in a newline.
 */
export function renderTracePrometheus(load: LoadTrace, opts: PrometheusOptions = {}): string {
  const L = load.numLayers;
  const E = load.numExperts;
  const scoped =
    opts.scope === 'recent' ? recentCounts(load, opts.recentWindows ?? 1) : (opts.totals ?? totalCounts(load));
  const all = opts.totals ?? (opts.scope === 'recent' ? totalCounts(load) : scoped);
  const out = new Exposition({});
  const layerIds = load.meta.layerIds;

  out.family('ballast_info', 'gauge', 'Capture session information (always 1).');
  out.sample('ballast_info', 1, { model: load.meta.model ?? '', session: opts.session ?? '' });
  out.family('ballast_layers', 'gauge', 'MoE layers in the trace.');
  out.sample('ballast_layers', L);
  out.family('ballast_experts', 'gauge', 'Logical experts per MoE layer.');
  out.sample('ballast_experts', E);
  if (load.meta.topK !== undefined) {
    out.family('ballast_top_k', 'gauge', 'Experts selected per token per layer.');
    out.sample('ballast_top_k', load.meta.topK);
  }
  out.family('ballast_windows_total', 'counter', 'Load windows received.');
  out.sample('ballast_windows_total', opts.windowsTotal ?? load.numWindows);
  let assignments = 0;
  for (let i = 0; i < all.length; i++) assignments += all[i];
  out.family('ballast_assignments_total', 'counter', 'Token-expert assignments counted, all layers.');
  out.sample('ballast_assignments_total', assignments);
  let tokens = opts.tokensTotal;
  if (tokens === undefined) {
    let t = 0;
    let known = false;
    for (const w of load.windows) if (w.tokens !== undefined) ((t += w.tokens), (known = true));
    if (known) tokens = t;
  }
  if (tokens !== undefined) {
    out.family('ballast_tokens_total', 'counter', 'Tokens processed (as seen by the first MoE layer).');
    out.sample('ballast_tokens_total', tokens);
  }

  const stats = Array.from({ length: L }, (_, l) => rowStats(scoped.subarray(l * E, (l + 1) * E)));
  out.family('ballast_layer_imbalance', 'gauge', 'Per-layer max/mean of per-expert load (0 when the layer saw no tokens).');
  for (let l = 0; l < L; l++) out.sample('ballast_layer_imbalance', stats[l].imbalance, { layer: layerIds[l] });
  out.family('ballast_layer_balancedness', 'gauge', 'Per-layer mean/max of per-expert load (0 when the layer saw no tokens).');
  for (let l = 0; l < L; l++) out.sample('ballast_layer_balancedness', stats[l].balancedness, { layer: layerIds[l] });
  out.family('ballast_layer_assignments', 'gauge', 'Per-layer token-expert assignments in the scope.');
  for (let l = 0; l < L; l++) out.sample('ballast_layer_assignments', stats[l].sum, { layer: layerIds[l] });
  let imbMax = 0;
  let sumMean = 0;
  let sumMax = 0;
  for (const s of stats) {
    if (s.imbalance > imbMax) imbMax = s.imbalance;
    sumMean += s.mean;
    sumMax += s.max;
  }
  out.family('ballast_imbalance_max', 'gauge', 'Largest per-layer max/mean over layers.');
  out.sample('ballast_imbalance_max', imbMax);
  out.family('ballast_balancedness', 'gauge', 'sum over layers of mean load / sum over layers of max load (per expert).');
  out.sample('ballast_balancedness', sumMax > 0 ? sumMean / sumMax : 0);

  if (opts.rankTotals) {
    const entries =
      opts.rankTotals instanceof Map ? [...opts.rankTotals.entries()] : Object.entries(opts.rankTotals).map(([k, v]) => [Number(k), v] as const);
    entries.sort((a, b) => a[0] - b[0]);
    out.family('ballast_rank_assignments_total', 'counter', 'Token-expert assignments recorded by each capture rank.');
    for (const [r, v] of entries) out.sample('ballast_rank_assignments_total', v, { rank: r });
  }

  const G = opts.epRanks;
  if (G !== undefined && G >= 1 && E % G === 0) {
    const per = E / G;
    const rankLoad = new Float64Array(G);
    const layerImb = new Float64Array(L);
    const row = new Float64Array(G);
    for (let l = 0; l < L; l++) {
      row.fill(0);
      for (let e = 0; e < E; e++) row[Math.floor(e / per)] += scoped[l * E + e];
      for (let r = 0; r < G; r++) rankLoad[r] += row[r];
      layerImb[l] = rowStats(row).imbalance;
    }
    out.family('ballast_ep_rank_load', 'gauge', 'Load per EP rank under the linear placement, summed over layers.');
    for (let r = 0; r < G; r++) out.sample('ballast_ep_rank_load', rankLoad[r], { rank: r });
    out.family('ballast_layer_ep_imbalance', 'gauge', 'Per-layer max/mean over EP ranks under the linear placement.');
    for (let l = 0; l < L; l++) out.sample('ballast_layer_ep_imbalance', layerImb[l], { layer: layerIds[l] });
  }

  if (opts.perExpert) {
    out.family('ballast_expert_load', 'gauge', 'Per-expert load in the scope.');
    for (let l = 0; l < L; l++) {
      for (let e = 0; e < E; e++) out.sample('ballast_expert_load', scoped[l * E + e], { layer: layerIds[l], expert: e });
    }
  }

  let last = opts.lastUpdateSeconds;
  if (last === undefined) {
    for (let w = load.numWindows - 1; w >= 0; w--) {
      const t = load.windows[w].timeMs;
      if (t !== undefined) {
        last = t / 1000;
        break;
      }
    }
  }
  if (last !== undefined) {
    out.family('ballast_last_update_timestamp_seconds', 'gauge', 'Time of the latest window, seconds since epoch.');
    out.sample('ballast_last_update_timestamp_seconds', last);
  }
  if (opts.droppedWindows !== undefined) {
    out.family('ballast_agent_dropped_windows_total', 'counter', 'Windows the capture agents dropped (queue full or send failed).');
    out.sample('ballast_agent_dropped_windows_total', opts.droppedWindows);
  }
  return out.text();
}
