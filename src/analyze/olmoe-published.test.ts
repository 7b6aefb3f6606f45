/**
 * Done-when check on real data: OLMoE-1B-7B expert counts on six text domains (allenai/OLMoE,
 * Apache-2.0, see data/olmoe-routing-analysis/SOURCE.txt; layers 0, 7, 15; 64 experts, top-8).
 * The OLMoE paper's routing analysis reports the hottest expert at about 7.2x the mean on arXiv and
 * 2.7x on C4 (OLMoE paper, arXiv 2409.02060, routing analysis), averaged over the three stored layers. Mixtral-8x7B, trained with a
 * balance loss, sits near 1.1-1.3x.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { maxOverMean } from './max-over-mean.ts';
import { gini } from './gini.ts';
import { normalizedEntropy } from './normalized-entropy.ts';

const file = JSON.parse(readFileSync('data/olmoe-routing-analysis/olmoe_mixtral_expert_counts.json', 'utf8')) as {
  models: Record<string, { num_experts: number; domains: Record<string, { expert_counts: number[][] }> }>;
};

/** Mean over the stored layers of a per-layer metric. */
function meanOverLayers(model: string, domain: string, f: (row: Float64Array) => number): number {
  const rows = file.models[model].domains[domain].expert_counts;
  let s = 0;
  for (const r of rows) s += f(Float64Array.from(r));
  return s / rows.length;
}

test('OLMoE: hottest expert / mean, averaged over layers 0, 7, 15, is 7.2 on arXiv and 2.7 on C4', () => {
  const rows = file.models.olmoe.domains.arxiv.expert_counts;
  assert.equal(rows.length, 3);
  assert.equal(rows[0].length, 64);
  const arxiv = meanOverLayers('olmoe', 'arxiv', maxOverMean);
  const c4 = meanOverLayers('olmoe', 'c4', maxOverMean);
  assert.equal(Math.round(arxiv * 10) / 10, 7.2);
  assert.equal(Math.round(c4 * 10) / 10, 2.7);
  assert.ok(arxiv > 2.5 * c4, `arXiv ${arxiv} should be far more skewed than C4 ${c4}`);
});

test('OLMoE: arXiv is also more concentrated than C4 by Gini and by entropy', () => {
  assert.ok(meanOverLayers('olmoe', 'arxiv', gini) > meanOverLayers('olmoe', 'c4', gini));
  assert.ok(meanOverLayers('olmoe', 'arxiv', normalizedEntropy) < meanOverLayers('olmoe', 'c4', normalizedEntropy));
});

test('Mixtral-8x7B is near-balanced (hottest/mean 1.1-1.3) on every domain', () => {
  const m = file.models.mistral;
  assert.equal(m.num_experts, 8);
  for (const domain of Object.keys(m.domains)) {
    const v = meanOverLayers('mistral', domain, maxOverMean);
    assert.ok(v >= 1.05 && v <= 1.35, `${domain}: ${v}`);
  }
  // and every OLMoE domain is more skewed than every Mixtral domain
  const mixtralMax = Math.max(...Object.keys(m.domains).map((d) => meanOverLayers('mistral', d, maxOverMean)));
  for (const d of Object.keys(file.models.olmoe.domains)) assert.ok(meanOverLayers('olmoe', d, maxOverMean) > mixtralMax, d);
});
