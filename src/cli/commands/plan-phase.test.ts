import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { makeTokenRoutes } from '../../core/token-routes.ts';
import { writeTraceFile } from '../../ingest/ballast/writer.ts';
import { readPlanFile } from '../../plan/plan-file.ts';
import { runInProcess as run } from '../in-process.ts';
import { parsePhases, phaseOutPath } from './plan-phase.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-plan-phase-'));
after(() => rmSync(dir, { recursive: true, force: true }));


/**
 * 1 layer, 8 experts, top-2. 1200 tokens: the first 600 recorded as prefill (sequences of 100),
 * every one choosing expert 0 and one of 1..7 in turn; the next 600 as decode, choosing expert
 * (t mod 4) and 4 + (t mod 4). With DeepSeek-V2-Lite's expert size on H100s the weight stream of an
 * expert takes 5.16 us and a token 0.0175 us, so an expert is compute-bound above ~295 tokens per
 * step: in 512-token prefill steps expert 0 gets 512 tokens and a replica of it halves its GPU's
 * compute (replicas pay); in 8-token decode steps no expert is near the crossover and a replica only
 * adds a weight stream (none pays).
 */
function phasedTrace(path: string, withPhase: boolean) {
  const T = 1200;
  const ids = new Uint8Array(T * 2);
  const phase = new Uint8Array(T);
  for (let t = 0; t < T; t++) {
    if (t < 600) {
      ids[2 * t] = 0;
      ids[2 * t + 1] = 1 + (t % 7);
    } else {
      ids[2 * t] = t % 4;
      ids[2 * t + 1] = 4 + (t % 4);
      phase[t] = 1;
    }
  }
  const starts = Array.from({ length: 7 }, (_, i) => i * 100).concat([T]);
  const routes = makeTokenRoutes({
    meta: { layerIds: [1], topK: 2, sources: [{ path, format: 'test' }] },
    numLayers: 1,
    numExperts: 8,
    topK: 2,
    experts: ids,
    seqStarts: Uint32Array.from(starts),
    phase: withPhase ? phase : undefined,
  });
  writeTraceFile(path, { routes });
}

const PHASED = join(dir, 'phased.ballast');
const PLAIN = join(dir, 'plain.ballast');
phasedTrace(PHASED, true);
phasedTrace(PLAIN, false);
// One copy of each expert: 8 / 4 GPUs x 1 layer x 17 301 504 bytes = 34 603 008; one replica per GPU more: 51 904 512.
const EB = 17301504;
const common = ['--ranks', '4', '--model', 'DeepSeek-V2-Lite'];

test('parsePhases and phaseOutPath', () => {
  assert.deepEqual(parsePhases('prefill,decode'), ['prefill', 'decode']);
  assert.throws(() => parsePhases('prefil'), /expected prefill, decode, mix/);
  assert.equal(phaseOutPath('/x/plan.json', 'decode', true), '/x/plan.decode.json');
  assert.equal(phaseOutPath('/x/plan.json', 'decode', false), '/x/plan.json');
});

