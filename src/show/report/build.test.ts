import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseHTML } from 'linkedom';
import { defaultPlan } from '../../core/default-placements.ts';
import { makeLoadTrace } from '../../core/load-trace.ts';
import { buildReportModel, buildTraceView, defaultRanks, heatmapView } from './build.ts';
import { renderReportHtml } from './html.ts';
import { swapPlan, syntheticTrace, tinyInput, tinyTrace } from './fixtures.ts';

const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) <= eps, `${a} != ${b}`);

test('heatmap view: load divided by the layer mean', () => {
  const h = heatmapView(tinyTrace());
  assert.deepEqual(h.values, [2, 1, 0.5, 0.5, 2, 1, 0.5, 0.5]);
  assert.deepEqual(h.rowTotals, [16, 8]);
  assert.deepEqual(h.rowLabels, [3, 5]);
});

test('trace view: linear vs hand plan, values worked out by hand', () => {
  const linear = defaultPlan('linear', 2, 4, 2, [3, 5]);
  linear.solver = 'linear';
  const v = buildTraceView(tinyInput(), { current: linear, recommended: swapPlan() });
  const cur = v.placements!.current;
  const rec = v.placements!.recommended!;
  // Linear: layer 3 ranks [12,4] -> 1.5; layer 5 [6,2] -> 1.5.
  assert.deepEqual(cur.rankLoad, [18, 6]);
  assert.deepEqual(cur.layerMaxOverMean, [1.5, 1.5]);
  close(cur.balancednessVllm, 12 / 18);
  close(cur.balancednessSglang, ((8 + 1e-5) / (12 + 1e-5) + (4 + 1e-5) / (6 + 1e-5)) / 2);
  // Swap: layer 3 ranks [10,6] -> 1.25; layer 5 [5,3] -> 1.25.
  assert.deepEqual(rec.rankLoad, [15, 9]);
  assert.deepEqual(rec.layerMaxOverMean, [1.25, 1.25]);
  assert.equal(rec.expertsMoved, 4);
  // Lower bound: 2 slots per rank, so expert 0 (8 of 16) shares its rank with at least the lightest
  // expert (2): 10 / mean 8 = 1.25 in layer 3; layer 5 likewise 5 / 4. The swap plan attains it.
  assert.equal(rec.stats!.lowerBound, 1.25);
  assert.equal(rec.stats!.gapToBound, 0);
  close(cur.stats!.gapToBound as number, 0.2);
  close(v.placements!.stragglerReduction!, 0.25 / 1.5);
  assert.deepEqual(v.expertMaxOverMean, [2, 2]);
  // Per window: w0 linear (1.5+1)/2, swap (1.25+1)/2; w1 linear (1.5+2)/2, swap (1.25+1.5)/2.
  const ts = v.timeSeries.find((s) => s.xName === 'step')!;
  assert.deepEqual(ts.x, [10, 20]);
  assert.deepEqual(ts.series[0].values, [1.25, 1.75]);
  assert.deepEqual(ts.series[1].values, [1.125, 1.375]);
  assert.equal(v.meta.totalAssignments, 24);
});

test('replicas split an expert\'s load evenly', () => {
  const plan = { ...swapPlan(), phy2log: [Int32Array.from([0, 1, 2, 0, 3, 1]), Int32Array.from([0, 1, 2, 0, 3, 1])] };
  const linear = defaultPlan('linear', 2, 4, 2, [3, 5]);
  const v = buildTraceView(tinyInput(), { current: linear, recommended: plan });
  // Layer 3 [8,4,2,2]: rank 0 = 4+2+2, rank 1 = 4+2+2.
  assert.deepEqual(v.placements!.recommended!.layerMaxOverMean, [1, 1]);
  assert.equal(v.placements!.recommended!.redundantSlots, 2);
});

test('defaultRanks picks 8 or the largest divisor of E below it', () => {
  assert.equal(defaultRanks(64), 8);
  assert.equal(defaultRanks(60), 6);
  assert.equal(defaultRanks(4), 4);
});

