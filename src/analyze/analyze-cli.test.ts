/**
 * End to end: spawn `node bin/ballast.js analyze` on bundled real data (DeepSeek ESFT routing dumps,
 * github.com/deepseek-ai/ESFT, MIT; OLMoE counts, allenai/OLMoE, Apache-2.0) and check the JSON
 * against numbers computed independently: rank loads from the curated load_counts.json, and the
 * per-batch / per-token figures by a separate Python reading of the raw .tgz.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { makeLoadTrace } from '../core/load-trace.ts';
import { writeTraceFile } from '../ingest/ballast/writer.ts';
import type { AnalysisJson } from './analyze-trace.ts';

const LAW = 'data/esft-dsv2lite/raw/law.tgz';
const dir = mkdtempSync(join(tmpdir(), 'ballast-analyze-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function ballast(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/ballast.js', 'analyze', ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('analyze law.tgz --ranks 8 --json: structure, and rank loads equal load_counts.json summed per block of 8', () => {
  const r = ballast(LAW, '--ranks', '8', '--json');
  assert.equal(r.code, 0, r.stderr);
  const a = JSON.parse(r.stdout) as AnalysisJson;
  assert.equal(a.version, 1);
  assert.deepEqual(Object.keys(a).sort(), ['layers', 'summary', 'trace', 'version']);
  assert.equal(a.trace.layers, 26);
  assert.equal(a.trace.experts, 64);
  assert.equal(a.trace.topK, 6);
  assert.equal(a.layers.length, 26);
  assert.deepEqual(a.layers.map((l) => l.layer), Array.from({ length: 26 }, (_, i) => i + 1));
  for (const l of a.layers) {
    assert.equal(l.rankLoads!.length, 8);
    assert.equal(l.activatedExpertsPerRank!.length, 8);
  }

  const curated = JSON.parse(readFileSync('data/esft-dsv2lite/load_counts.json', 'utf8')).tasks.law.counts as number[][];
  let sumMean = 0;
  let sumMax = 0;
  for (let li = 0; li < 26; li++) {
    // linear over 8 ranks: rank r holds experts 8r..8r+7
    const want = Array.from({ length: 8 }, (_, r) => curated[li].slice(8 * r, 8 * r + 8).reduce((x, y) => x + y, 0));
    assert.deepEqual(a.layers[li].rankLoads, want, `layer ${li + 1}`);
    const mean = want.reduce((x, y) => x + y, 0) / 8;
    sumMean += mean;
    sumMax += Math.max(...want);
    const row = curated[li];
    assert.ok(Math.abs(a.layers[li].expertMaxOverMean - Math.max(...row) / (row.reduce((x, y) => x + y, 0) / 64)) < 1e-12);
  }
  assert.ok(Math.abs(a.summary.balancednessVllm! - sumMean / sumMax) < 1e-12);
  assert.equal(a.summary.ranks, 8);
  assert.equal(a.summary.placement, 'linear');
  assert.equal(a.summary.batchTokens, 512);
  assert.equal(a.summary.batches, Math.floor(8327 / 512));
  assert.equal(a.summary.tokens, 8327);
});

const PY = `
import sys, tarfile, re, json, math
path, G, B, k, E = sys.argv[1], 8, 512, 6, 64
layers = {}
with tarfile.open(path) as tf:
    for m in tf.getmembers():
        mm = re.search(r'expert_weights_(\\d+)\\.txt$', m.name)
        if not mm:
            continue
        ids = []
        for line in tf.extractfile(m).read().decode().split('\\n'):
            if line.strip():
                ids.extend(int(x) for x in line.split('\\t\\t')[0].split('\\t'))
        layers[int(mm.group(1))] = ids
lids = sorted(layers)
T = len(layers[lids[0]]) // k
per = E // G
tot = 0
for l in lids:
    ids = layers[l]
    for t in range(T):
        tot += len({e // per for e in ids[t*k:(t+1)*k]})
vals = []
for b in range(T // B):
    s = 0.0
    for l in lids:
        cnt = [0] * G
        for e in layers[l][b*B*k:(b+1)*B*k]:
            cnt[e // per] += 1
        s += max(cnt) / (B * k / G)
    vals.append(s / len(lids))
srt = sorted(vals)
print(json.dumps({"tokens": T, "distinct": tot / (T * len(lids)), "mean": sum(vals) / len(vals), "p99": srt[math.ceil(0.99 * len(vals)) - 1]}))
`;

test('per-batch max/mean and distinct ranks per token match an independent Python replay of the raw dump', (t) => {
  if (!existsSync('/usr/bin/python3')) {
    t.skip('no /usr/bin/python3 for the independent replay');
    return;
  }
  const py = spawnSync('/usr/bin/python3', ['-c', PY, LAW], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(py.status, 0, py.stderr);
  const want = JSON.parse(py.stdout) as { tokens: number; distinct: number; mean: number; p99: number };
  const r = ballast(LAW, '--ranks', '8', '--json');
  assert.equal(r.code, 0, r.stderr);
  const s = (JSON.parse(r.stdout) as AnalysisJson).summary;
  assert.equal(s.tokens, want.tokens);
  assert.ok(Math.abs(s.distinctRanksPerToken! - want.distinct) < 1e-12, `${s.distinctRanksPerToken} vs ${want.distinct}`);
  assert.ok(Math.abs(s.perBatchMaxOverMean!.mean! - want.mean) < 1e-12, `${s.perBatchMaxOverMean!.mean} vs ${want.mean}`);
  assert.ok(Math.abs(s.perBatchMaxOverMean!.p99! - want.p99) < 1e-12);
});

function olmoeBallast(domain: string, layers = 3): string {
  const src = JSON.parse(readFileSync('data/olmoe-routing-analysis/olmoe_mixtral_expert_counts.json', 'utf8'));
  const rows = (src.models.olmoe.domains[domain].expert_counts as number[][]).slice(0, layers);
  const p = join(dir, `olmoe-${domain}-${layers}.ballast`);
  const load = makeLoadTrace(
    { model: 'allenai/OLMoE-1B-7B-0924', layerIds: [0, 7, 15].slice(0, layers), topK: 8, sources: [{ path: p, format: 'ballast' }] },
    layers,
    64,
    Float64Array.from(rows.flat()),
  );
  writeTraceFile(p, { load });
  return p;
}

test('several inputs give a JSON array in input order; the terminal view lists worst layers first', () => {
  const arxiv = olmoeBallast('arxiv');
  const c4 = olmoeBallast('c4');
  const r = ballast(arxiv, c4, '--json');
  assert.equal(r.code, 0, r.stderr);
  const list = JSON.parse(r.stdout) as AnalysisJson[];
  assert.equal(list.length, 2);
  assert.equal(list[0].trace.model, 'allenai/OLMoE-1B-7B-0924');
  assert.deepEqual(list[0].layers.map((l) => l.layer), [0, 7, 15]);
  assert.equal(Math.round(list[0].summary.meanExpertMaxOverMean * 10) / 10, 7.2);
  assert.equal(Math.round(list[1].summary.meanExpertMaxOverMean * 10) / 10, 2.7);
  assert.equal(list[0].summary.ranks, undefined);

  const text = ballast(arxiv, '--ranks', '4', '--placement', 'round-robin');
  assert.equal(text.code, 0, text.stderr);
  assert.ok(!text.stdout.includes('\x1b['), 'no colour when not a TTY');
  assert.match(text.stdout, /Ranks: 4 \(round-robin placement\)/);
  assert.match(text.stdout, /balancedness\s+vLLM \d\.\d{3} · SGLang \d\.\d{3}/);
  // rows sorted by rank max/mean, descending
  const a = JSON.parse(ballast(arxiv, '--ranks', '4', '--placement', 'round-robin', '--json').stdout) as AnalysisJson;
  const order = [...a.layers].sort((x, y) => y.rankMaxOverMean! - x.rankMaxOverMean!).map((l) => String(l.layer));
  const shown = [...text.stdout.matchAll(/^\s+(\d+)\s+\d+\.\d\d [█▏▎▍▌▋▊▉]/gm)].map((m) => m[1]);
  assert.deepEqual(shown, order);
});

test('a plan file scores its own placement; a plan for another shape is refused', () => {
  const p = olmoeBallast('c4');
  // Rank 0 gets experts 0..31, rank 1 gets 32..63, in every layer (explicit linear over 2).
  const plan = {
    format: 'ballast-plan',
    version: 1,
    numLayers: 3,
    numExperts: 64,
    numRanks: 2,
    ranksPerNode: 2,
    layerIds: [0, 7, 15],
    phy2log: [0, 1, 2].map(() => Array.from({ length: 64 }, (_, i) => i)),
  };
  const planPath = join(dir, 'plan.json');
  writeFileSync(planPath, JSON.stringify(plan));
  const viaPlan = JSON.parse(ballast(p, '--placement', planPath, '--json').stdout) as AnalysisJson;
  const viaLinear = JSON.parse(ballast(p, '--ranks', '2', '--json').stdout) as AnalysisJson;
  assert.equal(viaPlan.summary.placement, `plan:${planPath}`);
  assert.deepEqual(viaPlan.layers.map((l) => l.rankLoads), viaLinear.layers.map((l) => l.rankLoads));
  const bad = ballast(LAW, '--placement', planPath);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /plan is for 3 layers x 64 experts but the trace has 26 layers x 64 experts/);
});

test('bad input: exit code 2 and exactly one line on stderr', () => {
  const junk = join(dir, 'junk.bin');
  writeFileSync(junk, Buffer.from([0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3]));
  const cases: [string[], RegExp][] = [
    [[junk], /junk\.bin: unrecognised format/],
    [[join(dir, 'missing.csv')], /missing\.csv: no such file or directory/],
    [[LAW, '--ranks', '7'], /--ranks: 64 experts do not divide evenly over 7 ranks/],
    [[LAW, '--ranks', 'x'], /--ranks: expected a positive integer/],
    [[LAW, '--placement', 'round-robin'], /--placement: round-robin placement needs --ranks G/],
    [[LAW, olmoeBallast('book', 2)], /olmoe-book-2\.ballast: shape 2x64 differs from .*law\.tgz 26x64/],
  ];
  for (const [args, msg] of cases) {
    const r = ballast(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    const lines = r.stderr.split('\n').filter((x) => x !== '');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /^ballast: /);
    assert.match(lines[0], msg);
  }
});
