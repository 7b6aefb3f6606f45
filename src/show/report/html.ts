/**
 * HTML rendering of the report model: `renderReportHtml(model)` -> one self-contained page (inline
 * CSS, SVG and script; nothing fetched). `renderReportBody(model)` -> the <main> content alone, which
 * the dashboard re-renders on every update. Every string from a trace or file goes through `esc`.
 */
import { esc } from '../charts/svg.ts';
import { renderPhasesSection } from './phases.ts';
import { barChart } from '../charts/bars.ts';
import { lineChart } from '../charts/lines.ts';
import { heatmap } from '../charts/heatmap.ts';
import { formatNumber } from '../charts/scale.ts';
import { PAGE_CSS, PAGE_SCRIPT } from './assets.ts';
import { formatStepTime, verdictWord } from './gate-view.ts';
import { labelFor, labelText, PLAN_STAT_LABELS, POLICY_LABELS, SIMULATION_LABELS } from './labels.ts';
import type { GateView, PlacementView, PlanSummary, ReportModel, SeriesView, SimulationView, TraceView } from './model.ts';

const num = (v: number | undefined, digits = 3) =>
  v === undefined || !Number.isFinite(v) ? '–' : Math.abs(v) >= 1000 ? formatNumber(v) : String(Number(v.toFixed(digits)));
/** viewBox widths: full-width figures and the two-column ones, so text renders at a similar size. */
const FULL_WIDTH = 1040;
const HALF_WIDTH = 540;
const pct = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : `${(v * 100).toFixed(1)}%`);

function card(key: string, value: string, sub = '', cls = ''): string {
  return `<div class="card ${esc(cls)}"><div class="k">${esc(key)}</div><div class="v">${esc(value)}</div>${sub ? `<div class="s">${esc(sub)}</div>` : ''}</div>`;
}

function figure(id: string, caption: string, sub: string, chart: string): string {
  return `<figure id="${esc(id)}"><figcaption>${esc(caption)} ${sub ? `<span class="muted">${esc(sub)}</span>` : ''}</figcaption>${chart}</figure>`;
}

function seriesFigure(id: string, s: SeriesView): string {
  let lo = Number.POSITIVE_INFINITY;
  for (const x of s.series) for (const v of x.values) if (Number.isFinite(v) && v < lo) lo = v;
  // Ratios start at 1; times start near their minimum so that a few percent are visible.
  const yMin = s.unit === '×' ? 1 : s.unit === 'µs' && Number.isFinite(lo) ? lo * 0.97 : undefined;
  return figure(
    id,
    s.title,
    s.note ?? '',
    lineChart({ title: s.title, x: s.x, xName: s.xName, series: s.series, xLabel: s.xLabel, yLabel: s.yLabel, unit: s.unit, yMin, width: FULL_WIDTH }),
  );
}

function gateCard(g: GateView): string {
  const cls = /replan|apply|go|yes|pays/i.test(g.verdict) ? 'verdict-replan' : 'verdict-keep';
  if (g.heldOut !== undefined && g.time) {
    const on = g.heldOut ? 'held out: planned on the first part, scored on the rest' : 'in-sample: scored on the traffic the plan was made on (optimistic)';
    return `<div class="card ${cls}"><div class="k">Gate verdict</div><div class="v gate-verdict">${esc(verdictWord(g.verdict))}</div><div class="s gate-judged">${esc(on)}</div></div>`;
  }
  const gain = g.figures['predicted gain per step (%)'];
  const sub = typeof gain === 'number' ? `predicted gain ${gain.toFixed(1)}% per step; details below` : 'details below';
  return card('Gate verdict', g.verdict, sub, cls);
}

/** Predicted MoE time per step and per-batch token balance on the gate's scored batches, side by side. */
function gateTimeCards(g: GateView): string {
  if (!g.time) return '';
  const t = g.time;
  let s = `<div class="card wide"><div class="k">Predicted MoE time per step</div><div class="v gate-time" data-current-us="${t.currentUs}" data-proposed-us="${t.proposedUs}">${esc(formatStepTime(t.currentUs))} → ${esc(formatStepTime(t.proposedUs))}</div><div class="s">current → recommended: ${esc(t.gainPct >= 0 ? 'saves' : 'costs')} ${esc(Math.abs(t.gainPct).toFixed(1))}% (${esc(g.heldOut ? 'held out' : 'in-sample')})</div></div>`;
  if (g.balance) {
    s += card('Per-batch token balance', `${num(g.balance.current)}× → ${num(g.balance.proposed)}×`, `max/mean rank load on the same batches (${g.heldOut ? 'held out' : 'in-sample'})`, 'wide');
  }
  return s;
}

