import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { makeLoadTrace } from '../../core/load-trace.ts';
import { main } from '../../cli/main.ts';
import { parseLaunch } from './launch.ts';
import { type Finding, runDoctor } from './doctor.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-doctor-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const ids = (fs: Finding[]) => fs.map((f) => f.id);
const find = (fs: Finding[], id: string) => fs.find((f) => f.id === id);
const sh = (s: string) => s.split(' ');

test('launch parsing: vLLM positional model, =values, short aliases, switches; SGLang model path', () => {
  const v = parseLaunch(['vllm', 'serve', 'm/x', '-tp', '4', '--enable-eplb', '--gpu-memory-utilization=0.8', '--eplb-config', '{"a":1}']);
  assert.equal(v.engine, 'vllm');
  assert.equal(v.model, 'm/x');
  assert.equal(v.flags.get('--tensor-parallel-size'), '4');
  assert.equal(v.flags.get('--enable-eplb'), true);
  assert.equal(v.flags.get('--gpu-memory-utilization'), '0.8');
  assert.equal(v.flags.get('--eplb-config'), '{"a":1}');
  const s = parseLaunch(sh('python -m sglang.launch_server --model-path /m --tp 8 --enable-eplb --ep-size 8'));
  assert.equal(s.engine, 'sglang');
  assert.equal(s.model, '/m');
  assert.equal(s.flags.get('--ep-size'), '8');
});

test('tp-without-ep: Mixtral (8 experts) on TP 2 without expert parallelism; gone with -ep / --ep-size', async () => {
  const r = await runDoctor({ argv: sh('vllm serve mistralai/Mixtral-8x7B-v0.1 --tensor-parallel-size 2') });
  const f = find(r.findings, 'tp-without-ep')!;
  assert.equal(f.severity, 'warning');
  assert.match(f.message, /8 routed experts.*tensor parallelism 2.*4 whole experts per GPU/);
  assert.equal(f.flag, '--enable-expert-parallel');
  assert.ok(!ids((await runDoctor({ argv: sh('vllm serve mistralai/Mixtral-8x7B-v0.1 --tensor-parallel-size 2 -ep') })).findings).includes('tp-without-ep'));
  const sg = await runDoctor({ argv: sh('python -m sglang.launch_server --model-path mistralai/Mixtral-8x7B-v0.1 --tp 2') });
  assert.equal(find(sg.findings, 'tp-without-ep')!.flag, '--ep-size 2');
  assert.ok(!ids((await runDoctor({ argv: sh('python -m sglang.launch_server --model-path mistralai/Mixtral-8x7B-v0.1 --tp 2 --ep-size 2') })).findings).includes('tp-without-ep'));
});

