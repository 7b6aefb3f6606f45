/**
 * The collector never loses what it acknowledged: kill -9 and restart on the same --out appends
 * (earlier windows kept, the open merged window replayed from the journal), a file it did not write is
 * refused by name, and readers flag a trace that was cut short. Real processes, loopback only.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { InputError } from '../core/errors.ts';
import { makeLoadTrace } from '../core/load-trace.ts';
import { readBallastTrace } from '../ingest/ballast/reader.ts';
import { writeTraceFile } from '../ingest/ballast/writer.ts';
import { Collector } from './collector.ts';
import { journalPath, missingParts } from './durable.ts';
import { BALLAST, runBounded, start, waitFor } from './test-helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-durable-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** 2 layers x 3 experts; flush_ms 20 s so a merged window stays open until every rank sent its part. */
function body(rank: number, seq: number, counts: number[], tokens = 3) {
  return {
    v: 1,
    session: 's',
    pid: 1000 + rank,
    host: 'h',
    rank,
    tp_rank: null,
    model: 'toy',
    layer_ids: [4, 9],
    experts: 3,
    top_k: 2,
    seq,
    step: seq + 1,
    time_ms: 1_700_000_000_000 + seq * 1000,
    final: false,
    flush_ms: 20_000,
    dropped: 0,
    parts: [{ phase: 'decode', steps: 1, tokens, counts }],
  };
}

async function post(url: string, b: unknown): Promise<number> {
  const r = await fetch(`${url}/api/v1/windows`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(b) });
  await r.text();
  return r.status;
}

function sum(a: number[], b: number[]): number[] {
  return a.map((x, i) => x + b[i]);
}

test('kill -9 then restart on the same --out: every acknowledged window is in the trace, and the restart says what it recovered', async () => {
  const out = join(dir, 'restart.ballast');
  let want = [0, 0, 0, 0, 0, 0];
  const c1 = start('node', [BALLAST, 'collect', '--port', '0', '--out', out], { timeoutMs: 60_000, env: { BALLAST_SESSION_DIR: join(dir, 's1') } });
  try {
    const url = await waitFor(() => /listening on (http:\/\/\S+)/.exec(c1.stderr())?.[1], 30_000, 'collector start');
    // Merged windows: {r0 s0} (rank 0 is the only sender yet), {r1 s0 + r0 s1}; then r1 s1 opens a third
    // that waits for rank 0 (grace 30 s) when the collector is killed.
    const sent: [number, number, number[]][] = [
      [0, 0, [1, 2, 3, 4, 5, 6]],
      [1, 0, [10, 0, 0, 0, 0, 10]],
      [0, 1, [2, 2, 2, 2, 2, 2]],
      [1, 1, [100, 0, 1, 0, 0, 101]],
    ];
    for (const [rank, seq, counts] of sent) {
      assert.equal(await post(url, body(rank, seq, counts)), 200);
      want = sum(want, counts);
    }
    c1.child.kill('SIGKILL');
    await c1.done;
  } finally {
    c1.kill();
  }
  // Before the restart: the trace holds the two merged windows, no END; the third is only in the journal.
  const cut = readBallastTrace(out, { warn: () => {} });
  assert.equal(cut.complete, false);
  assert.equal(cut.load!.numWindows, 2);
  assert.ok(existsSync(journalPath(out)));

  const c2 = start('node', [BALLAST, 'collect', '--port', '0', '--out', out], { timeoutMs: 60_000, env: { BALLAST_SESSION_DIR: join(dir, 's2') } });
  try {
    const url = await waitFor(() => /listening on (http:\/\/\S+)/.exec(c2.stderr())?.[1], 30_000, 'collector restart');
    assert.match(c2.stderr(), /appending to .*restart\.ballast .*recovered 2 windows, 9 tokens, plus the open window from ranks 1 \(3 tokens\) that was acknowledged/);
    assert.equal(await post(url, body(0, 3, [0, 0, 0, 5, 0, 0])), 200);
    want = sum(want, [0, 0, 0, 5, 0, 0]);
    // A window of another shape is refused: the reopened trace fixed the session's shape.
    const other = { ...body(0, 4, [1, 1, 1, 1]), experts: 2 };
    assert.equal(await post(url, other), 409);
    c2.child.kill('SIGTERM');
    const fin = await c2.done;
    assert.equal(fin.code, 0, fin.stderr);
  } finally {
    c2.kill();
  }
  const r = readBallastTrace(out, { warn: () => {} });
  assert.equal(r.complete, true);
  const L = 2;
  const E = 3;
  const got = new Array(L * E).fill(0);
  for (let w = 0; w < r.load!.numWindows; w++) for (let i = 0; i < L * E; i++) got[i] += r.load!.counts[w * L * E + i];
  assert.deepEqual(got, want);
  // 2 complete windows + the replayed open one + the window after the restart.
  assert.equal(r.load!.numWindows, 4);
  assert.equal(r.load!.meta.model, 'toy');
  assert.ok(!existsSync(journalPath(out)), 'journal removed after a clean stop');
});

test('a file the collector did not write is refused with one line naming it, and left untouched', async () => {
  const csv = join(dir, 'mine.csv');
  writeFileSync(csv, 'layer,expert,count\n0,0,1\n');
  const r = await runBounded('node', [BALLAST, 'collect', '--port', '0', '--out', csv], { timeoutMs: 30_000, env: { BALLAST_SESSION_DIR: join(dir, 's3') } });
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /mine\.csv: exists and is not a ballast trace; .*will not touch this file/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  // A ballast trace written by `export`/`writeTraceFile` (not a collector) is refused too.
  const other = join(dir, 'exported.ballast');
  writeTraceFile(other, { load: makeLoadTrace({ layerIds: [0], sources: [] }, 1, 2, Float64Array.from([1, 2]), [{}]) });
  assert.throws(() => new Collector({ out: other, log: () => {} }), (e: InputError) => e.file === other && /not written by a ballast collector/.test(e.message));
  assert.equal(readBallastTrace(other, { warn: () => {} }).load!.numWindows, 1);
});

test('missingParts: a crash between the records of one flush replays only the phases the trace lacks', () => {
  const c = (v: number) => Float64Array.from([v, v]);
  const open = { base: 5, timeMs: 0, ranks: [0], parts: [{ phase: 'prefill' as const, tokens: 1, counts: c(1) }, { phase: 'decode' as const, tokens: 2, counts: c(2) }] };
  const phases5 = new Array(5).fill('decode');
  assert.equal(missingParts(open, phases5).length, 2); // nothing of the flush written
  assert.deepEqual(missingParts(open, [...phases5, 'prefill']).map((p) => p.phase), ['decode']); // prefill written, then killed
  assert.deepEqual(missingParts(open, [...phases5, 'prefill', 'decode']), []); // flushed; the journal reset was lost
});