test('report model and HTML: a given plan becomes the recommendation; markup is escaped', async () => {
  const model = await buildReportModel(
    { traces: [tinyInput('<script>alert(1)</script>')], plans: [{ path: '/x/swap.json', plan: swapPlan() }], simulations: [], reports: [] },
    { now: 0 },
  );
  assert.equal(model.traces.length, 1);
  assert.equal(model.traces[0].placements!.recommended!.label, 'recommended (swap.json)');
  const html = renderReportHtml(model);
  assert.ok(!html.includes('<script>alert(1)</script>'));
  const { document } = parseHTML(html);
  assert.equal(document.querySelector('.model-name')!.textContent, '<script>alert(1)</script>');
  assert.equal(document.querySelectorAll('script').length, 1);
  // Rank bars: 2 ranks x 2 placements.
  assert.equal(document.querySelectorAll('#t0-ranks rect.bar').length, 4);
  assert.equal(document.querySelector('#t0-ranks rect.bar[data-series="0"][data-category="0"]')!.getAttribute('data-value'), '18');
  assert.equal(document.querySelectorAll('#t0-layers svg g.series').length, 3);
  const hm = document.querySelector('#t0-heatmap svg.heatmap')!;
  assert.equal(hm.getAttribute('data-rows'), '2');
  assert.equal(hm.getAttribute('data-cols'), '4');
  assert.ok(!/(src|href)="https?:/.test(html), 'no external resources');
});

test('60 x 384 trace with 2000 windows: report stays small', async () => {
  const load = syntheticTrace(60, 384, 2000);
  const t0 = performance.now();
  const model = await buildReportModel({ traces: [{ path: 'big', format: 'ballast', load, warnings: [] }], plans: [], simulations: [], reports: [] }, { solver: 'none', ranks: 32 });
  const html = renderReportHtml(model);
  const ms = performance.now() - t0;
  assert.equal(model.traces[0].heatmap.values.length, 60 * 384);
  assert.ok(html.length < 1_500_000, `html is ${html.length} bytes`);
  const { document } = parseHTML(html);
  assert.equal(document.querySelectorAll('#t0-ranks rect.bar').length, 32);
  // 2000 windows > 400 points: drawn as a band with 400 hover columns.
  assert.equal(document.querySelectorAll('#t0-series-0 rect.hover').length, 400);
  assert.ok(ms < 60_000, `took ${ms} ms`);
});

test('perWindowMaxOverMean agrees with rankLoads + maxOverMean window by window (plan with replicas)', async () => {
  const { perWindowMaxOverMean } = await import('./placement-load.ts');
  const { rankLoads } = await import('../../analyze/rank-loads.ts');
  const { maxOverMean } = await import('../../analyze/max-over-mean.ts');
  const load = syntheticTrace(3, 8, 5);
  const row = Int32Array.from([0, 1, 2, 3, 0, 4, 5, 6, 7, 1, 2, 3]); // 12 slots over 4 ranks, experts 0-3 twice
  const plan = { version: 1 as const, numLayers: 3, numExperts: 8, numRanks: 4, ranksPerNode: 4, layerIds: [1, 2, 3], phy2log: [row, row, row] };
  const fast = perWindowMaxOverMean(load, plan);
  for (let w = 0; w < 5; w++) {
    const rl = rankLoads(load.counts.subarray(w * 24, (w + 1) * 24), plan);
    const ref = [0, 1, 2].reduce((s, l) => s + maxOverMean(rl.subarray(l * 4, (l + 1) * 4)), 0) / 3;
    close(fast[w], ref, 1e-12);
  }
});

test('simulation JSON: policies become a table, scalars are flattened', async () => {
  const { simulationView } = await import('./build.ts');
  const v = simulationView('/x/sim.json', {
    trace: 't.ballast', ranks: 8, shape: { layers: 2, experts: 4 },
    policies: [{ name: 'linear', predictedBatchTimeUs: 100, perBatchMaxOverMean: { mean: 1.4 } }, { name: 'ballast', predictedBatchTimeUs: 90, perBatchMaxOverMean: { mean: 1.1 } }],
  });
  assert.deepEqual(v.policies, [
    { name: 'linear', values: { predictedBatchTimeUs: 100, 'perBatchMaxOverMean.mean': 1.4 } },
    { name: 'ballast', values: { predictedBatchTimeUs: 90, 'perBatchMaxOverMean.mean': 1.1 } },
  ]);
  assert.deepEqual(v.scalars, [['trace', 't.ballast'], ['ranks', 8], ['shape.layers', 2], ['shape.experts', 4]]);
  const html = renderReportHtml({ format: 'ballast-report', version: 1, title: 't', createdMs: 0, traces: [], plans: [], simulations: [v], notes: [] });
  const { document } = parseHTML(html);
  assert.deepEqual([...document.querySelectorAll('#sim0-predictedBatchTimeUs rect.bar')].map((b) => b.getAttribute('data-value')), ['100', '90']);
});

/** DeepSeek-V2-Lite-shaped counts (64 experts, top-6): expert e of layer l gets 10 + ((l * 5 + e * 7 + w * 3) % 40) per window. */
function v2LiteInput(W: number): import('../../ingest/readers.ts').InputData {
  const L = 3;
  const E = 64;
  const counts = new Float64Array(W * L * E);
  for (let w = 0; w < W; w++) for (let l = 0; l < L; l++) for (let e = 0; e < E; e++) counts[(w * L + l) * E + e] = 10 + ((l * 5 + e * 7 + w * 3) % 40);
  const load = makeLoadTrace({ model: 'DeepSeek-V2-Lite', layerIds: [1, 2, 3], topK: 6, sources: [] }, L, E, counts, Array.from({ length: W }, (_, i) => ({ step: i })));
  return { path: `/tmp/v2lite-${W}.ballast`, format: 'ballast', load, warnings: [] };
}

test('report gate: held out with several windows, "in-sample" in the headline with one', async () => {
  for (const [W, heldOut] of [[4, true], [1, false]] as const) {
    const model = await buildReportModel({ traces: [v2LiteInput(W)], plans: [], simulations: [], reports: [] }, { ranks: 8, redundantSlots: 8, now: 0 });
    const g = model.traces[0].placements!.gate!;
    assert.equal(g.heldOut, heldOut, `W=${W}`);
    assert.ok(g.headline!.startsWith(`${g.verdict.toUpperCase()} (${heldOut ? 'held out: a ballast plan made on load windows [0, 2) of 4' : 'in-sample:'}`), g.headline);
    // Predicted time per step sits beside token balance; proposed = current - gain per step.
    assert.ok(g.time!.currentUs > 0 && g.balance!.current >= 1);
    assert.equal(g.figures['predicted MoE time per step, current (µs)'], g.time!.currentUs);
    assert.ok('expert replicas moved' in g.figures, 'R = 8: replicas');
    const html = renderReportHtml(model);
    const { document } = parseHTML(html);
    assert.equal(document.querySelector('#t0 .gate-verdict')!.textContent, g.verdict.toUpperCase());
    assert.match(document.querySelector('#t0 .gate-judged')!.textContent!, heldOut ? /^held out/ : /^in-sample/);
  }
  // At 0 redundant slots what moves are experts.
  const m0 = await buildReportModel({ traces: [v2LiteInput(4)], plans: [], simulations: [], reports: [] }, { ranks: 8, now: 0 });
  assert.ok('experts moved' in m0.traces[0].placements!.gate!.figures);
});

test('report: a plan for another model or shape is an InputError; --cluster keeps its node layout', async () => {
  const other = { ...swapPlan(), numExperts: 8, phy2log: [Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7]), Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7])] };
  await assert.rejects(
    buildReportModel({ traces: [tinyInput()], plans: [{ path: '/x/other.json', plan: other }], simulations: [], reports: [] }, { now: 0 }),
    /the plan is for 2 layers x 8 experts but tiny.ballast is 2 x 4 \(tiny-moe\); expected a plan for the trace given/,
  );
  await assert.rejects(
    buildReportModel({ traces: [tinyInput()], plans: [{ path: '/x/mix.json', plan: { ...swapPlan(), model: 'mistralai/Mixtral-8x7B' } }], simulations: [], reports: [] }, { now: 0 }),
    /the plan is for mistralai\/Mixtral-8x7B but tiny.ballast was recorded from tiny-moe/,
  );
  // 4 nodes x 8 H800: 32 GPUs, 8 per node (not 32 on one node).
  const model = await buildReportModel({ traces: [v2LiteInput(2)], plans: [], simulations: [], reports: [] }, { cluster: '4x8xH800-IB', solver: 'linear', noPredict: true, now: 0 });
  const pl = model.traces[0].placements!;
  assert.equal(pl.current.numRanks, 32);
  assert.equal(pl.current.ranksPerNode, 8);
  assert.equal(pl.recommended!.ranksPerNode, 8);
  await assert.rejects(
    buildReportModel({ traces: [v2LiteInput(2)], plans: [], simulations: [], reports: [] }, { cluster: '4x8xH800-IB', ranks: 8, noPredict: true, now: 0 }),
    /the cluster 4x8xH800-IB has 32 GPUs \(4 nodes x 8\) but the placement is over 8 ranks/,
  );
});

