/**
 * Done-when check on real data: from DeepSeek ESFT's raw routing dumps (DeepSeek-V2-Lite architecture,
 * 26 MoE layers x 64 experts, top-6; github.com/deepseek-ai/ESFT, MIT, see data/esft-dsv2lite/SOURCE.txt),
 * the per-layer expert shares reproduce the `token_scores` that ESFT itself published in
 * results/expert_scores/<task>/summary.json (rounded to 4 decimals; keys: layer id, then expert id).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { totalCounts } from '../core/load-trace.ts';
import { readInput } from '../ingest/readers.ts';
import { expertShares } from './expert-shares.ts';

const DATA = 'data/esft-dsv2lite';

for (const task of ['intent', 'law', 'summary']) {
  test(`ESFT ${task}: per-layer expert shares from the raw .tgz match the published token_scores`, async () => {
    const input = await readInput(`${DATA}/raw/${task}.tgz`);
    const { load } = input;
    assert.equal(load.numLayers, 26);
    assert.equal(load.numExperts, 64);
    const counts = totalCounts(load);
    const shares = expertShares(counts, 64);
    const published = JSON.parse(readFileSync(`${DATA}/raw/summary_json/${task}.summary.json`, 'utf8')).token_scores as Record<
      string,
      Record<string, number>
    >;
    assert.deepEqual(Object.keys(published).map(Number).sort((a, b) => a - b), load.meta.layerIds);
    let maxDiff = 0;
    let roundedMismatches = 0;
    for (let l = 0; l < 26; l++) {
      const row = published[String(load.meta.layerIds[l])];
      assert.equal(Object.keys(row).length, 64);
      // Every token picks 6 distinct experts, so each layer's counts sum to 6 x tokens.
      let sum = 0;
      for (let e = 0; e < 64; e++) sum += counts[l * 64 + e];
      assert.equal(sum, 6 * input.routes!.numTokens);
      for (let e = 0; e < 64; e++) {
        const ours = shares[l * 64 + e];
        maxDiff = Math.max(maxDiff, Math.abs(ours - row[String(e)]));
        if (Math.abs(Math.round(ours * 1e4) / 1e4 - row[String(e)]) > 1e-12) roundedMismatches++;
      }
    }
    // Published values are rounded to 4 decimals: at most half a unit in the last place apart.
    assert.ok(maxDiff <= 0.00005 + 1e-12, `max abs diff ${maxDiff}`);
    assert.equal(roundedMismatches, 0);
  });
}

test('ESFT token counts stated in SOURCE.txt: intent 8222, law 8327, summary 8479 tokens', async () => {
  const want: Record<string, number> = { intent: 8222, law: 8327, summary: 8479 };
  for (const task of Object.keys(want)) {
    const { routes } = await readInput(`${DATA}/raw/${task}.tgz`);
    assert.equal(routes!.numTokens, want[task]);
  }
});
