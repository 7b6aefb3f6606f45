/**
 * Capture from Python without a wrapper command (issue 15 item 2): `ballast agent-path` for PYTHONPATH,
 * the package installed with pip, and `with ballast_agent.capture(model, out=...)` writing the same trace
 * format as `ballast run`, with a one-line summary at exit. Mirrors: capture/python/tests/mirrors.py.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

test('a DeepSeek-V2-style capture (decoder layer 0 dense) records num_hidden_layers; plan then export --to sglang writes that many rows, not inferred', async () => {
  const script = join(dir, 'dense.py');
  // Mirror config: first_k_dense_replace = 1, num_hidden_layers = 4 (layer 0 dense, MoE layers 1..3).
  writeFileSync(script, `import json, sys
sys.path.insert(0, ${JSON.stringify(join(FIXTURE, '..'))})
import torch, mirrors, ballast_agent
from run_cases import hf_steps
model, set_truth = mirrors.hf_model("deepseek_v2", dense_first=1, config={"model_type": "deepseek_v2", "num_hidden_layers": 4, "first_k_dense_replace": 1})
with ballast_agent.capture(model, out=sys.argv[1], quiet=True) as cap:
    truth = hf_steps(model, set_truth, 3, 8)
print("TRUTH " + json.dumps(truth))
`);
  const out = join(dir, 'dense.ballast');
  const res = await runBounded(PYTHON, [script, out], { timeoutMs: 120_000, env: { PYTHONPATH: join(FIXTURE, '..', '..'), BALLAST_CLI: `node ${BALLAST}` } });
  assert.equal(res.code, 0, res.stderr);
  const trace = readBallastTrace(out, { warn: () => {} });
  assert.deepEqual(trace.load!.meta.layerIds, [1, 2, 3]);
  assert.equal(trace.load!.meta.extra?.num_hidden_layers, 4);
  const truth = JSON.parse(res.stdout.split('TRUTH ')[1].split('\n')[0]) as number[][];
  assert.deepEqual(Array.from(totalCounts(trace.load!)), truth.flat());

  const planPath = join(dir, 'dense-plan.json');
  const plan = await runBounded('node', [BALLAST, 'plan', out, '--ranks', '2', '--out', planPath], { timeoutMs: 60_000 });
  assert.equal(plan.code, 0, plan.stderr);
  const sg = join(dir, 'dense-sglang.json');
  const exp = await runBounded('node', [BALLAST, 'export', planPath, '--to', 'sglang', '--out', sg], { timeoutMs: 60_000 });
  assert.equal(exp.code, 0, exp.stderr);
  const said = exp.stdout + exp.stderr;
  assert.doesNotMatch(said, /inferred|largest MoE layer id/, said);
  assert.match(said, /^ {2}4 decoder layers .* from the plan's params \(num_hidden_layers\)/m, said);
  const rows = (JSON.parse(readFileSync(sg, 'utf8')) as { physical_to_logical_map: number[][] }).physical_to_logical_map;
  assert.equal(rows.length, 4);
  // Every MoE row (1..3) places every one of the 8 experts; rows are 8 physical slots wide at least.
  for (const l of [1, 2, 3]) assert.deepEqual([...new Set(rows[l])].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7]);
});