test('simulation section: labelled tables with units, lists of records as tables, notes as a list', async () => {
  const { simulationView } = await import('./build.ts');
  const v = simulationView('/x/sim.json', {
    trace: 't.ballast', batchTokens: 512,
    policies: [{ name: 'linear', predictedBatchTimeUs: 100, perBatchMaxOverMean: { mean: 1.4 } }],
    oracleGap: [{ policy: 'linear', maxOverMeanGap: 0.4, timeGapPct: -8.5 }],
    notes: ['scored held out'],
  });
  assert.deepEqual(v.tables, [{ key: 'oracleGap', columns: ['policy', 'maxOverMeanGap', 'timeGapPct'], rows: [['linear', 0.4, -8.5]] }]);
  assert.deepEqual(v.notes, ['scored held out']);
  const { document } = parseHTML(renderReportHtml({ format: 'ballast-report', version: 1, title: 't', createdMs: 0, traces: [], plans: [], simulations: [v], notes: [] }));
  const th = [...document.querySelectorAll('#sim0 th')].map((x) => x.textContent);
  assert.ok(th.includes('predicted MoE time per batch (µs)'), th.join('|'));
  assert.ok(th.includes('per-batch max/mean rank load, mean (×)'));
  assert.ok(th.includes('tokens per batch'));
  assert.ok(th.includes('predicted time above the oracle (%)'));
  assert.ok(!document.querySelector('#sim0')!.textContent!.includes('oracleGap[0]'));
  assert.equal(document.querySelector('#sim0 .sim-notes li')!.textContent, 'scored held out');
});
