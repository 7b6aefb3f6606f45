/**
 * The report's data model: one plain JSON object that every view (HTML report, dashboard, diff,
 * `report --json`) is drawn from. Builders in build.ts fill it from whatever the project provides
 * (traces, plans, simulations, solvers, the gate); each part is optional, so a view shows what exists.
 */

import type { PhaseColumn } from './phases.ts';

export const REPORT_FORMAT = 'ballast-report';

export interface ReportModel {
  format: typeof REPORT_FORMAT;
  version: 1;
  title: string;
  createdMs: number;
  traces: TraceView[];
  /** Plans given without a trace of matching shape (summary only). */
  plans: PlanSummary[];
  simulations: SimulationView[];
  /** Plans made per serving phase (plan --phase), side by side (phases.ts); absent when none. */
  phases?: PhaseColumn[];
  /** Lines for the reader: what was computed and what could not be (e.g. no solver in this build). */
  notes: string[];
}

export interface TraceMetaView {
  label: string;
  path: string;
  format: string;
  model?: string;
  numLayers: number;
  numExperts: number;
  numWindows: number;
  layerIds: number[];
  topK?: number;
  phase?: string;
  attribution?: string;
  sources: { path: string; format: string }[];
  /** Capture point, engine and version, for traces written by the capture agent ("vllm-capture-fn (vllm 0.11.0)"). */
  capture?: string;
  /** Sum of all counts (token-expert assignments). */
  totalAssignments: number;
  /** Tokens, when every window says how many it had. */
  tokens?: number;
  hasRoutes: boolean;
  warnings: string[];
}

/** Load of each (layer, expert) divided by the layer's mean expert load (1 = even). */
export interface HeatmapView {
  rows: number;
  cols: number;
  rowLabels: number[];
  /** Row-major [rows][cols], 4 significant digits. */
  values: number[];
  /** Per-row total assignments, so a cell's count = value * rowTotal / cols. */
  rowTotals: number[];
}

export interface PlacementView {
  label: string;
  solver?: string;
  numRanks: number;
  ranksPerNode: number;
  /** Slots per layer minus experts (max over layers). */
  redundantSlots: number;
  /** [G] assignments per rank, summed over layers. */
  rankLoad: number[];
  /** [L] max rank load / mean rank load per layer. */
  layerMaxOverMean: number[];
  /** Mean over layers of layerMaxOverMean. */
  meanMaxOverMean: number;
  /** vLLM convention: sum_l mean_l / sum_l max_l. */
  balancednessVllm: number;
  /** SGLang convention: mean_l (mean_l + 1e-5) / (max_l + 1e-5). */
  balancednessSglang: number;
  /** Replicas placed on a rank that did not hold that expert in the current placement. */
  expertsMoved?: number;
  /** Solver's own statistics, when the plan carries them. */
  stats?: Record<string, unknown>;
  params?: Record<string, unknown>;
}

export interface GateView {
  /** 'apply' | 'keep current' (older saved reports: the gate's own word). */
  verdict: string;
  /** The verdict and what it was judged on (held out, or in-sample and so optimistic). */
  headline?: string;
  /** True when the scored traffic was not used to make the judged plan. */
  heldOut?: boolean;
  /** Predicted MoE time per step (all MoE layers, µs) now and with the plan, and the gain (%). */
  time?: { currentUs: number; proposedUs: number; gainPct: number };
  /** Per-batch max/mean rank load on the scored batches (token balance), now and with the plan. */
  balance?: { current: number; proposed: number };
  reasons?: string[];
  warnings?: string[];
  /** How the model, cluster and placement in force were chosen. */
  notes?: string[];
  /** reasons and warnings in one line (older saved reports have only this). */
  reason?: string;
  /** Any numbers the gate reports (predicted gain, payback, ...). */
  figures: Record<string, number | string>;
}

export interface SeriesView {
  title: string;
  xName: string;
  xLabel: string;
  yLabel: string;
  unit: string;
  x: number[];
  series: { label: string; values: number[] }[];
  note?: string;
}

export interface TraceView {
  meta: TraceMetaView;
  heatmap: HeatmapView;
  /** [L] hottest expert / mean expert per layer (placement-free). */
  expertMaxOverMean: number[];
  placements?: {
    current: PlacementView;
    recommended?: PlacementView;
    /** 1 - recommended / current mean max/mean (fraction of the straggler excess removed). */
    stragglerReduction?: number;
    gate?: GateView;
  };
  /** Per-window (or per-batch from replay) series. */
  timeSeries: SeriesView[];
}

export interface PlanSummary {
  label: string;
  path: string;
  solver?: string;
  model?: string;
  numLayers: number;
  numExperts: number;
  numRanks: number;
  ranksPerNode: number;
  slotsPerLayer: number[];
  stats?: Record<string, unknown>;
  params?: Record<string, unknown>;
}

export interface SimulationView {
  label: string;
  path: string;
  /** Scalar fields, flattened with dotted keys. */
  scalars: [string, number | string | boolean][];
  series: SeriesView[];
  /** One row per replayed policy (`ballast simulate --json` policies), numeric fields flattened. */
  policies?: { name: string; values: Record<string, number> }[];
  /** Top-level lists of records (e.g. `oracleGap`), one row per record. */
  tables?: { key: string; columns: string[]; rows: (number | string | boolean | null)[][] }[];
  /** Top-level lists of strings (e.g. `notes`). */
  notes?: string[];
}
