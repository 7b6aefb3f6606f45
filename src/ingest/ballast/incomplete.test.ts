/** A trace cut short (no END record) is flagged as incomplete by every command, in text and in --json. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { BALLAST, runBounded } from '../../capture/test-helpers.ts';
import { readInput } from '../readers.ts';
import { TraceWriter } from './writer.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-incomplete-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** 6 windows of 2 layers x 4 experts; `close` writes END, otherwise the writer is abandoned as a kill would. */
function trace(name: string, close: boolean): string {
  const p = join(dir, name);
  const w = new TraceWriter(p, { layerIds: [0, 1], sources: [] }, 4);
  for (let i = 0; i < 6; i++) w.appendLoad(Float64Array.from([5, 1, 1, 1, 2, 2, 2, 2 + i]), { tokens: 4 });
  if (close) w.close();
  else w.abandon();
  return p;
}

test('readInput marks a cut-short trace and leaves a closed one alone', async () => {
  const cut = await readInput(trace('a.ballast', false), { warn: () => {} });
  assert.match(cut.load.meta.sources[0].incomplete ?? '', /^incomplete: no END record/);
  assert.equal(cut.warnings.length, 1);
  const whole = await readInput(trace('b.ballast', true), { warn: () => {} });
  assert.equal(whole.load.meta.sources[0].incomplete, undefined);
  assert.deepEqual(whole.warnings, []);
});

test('analyze (text and --json) and plan (text and --json) say the trace is incomplete', async () => {
  const p = trace('c.ballast', false);
  const aj = await runBounded('node', [BALLAST, 'analyze', p, '--json'], { timeoutMs: 30_000 });
  assert.equal(aj.code, 0, aj.stderr);
  assert.match(JSON.parse(aj.stdout).trace.sources[0].incomplete, /no END record/);
  assert.match(aj.stderr, /c\.ballast: incomplete/);
  const at = await runBounded('node', [BALLAST, 'analyze', p], { timeoutMs: 30_000 });
  assert.match(at.stdout, /c\.ballast: incomplete: no END record/);
  const pj = await runBounded('node', [BALLAST, 'plan', p, '--ranks', '2', '--json'], { timeoutMs: 30_000 });
  assert.equal(pj.code, 0, pj.stderr);
  assert.match(JSON.parse(pj.stdout).plan.traceIncomplete, /no END record/);
  const pt = await runBounded('node', [BALLAST, 'plan', p, '--ranks', '2'], { timeoutMs: 30_000 });
  assert.match(pt.stdout, /trace +incomplete: no END record/);
  const closed = await runBounded('node', [BALLAST, 'plan', trace('d.ballast', true), '--ranks', '2', '--json'], { timeoutMs: 30_000 });
  assert.equal(JSON.parse(closed.stdout).plan.traceIncomplete, null);
});
