/**
 * Capture from Python without a wrapper command (issue 15 item 2): `ballast agent-path` for PYTHONPATH,
 * the package installed with pip, and `with ballast_agent.capture(model, out=...)` writing the same trace
 * format as `ballast run`, with a one-line summary at exit. Mirrors: capture/python/tests/mirrors.py.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { totalCounts } from '../core/load-trace.ts';
import { readBallastTrace } from '../ingest/ballast/reader.ts';
import { BALLAST, FIXTURE, hostStderr, PYTHON, runBounded } from './test-helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-nb-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const SCRIPT = `import json, sys
sys.path.insert(0, ${JSON.stringify(join(FIXTURE, '..'))})
import torch, mirrors, ballast_agent
from run_cases import hf_steps
model, set_truth = mirrors.hf_model("deepseek_v2")
with ballast_agent.capture(model, out=sys.argv[1]) as cap:
    truth = hf_steps(model, set_truth, 3, 8)
print("TRUTH " + json.dumps(truth))
print("FILE", ballast_agent.__file__)
`;

test('ballast agent-path prints the agent directory; capture(model, out=...) writes an exact trace and one summary line', async () => {
  const p = await runBounded('node', [BALLAST, 'agent-path'], { timeoutMs: 60_000 });
  assert.equal(p.code, 0);
  const agentDir = p.stdout.trim();
  assert.ok(existsSync(join(agentDir, 'ballast_agent', '__init__.py')));
  const script = join(dir, 'nb.py');
  writeFileSync(script, SCRIPT);
  const out = join(dir, 'nb.ballast');
  const res = await runBounded(PYTHON, [script, out], { timeoutMs: 120_000, env: { PYTHONPATH: agentDir } });
  assert.equal(res.code, 0, res.stderr);
  const truth = JSON.parse(res.stdout.split('TRUTH ')[1].split('\n')[0]) as number[][];
  const trace = readBallastTrace(out, { warn: () => {} });
  assert.equal(trace.complete, true);
  assert.deepEqual(Array.from(totalCounts(trace.load!)), truth.flat());
  assert.equal(trace.load!.meta.extra?.capturePath, 'dispatch-hook');
  const summary = res.stderr.split('\n').filter((l) => l.startsWith('[ballast] captured '));
  assert.equal(summary.length, 1, res.stderr);
  // 2 x 5 prompt tokens + 3 decode steps x 2 = 16 tokens; top-2 x 3 layers
  assert.match(summary[0], new RegExp(`^\\[ballast\\] captured 16 tokens, 96 assignments over 3 MoE layers x 8 experts via dispatch-hook \\(torch [^)]*\\); self-check: ok; trace ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
  assert.equal(hostStderr(res.stderr).trim(), '');
});

test('pip install of capture/python gives the same package (installable, no dependencies fetched)', async () => {
  const target = join(dir, 'site');
  const pip = await runBounded(PYTHON, ['-m', 'pip', 'install', '--no-build-isolation', '--no-deps', '--no-index', '--target', target, join(FIXTURE, '..', '..')], { timeoutMs: 180_000 });
  assert.equal(pip.code, 0, pip.stderr);
  const script = join(dir, 'nb2.py');
  writeFileSync(script, SCRIPT);
  const out = join(dir, 'nb2.ballast');
  const res = await runBounded(PYTHON, [script, out], { timeoutMs: 120_000, env: { PYTHONPATH: target, BALLAST_CLI: `node ${BALLAST}` } });
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, new RegExp(`FILE ${target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/ballast_agent/__init__\\.py`));
  const truth = JSON.parse(res.stdout.split('TRUTH ')[1].split('\n')[0]) as number[][];
  assert.deepEqual(Array.from(totalCounts(readBallastTrace(out, { warn: () => {} }).load!)), truth.flat());
});
