/**
 * End to end: `ballast demo --json` on the bundled ESFT law trace, checked against numbers computed
 * here from the independently derived histogram shipped with the data (data/esft-dsv2lite/load_counts.json).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

const lawCounts: number[][] = JSON.parse(readFileSync('data/esft-dsv2lite/load_counts.json', 'utf8')).tasks.law.counts;

test('ballast demo --json: measure, plan, predict and gate on the bundled trace', () => {
  const res = spawnSync(process.execPath, ['bin/ballast.js', 'demo', '--json'], { encoding: 'utf8', timeout: 240_000 });
  assert.equal(res.status, 0, res.stderr);
  const r = JSON.parse(res.stdout);

  // 1. Measure: linear placement on 8 GPUs, 8 experts each. vLLM balancedness = sum_l mean_r / sum_l max_r.
  let sumMean = 0;
  let sumMax = 0;
  for (const row of lawCounts) {
    const ranks = Array.from({ length: 8 }, (_, g) => row.slice(g * 8, g * 8 + 8).reduce((a, b) => a + b, 0));
    sumMean += ranks.reduce((a, b) => a + b, 0) / 8;
    sumMax += Math.max(...ranks);
  }
  assert.equal(r.analysis.layers.length, 26);
  assert.ok(Math.abs(r.analysis.summary.balancednessVllm - sumMean / sumMax) < 1e-9);
  assert.equal(r.analysis.summary.tokens, 8327);

  // 2. Plan: every plan is at or above its lower bound; ballast (balance first) is no worse than the
  // deepseek port in-sample at the same replica budget; replicas beat the replica-free defaults.
  const by = (name: string, tol?: number) => r.solvers.find((s: { solver: string; balanceTolerance?: number }) => s.solver === name && s.balanceTolerance === tol);
  for (const s of r.solvers) assert.ok(s.maxOverMean >= s.lowerBound - 1e-9, `${s.solver} below its bound`);
  assert.ok(by('ballast').maxOverMean <= by('deepseek').maxOverMean + 1e-12);
  assert.ok(by('deepseek').maxOverMean < by('linear').maxOverMean);
  // Linear's in-sample max/mean is the mean over layers of max rank / mean rank.
  let lin = 0;
  for (const row of lawCounts) {
    const ranks = Array.from({ length: 8 }, (_, g) => row.slice(g * 8, g * 8 + 8).reduce((a, b) => a + b, 0));
    lin += Math.max(...ranks) / (ranks.reduce((a, b) => a + b, 0) / 8);
  }
  assert.ok(Math.abs(by('linear').maxOverMean - lin / 26) < 1e-9);
  // With a 2% locality tolerance ballast sends each token to fewer GPUs than deepseek.
  assert.ok(by('ballast', 0.02).distinctRanksPerToken < by('deepseek').distinctRanksPerToken);

  // 3. Predict: held-out policies, all named; linear is the throughput baseline.
  const names = r.simulation.policies.map((p: { name: string }) => p.name);
  assert.deepEqual(names, ['linear', 'deepseek', 'ballast', 'oracle', 'vllm-eplb']);
  assert.equal(r.simulation.policies[0].throughputVsLinear, 1);

  // 4. Gate: one verdict per candidate, each a known verdict with its reasons.
  assert.deepEqual(r.gates.map((g: { redundant: number }) => g.redundant), [0, 8]);
  for (const g of r.gates) {
    assert.ok(['apply', 'keep current'].includes(g.gate.verdict));
    assert.ok(g.gate.reasons.length > 0);
  }
});

test('ballast demo: bad flags exit 2 with one line', () => {
  const res = spawnSync(process.execPath, ['bin/ballast.js', 'demo', '--ranks', '7'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(res.status, 2);
  assert.equal(res.stderr.trim().split('\n').length, 1);
  assert.match(res.stderr, /--ranks/);
});
