import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { writePlanFile } from '../../plan/plan-file.ts';
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
    // A plan for another model (8 experts) beside a 4-expert trace: exit 2, one line, nothing written.
    const other = join(dir, 'other.json');
    writePlanFile(other, { version: 1, numLayers: 2, numExperts: 8, numRanks: 2, ranksPerNode: 2, layerIds: [3, 5], phy2log: [Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7]), Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7])] });
    r = ballast(['report', a, other, '--json', join(dir, 'y.json')]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^ballast: [^\n]*other\.json: the plan is for 2 layers x 8 experts but a\.ballast is 2 x 4 \(tiny-moe\); expected a plan for the trace given\n$/);
    assert.ok(!existsSync(join(dir, 'y.json')));
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
