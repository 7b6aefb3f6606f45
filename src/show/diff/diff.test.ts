import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseHTML } from 'linkedom';
import { makeLoadTrace } from '../../core/load-trace.ts';
import { buildTraceView } from '../report/build.ts';
import { defaultPlan } from '../../core/default-placements.ts';
import { REPORT_FORMAT, type ReportModel } from '../report/model.ts';
import { tinyInput, tinyTrace } from '../report/fixtures.ts';
import { diffSides, sideFromReport, sideFromTrace } from './diff.ts';
import { renderDiffText } from './text.ts';
import { renderDiffHtml } from './html.ts';
import { readDiffSide } from '../../cli/commands/diff.ts';

const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) <= eps, `${a} != ${b}`);

function mirrored() {
  // Layer 3 reversed ([2,2,4,8] over the whole trace), layer 5 unchanged ([4,2,1,1]).
  return makeLoadTrace({ model: 'tiny-moe', layerIds: [3, 5], sources: [] }, 2, 4, Float64Array.from([2, 2, 4, 8, 4, 2, 1, 1]));
}

test('diff of hand-made histograms: shares, total variation, movers, rank imbalance', () => {
  const d = diffSides(sideFromTrace('a', tinyTrace()), sideFromTrace('b', mirrored()), { ranks: 2, top: 3 });
  assert.equal(d.alignedBy, 'layer ids');
  // Layer 3: A shares [.5,.25,.125,.125], B [.125,.125,.25,.5] -> TV 0.5; layer 5 identical -> 0.
  close(d.layers[0].totalVariation, 0.5);
  close(d.layers[1].totalVariation, 0);
  assert.deepEqual(d.change.slice(0, 4), [-1.5, -0.5, 0.5, 1.5]);
  assert.deepEqual(d.movers.map((m) => [m.layer, m.expert]), [[3, 0], [3, 3], [3, 1]]);
  close(d.movers[0].delta, -0.375);
  // Linear over 2 ranks: A layer 3 [12,4] -> 1.5, B [4,12] -> 1.5.
  assert.equal(d.layers[0].rankMaxOverMeanA, 1.5);
  assert.equal(d.layers[0].rankMaxOverMeanB, 1.5);
  assert.equal(d.layers[0].hottestExpertA, 0);
  assert.equal(d.layers[0].hottestExpertB, 3);
  assert.equal(d.summary.worstLayer, undefined);
  const text = renderDiffText(d);
  assert.match(text, /hottest expert \/ mean \(mean over layers\): 2\.000 -> 2\.000/);
  assert.match(text, /│\s+3 │\s+0 │\s+50\.00% │\s+12\.50% │ -37\.50 pts │/);
});

test('diff aligns on shared layer ids and rejects different expert counts', () => {
  const b = makeLoadTrace({ layerIds: [5, 9], sources: [] }, 2, 4, Float64Array.from([4, 2, 1, 1, 1, 1, 1, 1]));
  const d = diffSides(sideFromTrace('a', tinyTrace()), sideFromTrace('b', b), { ranks: 2 });
  assert.deepEqual(d.layers.map((l) => l.layer), [5]);
  close(d.layers[0].totalVariation, 0);
  const c = makeLoadTrace({ layerIds: [3, 5], sources: [] }, 2, 8, new Float64Array(16).fill(1));
  assert.throws(() => diffSides(sideFromTrace('a', tinyTrace()), sideFromTrace('c', c), { ranks: 2 }), /8 experts per layer/);
});

test('a saved report round-trips into the same diff as its trace', () => {
  const view = buildTraceView(tinyInput(), { current: defaultPlan('linear', 2, 4, 2, [3, 5]) });
  const model: ReportModel = { format: REPORT_FORMAT, version: 1, title: 't', createdMs: 0, traces: [view], plans: [], simulations: [], notes: [] };
  const fromReport = sideFromReport('r.json', model);
  assert.deepEqual([...fromReport.counts], [8, 4, 2, 2, 4, 2, 1, 1]);
});

test('real data: OLMoE arXiv vs C4 (layers 0, 7, 15) written as CSV and read back', async () => {
  const src = JSON.parse(readFileSync('data/olmoe-routing-analysis/olmoe_mixtral_expert_counts.json', 'utf8'));
  const olmoe = src.models.olmoe;
  const dir = mkdtempSync(join(tmpdir(), 'ballast-diff-'));
  try {
    const paths: Record<string, string> = {};
    for (const dom of ['arxiv', 'c4']) {
      const counts: number[][] = olmoe.domains[dom].expert_counts;
      let csv = 'layer,expert,count\n';
      counts.forEach((row, i) => row.forEach((v, e) => (csv += `${olmoe.layers[i]},${e},${v}\n`)));
      paths[dom] = join(dir, `${dom}.csv`);
      writeFileSync(paths[dom], csv);
    }
    const d = diffSides(await readDiffSide(paths.arxiv), await readDiffSide(paths.c4), { ranks: 8, top: 5 });
    assert.deepEqual(d.layers.map((l) => l.layer), [0, 7, 15]);
    // Independent arithmetic on the JSON: hottest/mean per layer, averaged (published: 7.2x arXiv, 2.7x C4).
    const hotMean = (dom: string) => {
      const rows: number[][] = olmoe.domains[dom].expert_counts;
      return rows.reduce((s, r) => s + Math.max(...r) / (r.reduce((a, b) => a + b, 0) / r.length), 0) / rows.length;
    };
    close(d.summary.meanExpertMaxOverMeanA, hotMean('arxiv'), 1e-9);
    close(d.summary.meanExpertMaxOverMeanB, hotMean('c4'), 1e-9);
    assert.equal(Number(d.summary.meanExpertMaxOverMeanA.toFixed(1)), 7.2);
    assert.equal(Number(d.summary.meanExpertMaxOverMeanB.toFixed(1)), 2.7);
    // The biggest mover is layer 0 expert 0 (204013 tokens on arXiv, 15352 on C4).
    const a0: number[] = olmoe.domains.arxiv.expert_counts[0];
    const c0: number[] = olmoe.domains.c4.expert_counts[0];
    const sum = (r: number[]) => r.reduce((x, y) => x + y, 0);
    assert.deepEqual([d.movers[0].layer, d.movers[0].expert], [0, 0]);
    close(d.movers[0].delta, c0[0] / sum(c0) - a0[0] / sum(a0), 1e-12);
    const html = renderDiffHtml(d);
    const { document } = parseHTML(html);
    assert.equal(document.querySelector('#diff-change svg.heatmap')!.getAttribute('data-rows'), '3');
    assert.equal(document.querySelectorAll('table.movers tbody tr').length, 5);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