test('redundant-experts-oom: DeepSeek-V3 EP8 with 8 redundant experts (numbers by hand)', async () => {
  const argv = ['vllm', 'serve', 'deepseek-ai/DeepSeek-V3', '--tensor-parallel-size', '8', '--enable-expert-parallel', '--enable-eplb', '--eplb-config', '{"num_redundant_experts": 8}', '--max-model-len', '8192'];
  const r = await runDoctor({ argv });
  const f = find(r.findings, 'redundant-experts-oom')!;
  // B_e = 3*7168*2048*1 (FP8) = 44,040,192 B; 1 extra slot x 58 MoE layers = 2,554,331,136 B = 2.4 GiB;
  // routed experts per GPU 32 x 58 x B_e = 76.1 GiB; 78.5 GiB > 0.9 x 80 = 72.0 GiB
  assert.match(f.message, /= 2\.4 GiB per GPU/);
  assert.match(f.message, /76\.1 GiB of routed-expert weights/);
  assert.match(f.message, /78\.5 GiB, over the 72\.0 GiB/);
  assert.equal(f.severity, 'error');
  // An H200 (141 GiB) holds it.
  assert.ok(!ids((await runDoctor({ argv, gpuMemoryGb: 141 })).findings).includes('redundant-experts-oom'));
  const nd = await runDoctor({ argv: argv.map((a) => (a.startsWith('{') ? '{"num_redundant_experts": 6}' : a)) });
  assert.match(find(nd.findings, 'redundant-not-divisible')!.message, /6 redundant experts do not divide over 8 EP ranks \(256 \+ 6 = 262 slots/);
});

test('eplb-no-headroom above 0.95 utilization, only with EPLB on', async () => {
  const on = await runDoctor({ argv: sh('vllm serve Qwen/Qwen3-30B-A3B -tp 4 -ep --enable-eplb --gpu-memory-utilization 0.97 --max-model-len 8192') });
  assert.match(find(on.findings, 'eplb-no-headroom')!.message, /only 2\.4 GiB of 80\.0 GiB/);
  const off = await runDoctor({ argv: sh('vllm serve Qwen/Qwen3-30B-A3B -tp 4 -ep --gpu-memory-utilization 0.97 --max-model-len 8192') });
  assert.deepEqual(ids(off.findings), []);
});

test('max-model-len-unset: presets and a local config.json', async () => {
  assert.match(find((await runDoctor({ argv: sh('vllm serve Qwen/Qwen3-30B-A3B') })).findings, 'max-model-len-unset')!.message, /40960/);
  assert.ok(!ids((await runDoctor({ argv: sh('vllm serve mistralai/Mixtral-8x7B-v0.1') })).findings).includes('max-model-len-unset'));
  const cfgDir = join(dir, 'model');
  rmSync(cfgDir, { recursive: true, force: true });
  (await import('node:fs')).mkdirSync(cfgDir);
  writeFileSync(join(cfgDir, 'config.json'), JSON.stringify({ hidden_size: 1024, moe_intermediate_size: 512, num_experts: 16, num_experts_per_tok: 2, num_hidden_layers: 4, max_position_embeddings: 131072, torch_dtype: 'bfloat16' }));
  const r = await runDoctor({ argv: ['python', '-m', 'sglang.launch_server', '--model-path', cfgDir] });
  assert.equal(find(r.findings, 'max-model-len-unset')!.flag, '--context-length <longest context you serve>');
  assert.ok(!ids((await runDoctor({ argv: ['python', '-m', 'sglang.launch_server', '--model-path', cfgDir, '--context-length', '8192'] })).findings).includes('max-model-len-unset'));
});

test('hierarchical-disabled: DeepSeek-V3 n_group 8 over 3 nodes; fine over 2', async () => {
  const base = 'python -m sglang.launch_server --model-path deepseek-ai/DeepSeek-V3 --tp 24 --ep-size 24 --enable-eplb --context-length 8192';
  const r = await runDoctor({ argv: sh(`${base} --nnodes 3`) });
  assert.match(find(r.findings, 'hierarchical-disabled')!.message, /8 expert group\(s\) \(n_group\) do not divide over 3 nodes/);
  const ok = await runDoctor({ argv: sh('python -m sglang.launch_server --model-path deepseek-ai/DeepSeek-V3 --tp 16 --ep-size 16 --enable-eplb --context-length 8192 --nnodes 2') });
  assert.ok(!ids(ok.findings).includes('hierarchical-disabled'));
});

test('unknown model: says so and still reports what the flags show', async () => {
  const r = await runDoctor({ argv: sh('vllm serve nobody/unknown-moe -tp 8 --enable-eplb --gpu-memory-utilization 0.99') });
  assert.deepEqual(ids(r.findings), ['model-config-unavailable', 'tp-without-ep', 'eplb-no-headroom']);
  assert.equal(find(r.findings, 'tp-without-ep')!.severity, 'info');
});

test('vLLM log: wrong-axis lines found against the trace window of the same step', async () => {
  // L = 2, E = 4, G = 4 (linear: expert e on rank e). Step 1 rank loads [[10,0,0,6],[2,2,2,2]]:
  // correct avg 6, max 12, 0.5; wrong axis avg 12, max 20, 0.6.
  const trace = makeLoadTrace({ layerIds: [0, 1], sources: [] }, 2, 4, Float64Array.from([10, 0, 0, 6, 2, 2, 2, 2]), [{ step: 1 }]);
  const log = join(dir, 'v.log');
  writeFileSync(log, 'INFO 08-01 00:00:00 [eplb_state.py:1] EPLB step: 1 for model m: avg_tokens=12.00, max_tokens=20, balancedness=0.6000\n');
  const r = await runDoctor({ argv: [], vllmLog: log, trace: { load: trace }, ranks: 4 });
  assert.match(find(r.findings, 'log-wrong-axis')!.message, /1 of 1 logged steps.*logged 0\.6000, correct 0\.5000/);
  assert.match(find(r.findings, 'log-balancedness')!.message, /1 EPLB step lines/);
});

test('CLI --json prints {facts, findings[{id, severity, message}]}', async () => {
  let out = '';
  const orig = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((s: string) => {
    out += s;
    return true;
  }) as typeof process.stdout.write;
  let code: number;
  try {
    code = await main(['doctor', '--json', '--', 'vllm', 'serve', 'mistralai/Mixtral-8x7B-v0.1', '--tensor-parallel-size', '2']);
  } finally {
    process.stdout.write = orig;
  }
  assert.equal(code, 0);
  const j = JSON.parse(out);
  assert.equal(j.findings[0].id, 'tp-without-ep');
  assert.equal(typeof j.findings[0].severity, 'string');
  assert.equal(typeof j.findings[0].message, 'string');
});

test('EPLB pay-off on a trace: uniform load -> eplb-not-worth-it; two hot experts -> eplb-pays', async () => {
  const L = 32;
  const E = 8;
  const W = 16;
  const mk = (f: (e: number) => number) => {
    const c = new Float64Array(W * L * E);
    for (let i = 0; i < c.length; i++) c[i] = f(i % E);
    return makeLoadTrace({ layerIds: Array.from({ length: L }, (_, i) => i), sources: [] }, L, E, c, Array.from({ length: W }, (_, i) => ({ step: i, tokens: 512 })));
  };
  const argv = ['vllm', 'serve', 'mistralai/Mixtral-8x7B-v0.1', '-tp', '4', '-ep', '--enable-eplb'];
  const flat = await runDoctor({ argv, trace: { load: mk(() => 128) } });
  const f = find(flat.findings, 'eplb-not-worth-it')!;
  assert.match(f.message, /max\/mean rank load 1\.00 -> 1\.00/);
  // experts 0,1 carry 400 each, the rest 41..50: linear EP4 rank loads 800, 89, 91, 93 -> max/mean 800/268.25 = 2.98
  const hot = await runDoctor({ argv, trace: { load: mk((e) => (e < 2 ? 400 : 40 + ((e * 7) % 13))) } });
  assert.match(find(hot.findings, 'eplb-pays')!.message, /max\/mean rank load 2\.98 ->/);
});
