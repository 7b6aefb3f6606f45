import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { readPlanFile } from '../../plan/plan-file.ts';
import { runInProcess as ballastInProcess } from '../in-process.ts';
import { parseBytes, uniformRedundantUnderBudget } from './plan.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/ballast.js');
const dir = mkdtempSync(join(tmpdir(), 'ballast-plan-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function ballast(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120000, env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}


// Two layers, eight experts. Layer 0: [10,2,3,1,4,4,0,0] (sum 24); layer 1: all 1 (sum 8).
const CSV = join(dir, 'load.csv');
writeFileSync(
  CSV,
  `layer,expert,count\n${[10, 2, 3, 1, 4, 4, 0, 0].map((c, e) => `0,${e},${c}`).join('\n')}\n${Array.from({ length: 8 }, (_, e) => `1,${e},1`).join('\n')}\n`,
);

test('plan --json on a CSV: linear numbers worked out by hand', () => {
  const r = ballast(['plan', CSV, '--ranks', '4', '--solver', 'linear', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.plan.solver, 'linear');
  assert.equal(j.plan.numRanks, 4);
  assert.equal(j.plan.numSlots, 8);
  assert.equal(j.plan.numLayers, 2);
  assert.deepEqual(j.plan.phy2log, [[0, 1, 2, 3, 4, 5, 6, 7], [0, 1, 2, 3, 4, 5, 6, 7]]);
  // layer 0 ranks 12 | 4 | 8 | 0, mean 6 -> 2; layer 1 -> 1; mean 1.5.
  assert.ok(Math.abs(j.stats.maxOverMean - 1.5) < 1e-12);
  // bound layer 0: heaviest (10) + lightest (0) on its 2-slot rank = 10 -> 10/6; layer 1: 2/2 = 1.
  assert.ok(Math.abs(j.stats.lowerBound - (10 / 6 + 1) / 2) < 1e-12);
  assert.ok(Math.abs(j.stats.gapToBound - 0.125) < 1e-12);
  assert.equal(j.stats.worstLayer, 0);
  assert.equal(j.stats.extraSlotsPerRank, 0);
  assert.equal(typeof j.timing.solveMs, 'number');
  assert.ok(j.timing.solveMs >= 0 && j.timing.solveMs < 10000);
});

test('plan --current (expert_to_ep_rank form) counts moves; --out writes a readable plan', () => {
  // Current: round-robin, rank of e = e mod 4. Linear rank r holds {2r, 2r+1}; of those, current had
  // expert 0 on rank 0 and 7 on rank 3 only -> 6 of 8 land on a new rank per layer, 12 over 2 layers.
  const cur = join(dir, 'current.json');
  writeFileSync(cur, JSON.stringify({ expert_to_ep_rank: [0, 1, 2, 3, 0, 1, 2, 3] }));
  const out = join(dir, 'plan.json');
  const r = ballast(['plan', CSV, '--ranks', '4', '--solver', 'linear', '--current', cur, '--expert-bytes', '1kB', '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.stats.expertsMoved, 12);
  assert.equal(j.stats.movedBytes, 12000);
  assert.equal(j.reference.name, 'current');
  // current: layer 0 ranks {10,4}=14 | {2,4}=6 | {3,0}=3 | {1,0}=1 -> 14/6; layer 1 -> 1.
  assert.ok(Math.abs(j.reference.maxOverMean - (14 / 6 + 1) / 2) < 1e-12);
  const back = readPlanFile(out);
  assert.deepEqual(back.phy2log.map((x) => Array.from(x)), j.plan.phy2log);
  assert.ok(Math.abs((back.stats?.maxOverMean as number) - 1.5) < 1e-12);
});

test('plan terminal output: summary and per-GPU bars of the worst layer', () => {
  const r = ballast(['plan', CSV, '--ranks', '4', '--solver', 'linear']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /solver linear\s+2 layers x 8 experts -> 4 GPUs, 8 slots \(0 redundant\)/);
  assert.match(r.stdout, /max\/mean\s+1\.500 in-sample/);
  assert.match(r.stdout, /gap 12\.50%/);
  assert.match(r.stdout, /gpu 0 █+\s+2\.00x/);
  assert.match(r.stdout, /gpu 3\s+0\.00x/);
});

test('impossible shapes exit 2 with one line naming the numbers', async () => {
  const bad = join(dir, 'bad-current.json');
  writeFileSync(bad, JSON.stringify({ expert_to_ep_rank: [[0, 0, 1, 1, 2, 2, 3, 3], [0, 0, 1, 1, 2, 2, 3, 3], [0, 0, 1, 1, 2, 2, 3, 3]] }));
  const cases: [string[], RegExp][] = [
    [['--ranks', '4', '--redundant', '2'], /10 slots \(8 experts \+ 2 redundant\) do not divide evenly over 4 GPUs/],
    [['--ranks', '16'], /8 slots \(8 experts \+ 0 redundant\) are fewer than 16 GPUs/],
    [['--ranks', '4', '--memory-budget', '300', '--expert-bytes', '100'], /300 bytes per GPU is below one copy of each expert: 8 experts \/ 4 GPUs x 2 layers x 100 bytes = 400/],
    [['--ranks', '4', '--memory-budget', '300'], /--memory-budget needs --expert-bytes/],
    [['--ranks', '4', '--nodes', '3'], /3 nodes do not divide 4 GPUs/],
    [['--ranks', '4', '--groups', '3'], /3 expert groups do not divide 8 experts/],
    [['--ranks', '4', '--cluster', '8xH100-SXM'], /--ranks 4 but the cluster 8xH100-SXM has 8 GPUs/],
    [['--ranks', '8', '--cluster', '8xH100-SXM', '--nodes', '2'], /--nodes 2 but the cluster 8xH100-SXM has 1 nodes/],
    [['--ranks', '4', '--current', bad], /plan is for 3 layers x 8 experts but the trace has 2 layers x 8 experts/],
    [['--ranks', '4', '--solver', 'nope'], /unknown solver 'nope'/],
    [['--ranks', 'four'], /--ranks: expected an integer >= 1, got "four"/],
    [['--ranks', '4', '--cluster', 'discover'], /neither nvidia-smi nor rocm-smi is available on this host/],
    [['--ranks', '4', '--cluster', 'no-such-preset'], /neither a preset \(8xH100-SXM/],
    [['--ranks', '4', '--variable-slots'], /--variable-slots: needs --memory-budget/],
  ];
  for (const [args, re] of cases) {
    const r = await ballastInProcess(['plan', CSV, ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
  // The real process exits 2 too.
  const r = ballast(['plan', CSV, '--ranks', '4', '--redundant', '2']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^ballast: --redundant: 10 slots/);
});

test('--memory-budget: total expert HBM per GPU; what is left over one copy buys uniform replicas', async () => {
  // one copy: 8/4 x 2 layers x 100 B = 400 B; 600 B leaves 200 B = one more slot per GPU in both layers.
  const r = await ballastInProcess(['plan', CSV, '--ranks', '4', '--solver', 'deepseek', '--memory-budget', '600', '--expert-bytes', '100', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.plan.numSlots, 12);
  assert.equal(j.plan.redundantSlots, 4);
  assert.equal(j.stats.extraSlotsPerRank, 2);
  assert.equal(j.stats.extraHbmBytes, 200);
  // Variable slots: the solver may spend the same 200 B per GPU unevenly across layers, never more.
  const v = await ballastInProcess(['plan', CSV, '--ranks', '4', '--memory-budget', '600', '--expert-bytes', '100', '--variable-slots', '--json']);
  assert.equal(v.code, 0, v.stderr);
  const jv = JSON.parse(v.stdout);
  assert.ok(jv.stats.extraHbmBytes <= 200, String(jv.stats.extraHbmBytes));
});

test('plan on the bundled ESFT law trace: linear max/mean and bound from load_counts.json', () => {
  const r = ballast(['plan', 'data/esft-dsv2lite/raw/law.tgz', '--ranks', '8', '--solver', 'linear', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.plan.numLayers, 26);
  assert.equal(j.plan.numExperts, 64);
  assert.deepEqual(j.plan.layerIds, Array.from({ length: 26 }, (_, i) => i + 1));
  // Independent: per-layer histograms shipped next to the raw data.
  const counts: number[][] = JSON.parse(readFileSync(join(ROOT, 'data/esft-dsv2lite/load_counts.json'), 'utf8')).tasks.law.counts;
  let mom = 0;
  let lb = 0;
  for (const w of counts) {
    const ranks = Array.from({ length: 8 }, (_, r) => w.slice(r * 8, r * 8 + 8).reduce((a, b) => a + b, 0));
    const mean = w.reduce((a, b) => a + b, 0) / 8;
    mom += Math.max(...ranks) / mean;
    // docs/solvers.md lower bound, without replicas: max(sum/G, heaviest + the S-1 lightest, pigeonhole w(G)+w(G+1)).
    const asc = w.slice().sort((a, b) => a - b);
    const desc = asc.slice().reverse();
    const heavyPlusLight = desc[0] + asc.slice(0, 7).reduce((a, b) => a + b, 0);
    lb += Math.max(mean, heavyPlusLight, desc[7] + desc[8]) / mean;
  }
  assert.ok(Math.abs(j.stats.maxOverMean - mom / 26) < 1e-9, `${j.stats.maxOverMean} vs ${mom / 26}`);
  assert.ok(Math.abs(j.stats.lowerBound - lb / 26) < 1e-9, `${j.stats.lowerBound} vs ${lb / 26}`);
  // Token routes are known: 6 experts per token land on 1..6 distinct GPUs.
  assert.ok(j.stats.distinctRanksPerToken > 1 && j.stats.distinctRanksPerToken <= 6);
});

test('plan says apply or keep current: held-out gate on the ESFT law trace', async () => {
  // Independent split: the first sequence start at or after half the tokens, from the raw trace.
  const { readInput } = await import('../../ingest/readers.ts');
  const routes = (await readInput(join(ROOT, 'data/esft-dsv2lite/raw/law.tgz'))).routes!;
  const cut = Array.from(routes.seqStarts).find((s) => s >= routes.numTokens / 2)!;
  const batches = Math.floor((routes.numTokens - cut) / 512);
  const r0 = ballast(['plan', 'data/esft-dsv2lite/raw/law.tgz', '--ranks', '8', '--json']);
  assert.equal(r0.code, 0, r0.stderr);
  const g0 = JSON.parse(r0.stdout).gate;
  assert.equal(g0.heldOut, true);
  assert.match(g0.plannedOn, new RegExp(`^tokens \\[0, ${cut}\\) of ${routes.numTokens}`));
  assert.equal(g0.uncertainty.batches, batches);
  assert.equal(g0.against, "linear (the engines' default)");
  // Balancing 64 experts on 8 GPUs without replicas: less imbalance, a gain that clears the noise.
  assert.ok(g0.imbalance.proposed < g0.imbalance.current);
  assert.equal(g0.verdict, 'apply');
  assert.ok(g0.gainPerStepUs > 2 * g0.uncertainty.stdErrUs);
  // 8 replicas per layer: a 9th active expert per GPU at ~48 tokens per expert costs more than balance saves.
  const r8 = ballast(['plan', 'data/esft-dsv2lite/raw/law.tgz', '--ranks', '8', '--redundant', '8']);
  assert.equal(r8.code, 0, r8.stderr);
  assert.match(r8.stdout, /gate {7}KEEP CURRENT vs linear/);
  assert.match(r8.stdout, /activates 8\.0 -> 9\.0 experts per layer/);
  // --no-gate: no verdict; a shape the model cannot be guessed from: a note instead of a verdict.
  assert.doesNotMatch(ballast(['plan', 'data/esft-dsv2lite/raw/law.tgz', '--ranks', '8', '--no-gate']).stdout, /gate /);
  const csv = ballast(['plan', CSV, '--ranks', '4', '--json']);
  assert.equal(csv.code, 0, csv.stderr);
  const jc = JSON.parse(csv.stdout);
  assert.equal(jc.gate, undefined);
  assert.match(jc.gateNotes[0], /^no gate: cannot tell the model of a 8-expert trace; pass --model/);
  // A bad --model stops before anything is solved or written: one line, exit 2.
  const out = join(dir, 'never.json');
  const bad = ballast(['plan', CSV, '--ranks', '4', '--model', 'no-such-model', '--out', out]);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr.trim().split('\n').filter((l) => !l.includes('nodedir')).length, 1);
  assert.match(bad.stderr, /--model: "no-such-model" is neither a file nor a known preset/);
  assert.equal(existsSync(out), false);
});

test('byte sizes and the uniform redundant count under a budget', () => {
  assert.equal(parseBytes('44MB', '--expert-bytes'), 44e6);
  assert.equal(parseBytes('2GiB', '--x'), 2 * 1024 ** 3);
  assert.equal(parseBytes('1000', '--x'), 1000);
  // E=64, G=8, L=26, 1 MB experts: 3 extra slots per GPU in every layer cost 78 MB; 80 MB buys 3 (R = 24).
  assert.equal(uniformRedundantUnderBudget(64, 8, 26, 1e6, 80e6), 24);
  // E=60, G=8: P0 = 64 needs 4 padding slots (0.5 per GPU per layer = 13 MB); 13 MB left buys nothing more.
  assert.equal(uniformRedundantUnderBudget(60, 8, 26, 1e6, 13e6), 4);
  assert.equal(uniformRedundantUnderBudget(60, 8, 26, 1e6, 13e6 + 26e6), 12);
});
