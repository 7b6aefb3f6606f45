import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTraceFile } from '../../ingest/ballast/writer.ts';
import { makeLoadTrace } from '../../core/load-trace.ts';
import { tinyTrace } from './fixtures.ts';

function ballast(args: string[]) {
  return spawnSync(process.execPath, ['bin/ballast.js', ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, NO_COLOR: '1' } });
}

test('CLI: report, diff and dashboard argument errors are one line with exit code 2', { timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-cli-'));
  try {
    const a = join(dir, 'a.ballast');
    writeTraceFile(a, { load: tinyTrace() });
    const b = join(dir, 'b.ballast');
    writeTraceFile(b, { load: makeLoadTrace({ layerIds: [3, 5], sources: [] }, 2, 8, new Float64Array(16).fill(1)) });
    let r = ballast(['report', a]);
    assert.equal(r.status, 2);
    assert.equal(r.stderr.trim(), 'ballast: --html: expected --html FILE and/or --json FILE');
    r = ballast(['report', a, '--ranks', '3', '--json', join(dir, 'x.json')]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^ballast: --ranks: 4 experts do not divide evenly over 3 ranks\n$/);
    r = ballast(['diff', a, b]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /has 8 experts per layer but .* has 4; expected the same model/);
    r = ballast(['dashboard']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /expected exactly one of --trace FILE or --collector ADDR/);
    // A working report: --json holds the model, and `diff` reads it back like a trace.
    const json = join(dir, 'a.report.json');
    r = ballast(['report', a, '--ranks', '2', '--solver', 'none', '--json', json]);
    assert.equal(r.status, 0, r.stderr);
    const model = JSON.parse(readFileSync(json, 'utf8'));
    assert.equal(model.format, 'ballast-report');
    assert.deepEqual(model.traces[0].placements.current.rankLoad, [18, 6]);
    r = ballast(['diff', json, a, '--json', '--ranks', '2']);
    assert.equal(r.status, 0, r.stderr);
    const d = JSON.parse(r.stdout);
    assert.equal(d.summary.meanTotalVariation, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