function placementRows(views: PlacementView[]): string {
  const rows: [string, (p: PlacementView) => string][] = [
    ['solver', (p) => p.solver ?? '–'],
    ['EP ranks', (p) => String(p.numRanks)],
    ['ranks per node', (p) => String(p.ranksPerNode)],
    ['redundant slots per layer', (p) => String(p.redundantSlots)],
    ['max/mean rank load, mean over layers (whole trace)', (p) => `${num(p.meanMaxOverMean)}×`],
    ['worst layer max/mean', (p) => `${num(Math.max(...p.layerMaxOverMean))}×`],
    ['balancedness (vLLM)', (p) => num(p.balancednessVllm)],
    ['balancedness (SGLang)', (p) => num(p.balancednessSglang)],
    ['experts moved vs current (replicas, when there are redundant slots)', (p) => (p.expertsMoved === undefined ? '–' : String(p.expertsMoved))],
  ];
  const statKeys = new Set<string>();
  for (const v of views) for (const [k, val] of Object.entries(v.stats ?? {})) if ((typeof val === 'number' || typeof val === 'string') && !labelFor(k, PLAN_STAT_LABELS).hide) statKeys.add(k);
  let s = `<table class="plan-table"><thead><tr><th></th>${views.map((v) => `<th>${esc(v.label)}</th>`).join('')}</tr></thead><tbody>`;
  for (const [name, f] of rows) s += `<tr><th>${esc(name)}</th>${views.map((v) => `<td class="num">${esc(f(v))}</td>`).join('')}</tr>`;
  for (const k of statKeys) {
    const lab = labelFor(k, PLAN_STAT_LABELS);
    s += `<tr><th>${esc(labelText(lab))}</th>${views
      .map((v) => {
        const x = v.stats?.[k];
        return `<td class="num">${esc(typeof x === 'number' ? num(x * (lab.scale ?? 1), 4) : x === undefined ? '–' : String(x))}</td>`;
      })
      .join('')}</tr>`;
  }
  return `${s}</tbody></table>`;
}

