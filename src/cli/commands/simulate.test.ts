import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { batchRankLoad } from '../../analyze/batch-rank-load.ts';
import { distinctRanksPerToken } from '../../analyze/distinct-ranks-per-token.ts';
import { defaultPlan } from '../../core/default-placements.ts';
import { readInput } from '../../ingest/readers.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/ballast.js');
const LAW = join(ROOT, 'data/esft-dsv2lite/raw/law.tgz');

function ballast(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 240000, env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('ballast simulate on the bundled ESFT law trace: JSON side by side, held-out, checked against the metrics module', async () => {
  const r = ballast(['simulate', LAW, '--ranks', '8', '--redundant', '8', '--policies', 'linear,deepseek,ballast,oracle,vllm-eplb', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(j.policies.map((p: { name: string }) => p.name), ['linear', 'deepseek', 'ballast', 'oracle', 'vllm-eplb']);
  assert.equal(j.model, 'DeepSeek-V2-Lite');
  assert.equal(j.shape.layers, 26);
  // Cut at the first sequence boundary at or after 8327 / 2 = 4163.5: token 4252 (from the trace's
  // own sequence starts, read independently below); (8327 - 4252) / 512 -> 7 full batches.
  const d = await readInput(LAW);
  const routes = d.routes!;
  const cut = routes.seqStarts.find((s) => s >= routes.numTokens / 2)!;
  assert.equal(cut, 4252);
  assert.equal(j.split.batches, 7);
  const linear = j.policies[0];
  const ref = batchRankLoad(routes, defaultPlan('linear', 26, 64, 8, routes.meta.layerIds), 512, { startToken: cut });
  assert.ok(Math.abs(linear.perBatchMaxOverMean.mean - ref.mean) < 1e-9);
  assert.ok(Math.abs(linear.perBatchMaxOverMean.p99 - ref.p99) < 1e-9);
  const dr = distinctRanksPerToken(routes, defaultPlan('linear', 26, 64, 8, routes.meta.layerIds), 8, { startToken: cut, endToken: cut + 7 * 512 });
  assert.ok(Math.abs(linear.distinctRanksPerToken - dr.ranks) < 1e-9);
  assert.equal(linear.throughputVsLinear, 1);
  for (const p of j.policies) {
    for (const key of ['perBatchMaxOverMean', 'activatedExpertsPerRank', 'distinctRanksPerToken', 'predictedLayerTimeUs', 'throughputVsLinear', 'expertsMoved']) {
      assert.ok(key in p, `${p.name} lacks ${key}`);
    }
    assert.ok(p.predictedLayerTimeUs > 0);
  }
  // The oracle re-plans on each batch's own load: no static plan balances better.
  const oracle = j.policies.find((p: { name: string }) => p.name === 'oracle');
  for (const p of j.policies) assert.ok(oracle.perBatchMaxOverMean.mean <= p.perBatchMaxOverMean.mean + 1e-9);
  assert.ok(Array.isArray(j.oracleGap) && j.oracleGap.length === 4);
  // vLLM's defaults on 15 steps (8 planning + 7 scored): the first re-plan is at step 750, so it stays
  // linear, and a note says so and what it models.
  assert.equal(j.policies[4].replans, 0);
  assert.equal(j.policies[4].expertsMoved, 0);
  assert.equal(j.policies[4].predictedMoeTimeUs, linear.predictedMoeTimeUs);
  assert.ok(j.notes.some((n: string) => /^vllm-eplb: this trace gives 15 steps .*first re-plans after 750 steps/.test(n)));
  assert.ok(j.notes.some((n: string) => /^vllm-eplb: vLLM EPLB: .*last 1000 steps.*every 3000/.test(n)));
  // Scaled down explicitly: async re-plans happen (first after 4 // 4 = 1 step) and move experts; the
  // output says the window and interval are not vLLM's defaults.
  const sc = JSON.parse(ballast(['simulate', LAW, '--ranks', '8', '--redundant', '8', '--policies', 'linear,vllm-eplb', '--eplb-window', '4', '--eplb-interval', '4', '--json']).stdout);
  assert.ok(sc.policies[1].expertsMoved > 0);
  assert.ok(sc.notes.some((n: string) => /overridden by --eplb-window/.test(n)));
});

test('ballast simulate: text table, --explain sources, skewed-top1 scenario, bad input exits 2', () => {
  const t = ballast(['simulate', LAW, '--ranks', '8', '--policies', 'linear,deepseek', '--explain', '--set', 'eff=0.7']);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /policy\s+R\s+max\/mean/);
  // Text wraps at 100 columns (continuation lines indented), so each constant's row is read unwrapped.
  const rows = t.stdout.replace(/\n {4,}/g, ' ');
  assert.match(rows, /\n  eff\s+0\.7\s+.*user override/);
  assert.match(rows, /hiddenSize\s+2048\s+.*hidden_size/);
  const s = ballast(['simulate', '--synthetic', 'skewed-top1', '--ranks', '8', '--policies', 'linear,deepseek,oracle']);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /not a placement/);
  assert.match(s.stdout, /cannot be split/);
  const bad = ballast(['simulate', LAW, '--ranks', '7']);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
  assert.match(bad.stderr, /^ballast: /);
  const badSet = ballast(['simulate', LAW, '--ranks', '8', '--set', 'bogus=1']);
  assert.equal(badSet.code, 2);
  assert.match(badSet.stderr, /unknown constant/);
});
