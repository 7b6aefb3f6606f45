/**
 * Human labels (with units) for the keys the report shows from plan statistics and simulation JSON,
 * so the page reads "lower bound of max/mean (×)" rather than `stats.lowerBound`.
 *
 * label(key, table) -> { label, scale, unit }: a known key's label, else the key in words with the
 * unit its suffix names (…Us -> µs, …Pct -> %, …Bytes -> GB).
 */

export interface Label {
  label: string;
  /** Multiply the raw value by this before showing it (e.g. bytes -> GB). */
  scale?: number;
  /** Shown after the label, in brackets. */
  unit?: string;
  /** Leave the row out (shown elsewhere already). */
  hide?: boolean;
}

export const PLAN_STAT_LABELS: Record<string, Label> = {
  maxOverMean: { label: 'mean max/mean rank load', hide: true },
  worstMaxOverMean: { label: 'worst layer max/mean', hide: true },
  expertsMoved: { label: 'experts moved', hide: true },
  lowerBound: { label: 'lower bound of max/mean', unit: '×' },
  gapToBound: { label: 'gap to the lower bound', scale: 100, unit: '%' },
  extraSlotsPerRank: { label: 'extra slots per GPU, all layers' },
  worstLayerId: { label: 'worst layer (model layer id)' },
  worstLayer: { label: 'worst layer (index)' },
  extraHbmBytes: { label: 'extra HBM per GPU', scale: 1e-9, unit: 'GB' },
  movedBytes: { label: 'weights moved', scale: 1e-9, unit: 'GB' },
  distinctRanksPerToken: { label: 'distinct GPUs per token' },
  distinctNodesPerToken: { label: 'distinct nodes per token' },
  speedAdjustedMaxOverMean: { label: 'slowest GPU time / speed-proportional split', unit: '×' },
};

export const SIMULATION_LABELS: Record<string, Label> = {
  trace: { label: 'trace file' },
  model: { label: 'model' },
  modelNote: { label: 'how the model was chosen' },
  cluster: { label: 'cluster' },
  ranks: { label: 'EP ranks (GPUs)' },
  redundant: { label: 'redundant slots per layer' },
  batchTokens: { label: 'tokens per batch' },
  'shape.layers': { label: 'MoE layers' },
  'shape.experts': { label: 'experts per layer' },
  'shape.topK': { label: 'top-k' },
  'split.kind': { label: 'split' },
  'split.planned': { label: 'planned on' },
  'split.scored': { label: 'scored on' },
  'split.batches': { label: 'batches scored' },
};

export const POLICY_LABELS: Record<string, Label> = {
  batches: { label: 'batches scored' },
  'perBatchMaxOverMean.mean': { label: 'per-batch max/mean rank load, mean', unit: '×' },
  'perBatchMaxOverMean.p50': { label: 'per-batch max/mean rank load, median', unit: '×' },
  'perBatchMaxOverMean.p99': { label: 'per-batch max/mean rank load, 99th percentile', unit: '×' },
  'activatedExpertsPerRank.mean': { label: 'active experts on a GPU per layer, mean' },
  'activatedExpertsPerRank.max': { label: 'active experts on a GPU per layer, max' },
  distinctRanksPerToken: { label: 'distinct GPUs per token' },
  distinctNodesPerToken: { label: 'distinct nodes per token' },
  predictedLayerTimeUs: { label: 'predicted time per MoE layer', unit: 'µs' },
  predictedBatchTimeUs: { label: 'predicted MoE time per batch', unit: 'µs' },
  predictedMoeTimeUs: { label: 'predicted MoE time, all scored batches', unit: 'µs' },
  'phaseUs.dispatch': { label: 'dispatch per batch', unit: 'µs' },
  'phaseUs.compute': { label: 'expert compute per batch', unit: 'µs' },
  'phaseUs.combine': { label: 'combine per batch', unit: 'µs' },
  'phaseUs.move': { label: 'moving expert weights per batch', unit: 'µs' },
  throughputVsLinear: { label: 'throughput vs linear', unit: '×' },
  expertsMoved: { label: 'experts (or replicas) moved' },
  replans: { label: 're-plans' },
  redundant: { label: 'redundant slots per layer' },
  maxOverMeanGap: { label: 'max/mean above the oracle' },
  timeGapPct: { label: 'predicted time above the oracle', unit: '%' },
  policy: { label: 'policy' },
};

/** "perBatchMaxOverMean.p99" -> "per batch max over mean p99" with the unit its suffix names. */
export function labelFor(key: string, table: Record<string, Label>): Label {
  const known = table[key];
  if (known) return known;
  let unit: string | undefined;
  let scale: number | undefined;
  let k = key;
  if (/Us$/.test(k)) {
    unit = 'µs';
    k = k.slice(0, -2);
  } else if (/Ms$/.test(k)) {
    unit = 'ms';
    k = k.slice(0, -2);
  } else if (/Pct$/.test(k)) {
    unit = '%';
    k = k.slice(0, -3);
  } else if (/Bytes$/.test(k)) {
    unit = 'GB';
    scale = 1e-9;
    k = k.slice(0, -5);
  }
  const words = k
    .replace(/\[(\d+)\]/g, ' $1')
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/[._]/g, ' ')
    .toLowerCase()
    .replace(/\bmax over mean\b/g, 'max/mean')
    .replace(/\s+/g, ' ')
    .trim();
  return { label: words, unit, scale };
}

/** "label (unit)". */
export function labelText(l: Label): string {
  return l.unit ? `${l.label} (${l.unit})` : l.label;
}