function metaTable(t: TraceView): string {
  const m = t.meta;
  const rows: [string, string][] = [
    ['model', m.model ?? '(not recorded)'],
    ['file', m.path],
    ['format', m.format],
    ['MoE layers', `${m.numLayers} (model layer ids ${compactIds(m.layerIds)})`],
    ['experts per layer', String(m.numExperts)],
    ['top-k', m.topK === undefined ? '–' : String(m.topK)],
    ['windows', String(m.numWindows)],
    ['tokens', m.tokens === undefined ? '–' : String(m.tokens)],
    ['token-expert assignments', String(m.totalAssignments)],
    ['token routes', m.hasRoutes ? 'yes (per-batch replay available)' : 'no'],
    ['phase', m.phase ?? '–'],
    ['sources', m.sources.map((s) => `${s.path} (${s.format})`).join('\n') || '–'],
    ...(m.capture ? ([['captured via', m.capture]] as [string, string][]) : []),
    ['attribution', m.attribution ?? '–'],
  ];
  for (const w of m.warnings) rows.push(['warning', w]);
  return `<table class="meta-table"><tbody>${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td class="mono">${esc(v).replace(/\n/g, '<br>')}</td></tr>`).join('')}</tbody></table>`;
}

function compactIds(ids: number[]): string {
  if (ids.length === 0) return '–';
  const contiguous = ids.every((v, i) => i === 0 || v === ids[i - 1] + 1);
  return contiguous && ids.length > 2 ? `${ids[0]}–${ids[ids.length - 1]}` : ids.join(', ');
}

/** Rank-load bars and imbalance-by-layer lines for a trace's placements ('' without placements). */
export function renderPlacementCharts(t: TraceView, id: string): string {
  const pl = t.placements;
  const h = t.heatmap;
  let s = '';
  if (pl) {
    const G = pl.current.numRanks;
    const series = [{ label: pl.current.label, values: pl.current.rankLoad }];
    if (pl.recommended && pl.recommended.numRanks === G) series.push({ label: pl.recommended.label, values: pl.recommended.rankLoad });
    const total = pl.current.rankLoad.reduce((a, b) => a + b, 0);
    s += `<div class="grid2">`;
    s += figure(
      `${id}-ranks`,
      'Load per EP rank',
      'token-expert assignments, summed over layers',
      barChart({
        title: 'Load per EP rank', categories: Array.from({ length: G }, (_, r) => String(r)), categoryName: 'rank', series,
        xLabel: 'EP rank', yLabel: 'assignments (all layers)', unit: 'assignments', referenceLines: [{ label: 'even share', value: total / G }], width: HALF_WIDTH, height: 320,
      }),
    );
    const lseries = [{ label: pl.current.label, values: pl.current.layerMaxOverMean }];
    if (pl.recommended) lseries.push({ label: pl.recommended.label, values: pl.recommended.layerMaxOverMean });
    lseries.push({ label: 'hottest expert (expert load)', values: t.expertMaxOverMean });
    s += figure(
      `${id}-layers`,
      'Imbalance by layer',
      'max ÷ mean of rank load (and of expert load)',
      lineChart({
        title: 'Imbalance by layer', x: h.rowLabels.map((_, i) => i), xTickLabels: h.rowLabels.map(String), xName: 'layer',
        series: lseries, xLabel: 'MoE layer (model index)', yLabel: 'max / mean', unit: '×', yMin: 1, width: HALF_WIDTH, height: 320,
      }),
    );
    s += `</div>`;
  }
  return s;
}

/** The gate: headline (held out or in-sample), figures next to their labels, reasons, warnings, notes. */
function gateTable(g: GateView): string {
  let s = `<h3>Gate</h3>`;
  if (g.headline) s += `<p class="gate-headline">${esc(g.headline)}</p>`;
  s += `<table class="gate-table"><tbody><tr><th>verdict</th><td>${esc(verdictWord(g.verdict))}</td></tr>`;
  for (const [k, v] of Object.entries(g.figures)) s += `<tr><th>${esc(k)}</th><td class="num">${esc(typeof v === 'number' ? num(v, 4) : v)}</td></tr>`;
  s += `</tbody></table>`;
  const reasons = g.reasons ?? (g.reason ? [g.reason] : []);
  if (reasons.length) s += `<ul class="gate-reasons">${reasons.map((r) => `<li>${esc(r)}</li>`).join('')}</ul>`;
  if (g.warnings?.length) s += `<ul class="notes">${g.warnings.map((r) => `<li>${esc(r)}</li>`).join('')}</ul>`;
  if (g.notes?.length) s += `<p class="muted">${g.notes.map(esc).join('<br>')}</p>`;
  return s;
}

/** Plan summary table (current vs recommended) and the gate's verdict. */
export function renderPlanTables(t: TraceView): string {
  const pl = t.placements;
  let s = '';
  if (pl) {
    s += `<h3>Plan summary</h3>`;
    s += placementRows(pl.recommended ? [pl.current, pl.recommended] : [pl.current]);
    if (pl.gate) s += gateTable(pl.gate);
  }
  return s;
}

/** One trace's section. `idx` makes element ids unique on the page. */
export function renderTraceSection(t: TraceView, idx: number): string {
  const m = t.meta;
  const pl = t.placements;
  const id = `t${idx}`;
  let s = `<section class="trace" id="${id}" data-trace-index="${idx}">`;
  s += `<h2><span class="model-name">${esc(m.model ?? '(model not recorded)')}</span> <span class="muted">— ${esc(m.label)}</span></h2>`;
  const meanExpert = t.expertMaxOverMean.reduce((a, b) => a + b, 0) / Math.max(1, t.expertMaxOverMean.length);
  s += `<div class="cards">`;
  s += card('Shape', `${m.numLayers} × ${m.numExperts}`, `layers × experts${m.topK ? `, top-${m.topK}` : ''}`);
  s += card(m.tokens !== undefined ? 'Tokens' : 'Assignments', formatNumber(m.tokens ?? m.totalAssignments), `${m.numWindows} window${m.numWindows === 1 ? '' : 's'}`);
  s += card('Hottest expert / mean', `${num(meanExpert, 2)}×`, 'mean over layers');
  if (pl) {
    s += card('Current max/mean', `${num(pl.current.meanMaxOverMean)}×`, `${pl.current.label}, ${pl.current.numRanks} ranks`);
    if (pl.recommended) {
      s += card('Recommended max/mean', `${num(pl.recommended.meanMaxOverMean)}×`, pl.recommended.label);
      s += card('Straggler reduction', pct(pl.stragglerReduction), 'of the slowest rank’s load, mean over layers');
      if (pl.recommended.expertsMoved !== undefined) {
        s += card(pl.recommended.redundantSlots > 0 ? 'Expert replicas moved' : 'Experts moved', String(pl.recommended.expertsMoved), 'weights to load to switch');
      }
    }
    if (pl.gate) s += gateCard(pl.gate) + gateTimeCards(pl.gate);
    s += card('Balancedness', `${num(pl.current.balancednessVllm)} / ${num(pl.current.balancednessSglang)}`, 'current, vLLM / SGLang convention');
  }
  s += `</div>`;
  const h = t.heatmap;
  s += figure(
    `${id}-heatmap`,
    'Load by layer and expert',
    'each cell: expert load ÷ layer mean (1 = even); hover for values',
    heatmap({
      title: `Load heatmap, ${m.numLayers} layers × ${m.numExperts} experts`,
      rows: h.rows, cols: h.cols, values: h.values, rowLabels: h.rowLabels, rowTotals: h.rowTotals,
      rowName: 'layer', colName: 'expert', xLabel: 'expert id', yLabel: 'MoE layer (model index)', unit: '× layer mean', id: `${id}-hm`, width: FULL_WIDTH,
    }),
  );
  s += renderPlacementCharts(t, id);
  t.timeSeries.forEach((ts, i) => {
    s += seriesFigure(`${id}-series-${i}`, ts);
  });
  s += renderPlanTables(t);
  s += `<details class="meta"><summary>Trace metadata</summary>${metaTable(t)}</details>`;
  return `${s}</section>`;
}

function planSection(plans: PlanSummary[]): string {
  if (!plans.length) return '';
  let s = `<section class="plans"><h2>Plans</h2><table><thead><tr><th>file</th><th>solver</th><th>model</th><th>layers × experts</th><th>ranks</th><th>slots per layer</th><th>stats</th></tr></thead><tbody>`;
  for (const p of plans) {
    const slots = [...new Set(p.slotsPerLayer)].join(', ');
    const stats = Object.entries(p.stats ?? {})
      .filter(([, v]) => typeof v === 'number' || typeof v === 'string')
      .map(([k, v]) => {
        const lab = labelFor(k, PLAN_STAT_LABELS);
        return `${labelText(lab)}: ${typeof v === 'number' ? num(v * (lab.scale ?? 1), 4) : v}`;
      })
      .join('\n');
    s += `<tr><td class="mono">${esc(p.label)}</td><td>${esc(p.solver ?? '–')}</td><td>${esc(p.model ?? '–')}</td><td>${p.numLayers} × ${p.numExperts}</td><td>${p.numRanks} (${p.ranksPerNode}/node)</td><td>${esc(slots)}</td><td class="mono">${esc(stats || '–').replace(/\n/g, '<br>')}</td></tr>`;
  }
  return `${s}</tbody></table><p class="muted">No trace of matching shape was given, so these plans are summarised without loads.</p></section>`;
}

function policyBlock(sim: SimulationView, i: number): string {
  const pols = sim.policies!;
  const names = pols.map((p) => p.name);
  const charts: [string, string, string, string][] = [
    ['predictedBatchTimeUs', 'Predicted time per batch', 'predicted time (µs)', 'µs'],
    ['perBatchMaxOverMean.mean', 'Per-batch max/mean rank load', 'max / mean', '×'],
  ];
  let s = `<div class="grid2">`;
  for (const [key, title, yLabel, unit] of charts) {
    if (!pols.some((p) => key in p.values)) continue;
    s += figure(`sim${i}-${key.replace(/\W/g, '-')}`, title, 'per policy', barChart({
      title, categories: names, categoryName: 'policy', series: [{ label: title, values: pols.map((p) => p.values[key] ?? Number.NaN) }],
      xLabel: 'policy', yLabel, unit, width: HALF_WIDTH, height: 300,
    }));
  }
  s += `</div>`;
  const keys = [...new Set(pols.flatMap((p) => Object.keys(p.values)))].slice(0, 24);
  s += `<div class="scroll"><table class="policies"><thead><tr><th>policy</th>${names.map((n) => `<th>${esc(n)}</th>`).join('')}</tr></thead><tbody>`;
  for (const k of keys) {
    const lab = labelFor(k, POLICY_LABELS);
    s += `<tr><th>${esc(labelText(lab))}</th>${pols.map((p) => `<td class="num">${esc(num((p.values[k] ?? Number.NaN) * (lab.scale ?? 1), 4))}</td>`).join('')}</tr>`;
  }
  return `${s}</tbody></table></div>`;
}

function simulationSection(sims: SimulationView[]): string {
  let s = '';
  sims.forEach((sim, i) => {
    s += `<section class="simulation" id="sim${i}"><h2>Simulation <span class="muted">— ${esc(sim.label)}</span></h2>`;
    if (sim.policies?.length) s += policyBlock(sim, i);
    s += `<h3>Set-up</h3><table class="sim-setup"><tbody>${sim.scalars
      .map(([k, v]) => {
        const lab = labelFor(k, SIMULATION_LABELS);
        return `<tr><th>${esc(labelText(lab))}</th><td>${esc(typeof v === 'number' ? num(v * (lab.scale ?? 1), 4) : String(v))}</td></tr>`;
      })
      .join('')}</tbody></table>`;
    for (const t of sim.tables ?? []) {
      const labs = t.columns.map((c) => labelFor(c, POLICY_LABELS));
      s += `<h3>${esc(labelFor(t.key, SIMULATION_LABELS).label)}</h3><div class="scroll"><table class="sim-table"><thead><tr>${labs.map((l) => `<th>${esc(labelText(l))}</th>`).join('')}</tr></thead><tbody>`;
      for (const row of t.rows) {
        s += `<tr>${row.map((v, j) => (typeof v === 'number' ? `<td class="num">${esc(num(v * (labs[j].scale ?? 1), 4))}</td>` : `<td>${esc(v === null ? '–' : String(v))}</td>`)).join('')}</tr>`;
      }
      s += `</tbody></table></div>`;
    }
    if (sim.notes?.length) s += `<ul class="sim-notes">${sim.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>`;
    sim.series.forEach((ts, j) => {
      s += seriesFigure(`sim${i}-series-${j}`, ts);
    });
    s += `</section>`;
  });
  return s;
}

/** The <main> content for a model. */
export function renderReportBody(model: ReportModel): string {
  let s = '';
  if (model.notes.length) s += `<ul class="notes">${model.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>`;
  if (!model.traces.length && !model.plans.length && !model.simulations.length) s += `<p class="muted empty">No data yet.</p>`;
  model.traces.forEach((t, i) => {
    s += renderTraceSection(t, i);
  });
  s += planSection(model.plans);
  s += renderPhasesSection(model.phases ?? []);
  s += simulationSection(model.simulations);
  s += `<p class="muted footer">Generated by ballast on ${esc(new Date(model.createdMs).toISOString())}. Colours: viridis (sequential) and Okabe–Ito (series), readable with colour-vision deficiencies.</p>`;
  return s;
}

export interface PageOptions {
  title: string;
  /** Inner HTML of <main>. */
  body: string;
  /** Extra header HTML (status line, controls), already escaped. */
  headerExtra?: string;
  /** Extra inline script run after the page script. */
  script?: string;
}

/** A whole page around `body`: inline CSS, header with the theme toggle, tooltip, script. */
export function renderPage(opts: PageOptions): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'">
<title>${esc(opts.title)}</title><style>${PAGE_CSS}</style></head>
<body><header class="top"><h1>${esc(opts.title)}</h1>${opts.headerExtra ?? ''}<button id="theme-toggle" type="button" aria-label="Switch colour theme">Theme: auto</button></header>
<main id="content">${opts.body}</main>
<div class="tooltip" role="tooltip" hidden></div>
<script>${PAGE_SCRIPT}</script>${opts.script ? `<script>${opts.script}</script>` : ''}
</body></html>
`;
}

/** The self-contained HTML report. */
export function renderReportHtml(model: ReportModel): string {
  const models = [...new Set(model.traces.map((t) => t.meta.model).filter((x): x is string => Boolean(x)))];
  const title = models.length ? `${model.title}: ${models.join(', ')}` : model.title;
  return renderPage({ title, body: renderReportBody(model) });
}
