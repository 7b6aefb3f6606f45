/**
 * `ballast run` end to end with the real Python agent (/usr/bin/python3 + torch CPU) on the fixture
 * models in capture/python/tests/moe_fixture.py. The truth is what the fixture's blocks dispatched,
 * printed by the fixture itself.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { readBallastTrace } from '../ingest/ballast/reader.ts';
import { BALLAST, FIXTURE, hostStderr, PYTHON, runBounded, start, truthOf, waitFor } from './test-helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-run-'));
const env = { BALLAST_SESSION_DIR: join(dir, 'sessions'), NO_COLOR: '1' };
after(() => rmSync(dir, { recursive: true, force: true }));

function sumWindows(path: string, phase?: string): { L: number; E: number; counts: Float64Array; phases: (string | undefined)[] } {
  const r = readBallastTrace(path, { warn: () => {} });
  const l = r.load!;
  const per = l.numLayers * l.numExperts;
  const out = new Float64Array(per);
  for (let w = 0; w < l.numWindows; w++) {
    if (phase !== undefined && l.windows[w].phase !== phase) continue;
    for (let i = 0; i < per; i++) out[i] += l.counts[w * per + i];
  }
  return { L: l.numLayers, E: l.numExperts, counts: out, phases: l.windows.map((w) => w.phase) };
}

const flat = (m: number[][]) => m.flat();
const add = (a: number[][], b: number[][]) => a.map((row, i) => row.map((v, j) => v + b[i][j]));

for (const conv of ['hf', 'vllm', 'router', 'deepseek'] as const) {
  test(`counts captured by ballast run equal the true routing exactly (${conv} convention)`, async () => {
    const out = join(dir, `${conv}.ballast`);
    const fx = ['--conv', conv, '--steps', '5', '--sleep', '0.05'];
    const res = await runBounded('node', [BALLAST, 'run', '--out', out, '--flush-ms', '40', '--', PYTHON, FIXTURE, ...fx], { timeoutMs: 90_000, env });
    assert.equal(res.code, 0, res.stderr);
    const truth = truthOf(res.stdout);
    const trace = readBallastTrace(out, { warn: () => {} });
    assert.equal(trace.complete, true);
    assert.deepEqual(trace.load!.meta.layerIds, truth.layer_ids);
    assert.equal(trace.load!.numExperts, truth.experts);
    assert.equal(trace.load!.meta.topK, conv === 'hf' ? 4 : conv === 'router' ? 6 : 3);
    assert.ok(trace.load!.numWindows >= 2, `expected several windows, got ${trace.load!.numWindows}`);
    // The fixtures do not say how the MoE layers are sharded: nothing is recorded, nothing assumed.
    assert.equal(trace.load!.meta.moeParallel, undefined);
    const all = sumWindows(out);
    assert.deepEqual(Array.from(all.counts), flat(add(truth.counts.prefill, truth.counts.decode)));
    if (conv === 'hf' || conv === 'router') {
      // 3-D inputs: the agent tells prefill (seq > 1) from decode (seq == 1).
      assert.deepEqual(Array.from(sumWindows(out, 'prefill').counts), flat(truth.counts.prefill));
      assert.deepEqual(Array.from(sumWindows(out, 'decode').counts), flat(truth.counts.decode));
    } else {
      assert.ok(all.phases.every((p) => p === undefined), 'flattened vLLM inputs carry no phase');
    }
  });
}

test('how vLLM shards the MoE layers (FusedMoE use_ep / tp_size) reaches the trace, and the plan gate acts on tensor parallelism', async () => {
  for (const mode of ['ep', 'tp'] as const) {
    const out = join(dir, `moe-${mode}.ballast`);
    const res = await runBounded('node', [BALLAST, 'run', '--out', out, '--flush-ms', '40', '--', PYTHON, FIXTURE, '--conv', 'vllm', '--moe-parallel', mode, '--steps', '4', '--sleep', '0.05'], { timeoutMs: 90_000, env });
    assert.equal(res.code, 0, res.stderr);
    assert.equal(readBallastTrace(out, { warn: () => {} }).load!.meta.moeParallel, mode);
  }
  // Tensor-parallel MoE: every GPU holds a slice of every expert, so the gate keeps the current placement.
  const plan = await runBounded('node', [BALLAST, 'plan', join(dir, 'moe-tp.ballast'), '--ranks', '4', '--model', 'Mixtral-8x7B', '--json'], { timeoutMs: 90_000, env });
  assert.equal(plan.code, 0, plan.stderr);
  const gate = JSON.parse(plan.stdout).gate;
  assert.equal(gate.verdict, 'keep current');
  assert.ok(gate.warnings.some((w: string) => /tensor parallelism/.test(w)), JSON.stringify(gate.warnings));
});

test('sampled routes (1 token in 3) are the routes the blocks used', async () => {
  const out = join(dir, 'routes.ballast');
  const res = await runBounded(
    'node',
    [BALLAST, 'run', '--out', out, '--flush-ms', '40', '--sample-routes', '3', '--', PYTHON, FIXTURE, '--conv', 'hf', '--steps', '4', '--sleep', '0.05', '--dump-routes'],
    { timeoutMs: 90_000, env },
  );
  assert.equal(res.code, 0, res.stderr);
  const line = res.stdout.split('\n').find((l) => l.startsWith('ROUTES '))!;
  const truth = JSON.parse(line.slice(7)) as number[][][]; // [L][T][k]
  const T = truth[0].length; // 3*11 prefill + 4*3 decode = 45
  assert.equal(T, 45);
  const r = readBallastTrace(out, { warn: () => {} }).routes!;
  assert.equal(r.topK, 4);
  const sampled = Array.from({ length: T }, (_, t) => t).filter((t) => t % 3 === 0);
  assert.equal(r.numTokens, sampled.length);
  for (let i = 0; i < sampled.length; i++) {
    for (let l = 0; l < r.numLayers; l++) {
      const got = Array.from(r.experts.subarray((i * r.numLayers + l) * 4, (i * r.numLayers + l + 1) * 4)).sort((a, b) => a - b);
      assert.deepEqual(got, truth[l][sampled[i]], `token ${sampled[i]} layer ${l}`);
    }
  }
});

// ---- fault cases: output and exit code unchanged, program finishes ----

async function baseline(args: string[]) {
  return runBounded(PYTHON, [FIXTURE, ...args], { timeoutMs: 60_000 });
}

function sameAsBaseline(got: { code: number | null; stdout: string; stderr: string }, base: { code: number | null; stdout: string; stderr: string }) {
  assert.equal(got.code, base.code);
  assert.equal(got.stdout, base.stdout);
  assert.equal(hostStderr(got.stderr), hostStderr(base.stderr));
}

test('collector absent: output and exit code unchanged', async () => {
  const fx = ['--conv', 'hf', '--steps', '3', '--sleep', '0.05', '--exit-code', '3'];
  const base = await baseline(fx);
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r())); // the port is now closed
  const res = await runBounded('node', [BALLAST, 'run', '--collector', `127.0.0.1:${port}`, '--flush-ms', '30', '--', PYTHON, FIXTURE, ...fx], {
    timeoutMs: 60_000,
    env,
  });
  sameAsBaseline(res, base);
  assert.match(res.stderr, /\[ballast\] cannot send to collector/);
});

test('collector killed mid-run: output and exit code unchanged', async () => {
  const fx = ['--conv', 'vllm', '--steps', '12', '--sleep', '0.15'];
  const base = await baseline(fx);
  const col = start('node', [BALLAST, 'collect', '--port', '0'], { timeoutMs: 90_000, env });
  try {
    const url = await waitFor(() => /listening on (http:\/\/\S+)/.exec(col.stderr())?.[1], 20_000, 'collector start');
    const run = start('node', [BALLAST, 'run', '--collector', url, '--flush-ms', '30', '--', PYTHON, FIXTURE, ...fx], { timeoutMs: 90_000, env });
    try {
      await waitFor(async () => {
        const s = (await (await fetch(`${url}/api/snapshot`)).json()) as { windowsReceived: number };
        return s.windowsReceived >= 2 ? true : undefined;
      }, 40_000, 'first windows at the collector');
      col.child.kill('SIGKILL');
      const res = await run.done;
      sameAsBaseline(res, base);
    } finally {
      run.kill();
    }
  } finally {
    col.kill();
  }
});

test('slow collector (never answers): the program is not held back and its output is unchanged', async () => {
  const fx = ['--conv', 'hf', '--steps', '20', '--sleep', '0.02'];
  const base = await baseline(fx);
  const held: import('node:http').ServerResponse[] = [];
  const srv: Server = createServer((_req, res) => {
    held.push(res); // accept, never answer: back-pressure
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  try {
    const res = await runBounded(
      'node',
      [BALLAST, 'run', '--collector', `127.0.0.1:${port}`, '--flush-ms', '10', '--', PYTHON, FIXTURE, ...fx],
      { timeoutMs: 60_000, env: { ...env, BALLAST_QUEUE: '2' } },
    );
    sameAsBaseline(res, base);
    // Bounded exit: the agent waits at most BALLAST_EXIT_TIMEOUT_S (3 s) for a stuck collector.
    assert.ok(res.ms < base.ms + 15_000, `run took ${res.ms} ms vs ${base.ms} ms without ballast`);
  } finally {
    for (const r of held) r.destroy();
    srv.closeAllConnections();
    await new Promise<void>((r) => srv.close(() => r()));
  }
});

test('full disk for the trace (/dev/full): output and exit code unchanged, one notice', async () => {
  const fx = ['--conv', 'router', '--steps', '3', '--sleep', '0.03'];
  const base = await baseline(fx);
  const res = await runBounded('node', [BALLAST, 'run', '--out', '/dev/full', '--flush-ms', '30', '--', PYTHON, FIXTURE, ...fx], {
    timeoutMs: 60_000,
    env,
  });
  sameAsBaseline(res, base);
  assert.match(res.stderr, /\[ballast\] cannot write the trace \/dev\/full: .*ENOSPC/);
});

test('the program crashing: exit code and traceback preserved', async () => {
  const fx = ['--conv', 'hf', '--steps', '5', '--crash-after', '2'];
  const base = await baseline(fx);
  assert.equal(base.code, 1);
  assert.match(base.stderr, /RuntimeError: fixture crashed on purpose/);
  const out = join(dir, 'crash.ballast');
  const res = await runBounded('node', [BALLAST, 'run', '--out', out, '--flush-ms', '30', '--', PYTHON, FIXTURE, ...fx], { timeoutMs: 60_000, env });
  sameAsBaseline(res, base);
  // What ran before the crash is in the trace: the prefill and one decode step.
  const captured = sumWindows(out).counts.reduce((a, b) => a + b, 0);
  assert.equal(captured, (33 + 3) * 4 * 3); // (prefill 33 tokens + 1 decode step of 3) x top-4 x 3 layers
});

test('SIGTERM to ballast run reaches the program; exit code 128+15', async () => {
  const out = join(dir, 'term.ballast');
  const run = start('node', [BALLAST, 'run', '--out', out, '--flush-ms', '30', '--', PYTHON, FIXTURE, '--steps', '200', '--sleep', '0.1'], {
    timeoutMs: 60_000,
    env,
  });
  try {
    await waitFor(() => (run.stdout().includes('step 1 ') ? true : undefined), 40_000, 'the program to start stepping');
    run.child.kill('SIGTERM');
    const res = await run.done;
    assert.equal(res.code, 143);
    assert.ok(!res.stdout.includes('TRUTH'), 'the program was stopped before finishing');
  } finally {
    run.kill();
  }
});

test('a command that does not exist: exit code 127', async () => {
  const res = await runBounded('node', [BALLAST, 'run', '--out', join(dir, 'x.ballast'), '--', '/nonexistent/prog'], { timeoutMs: 30_000, env });
  assert.equal(res.code, 127);
  assert.match(res.stderr, /cannot start \/nonexistent\/prog: ENOENT/);
});
