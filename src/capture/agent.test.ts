/**
 * Python agent behaviour through `ballast run`: inference mode, sitecustomize chaining, programs
 * without MoE, and self-disabling on surprises (the host never sees an agent error).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { totalCounts } from '../core/load-trace.ts';
import { readBallastTrace } from '../ingest/ballast/reader.ts';
import { BALLAST, FIXTURE, hostStderr, PYTHON, runBounded } from './test-helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-agent-'));
const env = { BALLAST_SESSION_DIR: join(dir, 'sessions') };
after(() => rmSync(dir, { recursive: true, force: true }));

function script(name: string, body: string): string {
  const p = join(dir, name);
  writeFileSync(p, body);
  return p;
}

const FIXTURE_DIR = join(FIXTURE, '..');

test('counts stay exact when the first forward runs under inference_mode and later ones under no_grad', async () => {
  const p = script(
    'modes.py',
    `import sys, json, torch
sys.path.insert(0, ${JSON.stringify(FIXTURE_DIR)})
from moe_fixture import ToyMoeForCausalLM
torch.manual_seed(1)
m = ToyMoeForCausalLM("hf").eval()
blocks = m.moe_blocks()
truth = [[0] * 16 for _ in blocks]
for i, b in enumerate(blocks):
    b.truth = truth[i]
ids = torch.randint(0, 100, (2, 5))
with torch.inference_mode():
    m(ids)
with torch.no_grad():
    m(ids[:, :1])
m(ids[:, :3])  # grad mode too
print("TRUTH " + json.dumps(truth))
`,
  );
  const out = join(dir, 'modes.ballast');
  const res = await runBounded('node', [BALLAST, 'run', '--out', out, '--', PYTHON, p], { timeoutMs: 60_000, env });
  assert.equal(res.code, 0, res.stderr);
  assert.doesNotMatch(res.stderr, /capture disabled/);
  const truth = JSON.parse(res.stdout.split('TRUTH ')[1]) as number[][];
  assert.deepEqual(Array.from(totalCounts(readBallastTrace(out, { warn: () => {} }).load!)), truth.flat());
});

test('an existing sitecustomize still runs (chained), and a program without MoE is left alone', async () => {
  const other = join(dir, 'other-site');
  mkdirSync(other, { recursive: true });
  writeFileSync(join(other, 'sitecustomize.py'), 'import sys\nsys.stdout.write("user sitecustomize ran\\n")\n');
  const p = script('dense.py', 'import torch\nm = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU())\nprint(m(torch.ones(1, 4)).shape)\n');
  const base = await runBounded(PYTHON, [p], { timeoutMs: 60_000, env: { PYTHONPATH: other } });
  assert.equal(base.stdout, 'user sitecustomize ran\ntorch.Size([1, 4])\n');
  const out = join(dir, 'dense.ballast');
  const res = await runBounded('node', [BALLAST, 'run', '--out', out, '--', PYTHON, p], { timeoutMs: 60_000, env: { ...env, PYTHONPATH: other } });
  assert.equal(res.code, 0);
  assert.equal(res.stdout, base.stdout);
  assert.match(res.stderr, /\[ballast\] no MoE routing was captured; no trace written/);
});

test('a router output the agent does not understand disables it with one line; the program is untouched', async () => {
  const p = script(
    'odd.py',
    `import torch, torch.nn as nn
class Gate(nn.Module):
    def forward(self, x):
        return {"logits": x}          # not a tensor or a tuple
class OddMoeBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = Gate()
        self.experts = nn.ModuleList([nn.Linear(4, 4) for _ in range(4)])
        self.top_k = 2
    def forward(self, x):
        self.gate(x)
        return self.experts[0](x)
m = nn.Sequential(OddMoeBlock(), OddMoeBlock())
for _ in range(3):
    y = m(torch.ones(2, 4))
print("done", tuple(y.shape))
`,
  );
  const base = await runBounded(PYTHON, [p], { timeoutMs: 60_000 });
  const res = await runBounded('node', [BALLAST, 'run', '--out', join(dir, 'odd.ballast'), '--', PYTHON, p], { timeoutMs: 60_000, env });
  assert.equal(res.code, base.code);
  assert.equal(res.stdout, base.stdout);
  assert.equal(hostStderr(res.stderr), hostStderr(base.stderr));
  assert.equal(res.stderr.match(/capture disabled/g)?.length, 1, res.stderr);
});

test('top-k comes from the module (never assumed): a block without one is reported, not guessed', async () => {
  const p = script(
    'nok.py',
    `import torch, torch.nn as nn
class NoKMoeBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = nn.Linear(4, 8)
        self.experts = nn.ModuleList([nn.Linear(4, 4) for _ in range(8)])
    def forward(self, x):
        self.gate(x)
        return x
m = NoKMoeBlock()
m(torch.ones(3, 4))
print("ok")
`,
  );
  const res = await runBounded('node', [BALLAST, 'run', '--out', join(dir, 'nok.ballast'), '--', PYTHON, p], { timeoutMs: 60_000, env });
  assert.equal(res.code, 0);
  assert.equal(res.stdout, 'ok\n');
  assert.match(res.stderr, /\[ballast\] capture disabled: .*cannot tell top-k/);
});

test('windows flush while the program idles (no step needed to push the last counts out)', async () => {
  // One forward, then a long idle; the collector must see the window before the program ends.
  const p = script(
    'idle.py',
    `import sys, time, json, urllib.request, os, torch
sys.path.insert(0, ${JSON.stringify(FIXTURE_DIR)})
from moe_fixture import ToyMoeForCausalLM
m = ToyMoeForCausalLM("vllm").eval()
with torch.no_grad():
    m(torch.randint(0, 100, (1, 4)))
url = os.environ["BALLAST_COLLECTOR"].split(",")[0]
deadline = time.time() + 20
seen = 0
while time.time() < deadline and seen == 0:
    time.sleep(0.1)
    seen = json.load(urllib.request.urlopen(url + "/api/snapshot"))["windowsMerged"]
print("seen", seen)
`,
  );
  const res = await runBounded('node', [BALLAST, 'run', '--out', join(dir, 'idle.ballast'), '--flush-ms', '100', '--', PYTHON, p], { timeoutMs: 60_000, env });
  assert.equal(res.code, 0, res.stderr);
  assert.equal(res.stdout, 'seen 1\n');
});

test('a forked worker keeps counting on its own (after-fork reset), and both processes reach the trace', async () => {
  const p = script(
    'fork.py',
    `import os, sys, json, torch
sys.path.insert(0, ${JSON.stringify(FIXTURE_DIR)})
from moe_fixture import ToyMoeForCausalLM
torch.manual_seed(3)
m = ToyMoeForCausalLM("hf").eval()
blocks = m.moe_blocks()
def run(seed):
    truth = [[0] * 16 for _ in blocks]
    for i, b in enumerate(blocks):
        b.truth = truth[i]
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        m(torch.randint(0, 100, (2, 6), generator=g))
    return truth
parent = run(1)
pid = os.fork()
if pid == 0:
    print("CHILD " + json.dumps(run(2)))
    sys.stdout.flush()
    sys.exit(0)
os.waitpid(pid, 0)
more = run(3)
print("PARENT " + json.dumps([[a + b for a, b in zip(r1, r2)] for r1, r2 in zip(parent, more)]))
`,
  );
  const out = join(dir, 'fork.ballast');
  const res = await runBounded('node', [BALLAST, 'run', '--out', out, '--', PYTHON, p], { timeoutMs: 60_000, env });
  assert.equal(res.code, 0, res.stderr);
  const get = (tag: string) => JSON.parse(res.stdout.split('\n').find((l) => l.startsWith(tag))!.slice(tag.length)) as number[][];
  const child = get('CHILD ');
  const parent = get('PARENT ');
  const want = parent.map((row, l) => row.map((v, e) => v + child[l][e])).flat();
  assert.deepEqual(Array.from(totalCounts(readBallastTrace(out, { warn: () => {} }).load!)), want);
  assert.match(res.stderr, /2 agent process\(es\)/);
});