test('plan --phase prefill,decode: one file per instance role, replicas only where they pay, launch flags per role', async () => {
  const out = join(dir, 'pd.json');
  const r = await run(['plan', PHASED, ...common, '--phase', 'prefill,decode', '--prefill-tokens', '512', '--decode-tokens', '8', '--memory-budget', String(3 * EB), '--out', out, '--json', '--no-gate']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.match(j.phaseNote, /600 prefill, 600 decode tokens/);
  const pre = readPlanFile(join(dir, 'pd.prefill.json'));
  const dec = readPlanFile(join(dir, 'pd.decode.json'));
  assert.equal(pre.phy2log[0].length, 12, 'prefill: one replica per GPU');
  assert.equal(dec.phy2log[0].length, 8, 'decode: no replica');
  assert.ok(j.phases.prefill.launch.some((l: string) => l.includes('--disaggregation-mode prefill') && l.includes('--ep-num-redundant-experts 4')));
  assert.ok(j.phases.decode.launch.some((l: string) => l.includes('"kv_role":"kv_consumer"') && l.includes('"num_redundant_experts": 0')));
  assert.ok(!existsSync(out), 'several phases write one file per phase, not --out itself');
  // Validated selection, named in the notes: each phase's 600 tokens cut at the sequence start at 300.
  // A 512-token prefill step does not fit a 300-token held-out part, so prefill is scored in-sample.
  const notes = (p: string) => j.phases[p].notes as string[];
  assert.ok(notes('decode').some((n) => n.startsWith('selection validated: 2 folds: planning tokens [0, 300) and [300, 600)')), notes('decode').join('\n'));
  assert.ok(notes('prefill').includes('prefill: a 512-token step is larger than a held-out block, so prefill steps are scored in-sample'), notes('prefill').join('\n'));
  assert.ok(notes('prefill').some((n) => /^rows chosen \(layers\): \S+ R=4 x1$/.test(n)), notes('prefill').join('\n'));
});

test('plan --phase mix measures the mix from the recorded phases and gates at both step sizes', async () => {
  const r = await run(['plan', PHASED, ...common, '--phase', 'mix', '--prefill-tokens', '512', '--decode-tokens', '8', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  // 600 prefill tokens / 512 per step and 600 decode tokens / 8 per step: (600/8) / (600/512) = 64.
  assert.deepEqual(j.phases.mix.steps.map((s: { weight: number }) => s.weight), [1, 64]);
  assert.deepEqual(j.phases.mix.gates.map((g: { tokens: number }) => g.tokens), [512, 8]);
});

test('bad input: one line, exit 2 (phase not recorded, step larger than the trace, budget below one replica)', async () => {
  const notRecorded = await run(['plan', PLAIN, ...common, '--phase', 'decode']);
  assert.equal(notRecorded.code, 2);
  assert.match(notRecorded.stderr, /plain\.ballast: --phase decode: the trace does not record prefill\/decode phase/);
  assert.equal(notRecorded.stderr.trim().split('\n').length, 1);

  const tooBig = await run(['plan', PHASED, ...common, '--phase', 'prefill', '--prefill-tokens', '601']);
  assert.equal(tooBig.code, 2);
  assert.match(tooBig.stderr, /--prefill-tokens 601 is larger than the trace's 600 prefill tokens/);

  const budget = await run(['plan', PHASED, ...common, '--phase', 'decode', '--decode-tokens', '8', '--memory-budget', String(2 * EB + 1000)]);
  assert.equal(budget.code, 2);
  assert.match(budget.stderr, /no replica fits/);
  assert.equal(budget.stderr.trim().split('\n').length, 1);

  const stray = await run(['plan', PHASED, ...common, '--decode-tokens', '8']);
  assert.equal(stray.code, 2);
  assert.match(stray.stderr, /--decode-tokens: needs --phase/);
});

test('count-only trace: the step is checked against its tokens (counts / top-k) and the sampled routes are named', async () => {
  // Layer totals 26 token-expert pairs; with DeepSeek-V2-Lite's top-6 that is floor(26 / 6) = 4 tokens.
  const csv = join(dir, 'counts.csv');
  writeFileSync(csv, `layer,expert,count\n${[10, 2, 3, 1, 4, 4, 1, 1].map((c, e) => `0,${e},${c}`).join('\n')}\n`);
  const tooBig = await run(['plan', csv, ...common, '--phase', 'decode', '--any-phase', '--decode-tokens', '5', '--no-gate']);
  assert.equal(tooBig.code, 2);
  assert.match(tooBig.stderr, /--decode-tokens 5 is larger than the trace's 4 tokens/);
  const ok = await run(['plan', csv, ...common, '--phase', 'decode', '--any-phase', '--decode-tokens', '4', '--no-gate']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /count-only trace: 8192 tokens of routes sampled from the counts with top-6/);
});

test('--any-phase plans a trace without phase as the requested phase and says so', async () => {
  const r = await run(['plan', PLAIN, ...common, '--phase', 'decode', '--decode-tokens', '8', '--any-phase', '--no-gate']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /does not record prefill\/decode phase/);
  assert.ok(readFileSync(PLAIN).length > 0);
});
