import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { makeLoadTrace } from '../../core/load-trace.ts';
import { main } from '../../cli/main.ts';
import { runInProcess } from '../../cli/in-process.ts';
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

test('experts-oom: DeepSeek-V3 EP8 with 8 redundant experts does not fit even without them (numbers by hand)', async () => {
  const argv = ['vllm', 'serve', 'deepseek-ai/DeepSeek-V3', '--tensor-parallel-size', '8', '--enable-expert-parallel', '--enable-eplb', '--eplb-config', '{"num_redundant_experts": 8}', '--max-model-len', '8192'];
  const r = await runDoctor({ argv });
  const f = find(r.findings, 'experts-oom')!;
  // B_e = 3*7168*2048*1 (FP8) = 44,040,192 B; routed experts per GPU 32 x 58 x B_e = 76.1 GiB > 0.9 x 80 = 72.0 GiB;
  // 1 extra slot x 58 MoE layers = 2,554,331,136 B = 2.4 GiB
  assert.match(f.message, /routed experts alone need 76\.1 GiB per GPU/);
  assert.match(f.message, /over the 72\.0 GiB allowed/);
  assert.match(f.message, /8 redundant experts add 2\.4 GiB/);
  assert.equal(f.severity, 'error');
  // An H200 (141 GiB) holds it.
  assert.ok(!ids((await runDoctor({ argv, gpu: 'H200' })).findings).some((x) => x.endsWith('oom')));
});

test('redundant-experts-oom: fits without replicas, not with them (DeepSeek-V3 EP8 on H200, R = 176, by hand)', async () => {
  const argv = sh('vllm serve deepseek-ai/DeepSeek-V3 -tp 8 -ep --enable-eplb --eplb-config.num_redundant_experts 176 --max-model-len 8192');
  const r = await runDoctor({ argv, gpu: 'h200' });
  // One slot over 58 layers = 58 x 44,040,192 B = 2,554,331,136 B. Replicas 176 / 8 = 22 slots = 52.3 GiB;
  // total (32 + 22) x 2,554,331,136 B = 137,933,881,344 B = 128.5 GiB > 0.9 x 141 = 126.9 GiB
  const f = find(r.findings, 'redundant-experts-oom')!;
  assert.match(f.message, /176 redundant experts = 22 extra slot\(s\).*= 52\.3 GiB per GPU.*128\.5 GiB, over the 126\.9 GiB/);
  assert.ok(!ids(r.findings).includes('experts-oom'));
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
  assert.deepEqual(ids(r.findings), ['model-config-unavailable', 'eplb-without-ep', 'tp-without-ep', 'eplb-no-headroom']);
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

// ---- Rules re-derived from vLLM / SGLang source, one test each (the source is cited in doctor.ts) ----

/** A local config.json with 60 routed experts (Qwen1.5-MoE-A2.7B's count: E = 60). */
function sixtyExperts(): string {
  const d = join(dir, 'e60');
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d);
  writeFileSync(join(d, 'config.json'), JSON.stringify({ hidden_size: 2048, moe_intermediate_size: 1408, num_experts: 60, num_experts_per_tok: 4, num_hidden_layers: 24, max_position_embeddings: 8192, torch_dtype: 'bfloat16' }));
  return d;
}

test('vllm-project/vllm@c439a13 fused_moe/layer.py FusedMoE.__init__ "EPLB currently only supports even distribution of experts across ranks." with global_num_experts = E + R: (E + R) % G', async () => {
  const m = sixtyExperts();
  const run = (R: number) => runDoctor({ argv: ['vllm', 'serve', m, '-tp', '8', '-ep', '--enable-eplb', '--eplb-config', `{"num_redundant_experts": ${R}}`] });
  // E = 60, R = 4, G = 8: 64 slots divide (8 per GPU): no error (the old R % G rule said error).
  assert.ok(!ids((await run(4)).findings).includes('redundant-not-divisible'));
  // E = 60, R = 8: 68 slots, 68 % 8 = 4: error (the old rule said nothing); the next R that divides is 4.
  const f = find((await run(8)).findings, 'redundant-not-divisible')!;
  assert.equal(f.severity, 'error');
  assert.match(f.message, /60 experts \+ 8 redundant = 68 slots per layer do not divide over 8 EP ranks.*smallest R that divides is 4, then 12/);
  // EPLB off, no replicas: vLLM spreads 60 experts over 8 ranks with a remainder (determine_expert_map); no finding.
  assert.ok(!ids((await runDoctor({ argv: ['vllm', 'serve', m, '-tp', '8', '-ep'] })).findings).includes('redundant-not-divisible'));
  // SGLang asserts (E + R) % ep_size == 0 always (eplb/expert_location.py _init_common).
  const sg = await runDoctor({ argv: ['python', '-m', 'sglang.launch_server', '--model-path', m, '--tp', '8', '--ep-size', '8'] });
  assert.match(find(sg.findings, 'redundant-not-divisible')!.message, /60 experts \+ 0 redundant = 60 slots.*assert num_physical_experts % ep_size == 0/);
});

test('vllm-project/vllm@840e797 config/parallel.py _validate_parallel_config "enable_expert_parallel must be True to use EPLB."', async () => {
  const r = await runDoctor({ argv: sh('vllm serve Qwen/Qwen3-30B-A3B -tp 4 --enable-eplb --max-model-len 8192') });
  const f = find(r.findings, 'eplb-without-ep')!;
  assert.equal(f.severity, 'error');
  assert.equal(f.flag, '--enable-expert-parallel');
  assert.ok(!ids((await runDoctor({ argv: sh('vllm serve Qwen/Qwen3-30B-A3B -tp 4 -ep --enable-eplb --max-model-len 8192') })).findings).includes('eplb-without-ep'));
});

test('vllm-project/vllm@840e797 config/parallel.py "EPLB requires tensor_parallel_size or data_parallel_size to be greater than 1"', async () => {
  const r = await runDoctor({ argv: sh('vllm serve Qwen/Qwen3-30B-A3B -ep --enable-eplb --max-model-len 8192') });
  assert.match(find(r.findings, 'eplb-single-rank')!.message, /TP=1, DP=1/);
  assert.ok(!ids((await runDoctor({ argv: sh('vllm serve Qwen/Qwen3-30B-A3B -dp 2 -ep --enable-eplb --max-model-len 8192') })).findings).includes('eplb-single-rank'));
  // Newer main spans EP over TP x PCP x DP: -pcp 2 gives an EP group of 2.
  const pcp = await runDoctor({ argv: sh('vllm serve Qwen/Qwen3-30B-A3B -pcp 2 -ep --enable-eplb --max-model-len 8192') });
  assert.equal(pcp.facts.epSize, 2);
  assert.ok(!ids(pcp.findings).includes('eplb-single-rank'));
});

test('vllm-project/vllm@840e797 config/parallel.py "num_redundant_experts is set to ... but EPLB is not enabled."', async () => {
  const r = await runDoctor({ argv: sh('vllm serve Qwen/Qwen3-30B-A3B -tp 4 -ep --eplb-config.num_redundant_experts 4 --max-model-len 8192') });
  const f = find(r.findings, 'redundant-without-eplb')!;
  assert.equal(f.severity, 'error');
  assert.match(f.message, /num_redundant_experts is set to 4 but EPLB is not enabled/);
});

test('vllm/engine/arg_utils.py (main) registers --eplb-config, not --num-redundant-experts: removed flag flagged; dotted and JSON --eplb-config read', async () => {
  const removed = await runDoctor({ argv: sh('vllm serve Qwen/Qwen3-30B-A3B -tp 4 -ep --enable-eplb --num-redundant-experts 4 --max-model-len 8192') });
  const f = find(removed.findings, 'removed-flag')!;
  assert.equal(f.severity, 'error');
  assert.equal(f.flag, '--eplb-config.num_redundant_experts 4');
  assert.equal(removed.facts.redundantExperts, 0);
  const dotted = await runDoctor({ argv: sh('vllm serve Qwen/Qwen3-30B-A3B -tp 4 -ep --enable-eplb --eplb-config.num_redundant_experts 4 --eplb-config.step_interval 500 --max-model-len 8192') });
  assert.equal(dotted.facts.redundantExperts, 4);
  assert.deepEqual(ids(dotted.findings), []);
  const json = await runDoctor({ argv: ['vllm', 'serve', 'Qwen/Qwen3-30B-A3B', '-tp', '4', '-ep', '--enable-eplb', '--eplb-config', '{"num_redundant_experts": 4}', '--max-model-len', '8192'] });
  assert.equal(json.facts.redundantExperts, 4);
  const bad = await runDoctor({ argv: ['vllm', 'serve', 'Qwen/Qwen3-30B-A3B', '-tp', '4', '-ep', '--enable-eplb', '--eplb-config', '{num_redundant_experts: 4}'] });
  assert.equal(find(bad.findings, 'bad-eplb-config')!.severity, 'error');
});

test('sgl-project/sglang@469c63e server_args.py _handle_eplb_and_dispatch "assert self.ep_size > 1" under --enable-eplb', async () => {
  const r = await runDoctor({ argv: sh('python -m sglang.launch_server --model-path Qwen/Qwen3-30B-A3B --enable-eplb --context-length 8192') });
  assert.match(find(r.findings, 'eplb-single-rank')!.message, /ep_size > 1/);
});

test('model ids from vLLM docs resolve by family and size; DeepSeek-V2 does not resolve to V2-Lite', async () => {
  for (const [id, preset] of [
    ['deepseek-ai/DeepSeek-V3-0324', 'DeepSeek-V3'],
    ['meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8', 'Llama-4-Maverick'],
    ['meta-llama/Llama-4-Scout-17B-16E-Instruct', 'Llama-4-Scout'],
    ['Qwen/Qwen3-235B-A22B-FP8', 'Qwen3-235B-A22B'],
  ]) {
    assert.equal((await runDoctor({ argv: ['vllm', 'serve', id] })).facts.modelConfig, `preset ${preset}`, id);
  }
  const v2 = await runDoctor({ argv: sh('vllm serve deepseek-ai/DeepSeek-V2 -tp 8') });
  assert.equal(v2.facts.modelConfig, undefined);
  assert.ok(ids(v2.findings).includes('model-config-unavailable'));
});

test('README example (DeepSeek-V3, TP 8, --enable-eplb, no replicas): EPLB without EP refused and 76.1 GiB of routed experts over 72 GiB; CLI exits 1', async () => {
  const saved = process.exitCode;
  const bad = await runInProcess(sh('doctor -- vllm serve deepseek-ai/DeepSeek-V3 --tensor-parallel-size 8 --enable-eplb'));
  // Fixed launch on an H200: EP on, 8 replicas fit (76.1 + 2.4 GiB < 126.9 GiB): no error, exit 0.
  const ok = await runInProcess(sh('doctor --gpu h200 -- vllm serve deepseek-ai/DeepSeek-V3 -tp 8 -ep --enable-eplb --max-model-len 8192 --eplb-config.num_redundant_experts 8'));
  process.exitCode = saved;
  const out = bad.stdout + ok.stdout;
  assert.equal(bad.code, 1);
  assert.match(out, /ERROR {3}eplb-without-ep/);
  assert.match(out, /ERROR {3}experts-oom: routed experts alone need 76\.1 GiB per GPU/);
  assert.equal(ok.code, 0);
});

test('ROCm launches (HIP_VISIBLE_DEVICES / ROCR_VISIBLE_DEVICES) get the same checks, with MI300X / MI355X memory', async () => {
  const launch = 'HIP_VISIBLE_DEVICES=0,1,2,3,4,5,6,7 vllm serve deepseek-ai/DeepSeek-V3 -tp 8 --enable-eplb --max-model-len 8192';
  const r = await runDoctor({ argv: sh(launch) });
  assert.equal(r.facts.platform, 'rocm');
  assert.equal(r.facts.engine, 'vllm');
  assert.equal(r.facts.gpuMemoryGb, 192);
  assert.ok(ids(r.findings).includes('eplb-without-ep'));
  // 76.1 GiB of experts fit in 0.9 x 192 GiB.
  assert.ok(!ids(r.findings).includes('experts-oom'));
  // R = 640: 80 extra slots x 58 x 44,040,192 B = 190.3 GiB + 76.1 = 266.4 GiB > 0.9 x 192 = 172.8 (MI300X)
  // and > 0.9 x 288 = 259.2 (MI355X).
  const big = sh('ROCR_VISIBLE_DEVICES=0,1,2,3,4,5,6,7 vllm serve deepseek-ai/DeepSeek-V3 -tp 8 -ep --enable-eplb --eplb-config.num_redundant_experts 640 --max-model-len 8192');
  assert.match(find((await runDoctor({ argv: big })).findings, 'redundant-experts-oom')!.message, /over the 172\.8 GiB allowed .* of 192\.0 GiB \(ROCm launch: MI300X 192 GB assumed\)/);
  assert.match(find((await runDoctor({ argv: big, gpu: 'MI355X' })).findings, 'redundant-experts-oom')!.message, /266\.4 GiB, over the 259\.2 GiB/);
  const sg = await runDoctor({ argv: sh('env HIP_VISIBLE_DEVICES=0,1 python -m sglang.launch_server --model-path Qwen/Qwen3-30B-A3B --tp 2 --ep-size 2 --enable-eplb --context-length 8192') });
  assert.equal(sg.facts.engine, 'sglang');
  assert.equal(sg.facts.platform, 'rocm');
  await assert.rejects(runDoctor({ argv: sh(launch), gpu: 'mi999' }), /unknown GPU "mi999"/);
});

test('vllm-project/vllm fused_moe/layer.py determine_expert_placement_strategy: round_robin falls back to linear without expert groups, with replicas or EPLB', async () => {
  const mix = await runDoctor({ argv: sh('vllm serve mistralai/Mixtral-8x7B-v0.1 -tp 4 -ep --expert-placement-strategy round_robin') });
  assert.match(find(mix.findings, 'round-robin-ignored')!.message, /Mixtral-8x7B has no expert groups/);
  // DeepSeek-V3 has n_group 8: honoured (subject to the all2all backend, which doctor does not see).
  const ds = await runDoctor({ argv: sh('vllm serve deepseek-ai/DeepSeek-V3 -tp 8 -ep --expert-placement-strategy round_robin --max-model-len 8192') });
  assert.ok(!ids(ds.findings).includes('round-robin-ignored'));
  const dsE = await runDoctor({ argv: sh('vllm serve deepseek-ai/DeepSeek-V3 -tp 8 -ep --enable-eplb --expert-placement-strategy round_robin --max-model-len 8192') });
  assert.match(find(dsE.findings, 'round-robin-ignored')!.message, /EPLB is on/);
});

test('sgl-project/sglang@6270b01 eplb/expert_location.py: --init-expert-location rows are decoder layers (num_hidden_layers), E + R wide, every expert placed in MoE rows', async () => {
  const row = Array.from({ length: 64 }, (_, e) => e);
  const write = (name: string, rows: number[][]) => {
    const p = join(dir, name);
    writeFileSync(p, JSON.stringify({ physical_to_logical_map: rows }));
    return p;
  };
  const launch = (f: string) => sh(`python -m sglang.launch_server --model-path deepseek-ai/DeepSeek-V2-Lite --tp 8 --ep-size 8 --context-length 8192 --init-expert-location ${f}`);
  // DeepSeek-V2-Lite: 27 decoder layers, 64 experts, R = 0.
  const ok = await runDoctor({ argv: launch(write('ok.json', Array.from({ length: 27 }, () => row))) });
  assert.match(find(ok.findings, 'init-expert-location-ok')!.message, /27 rows x 64 match DeepSeek-V2-Lite/);
  // MoE layers only (what ballast wrote before): 26 rows, shifted.
  const moeOnly = await runDoctor({ argv: launch(write('moe.json', Array.from({ length: 26 }, () => row))) });
  const f = find(moeOnly.findings, 'init-expert-location-mismatch')!;
  assert.equal(f.severity, 'error');
  assert.match(f.message, /26 rows for 27 decoder layers .*shifted by the leading dense layers/);
  // Expert 5 missing from MoE row 3 (expert 4 twice).
  const holes = Array.from({ length: 27 }, (_, l) => (l === 3 ? row.map((e) => (e === 5 ? 4 : e)) : row));
  assert.match(find((await runDoctor({ argv: launch(write('hole.json', holes)) })).findings, 'init-expert-location-mismatch')!.message, /row 3 \(a MoE layer\) has no slot for expert 5/);
  // Width: with --ep-num-redundant-experts 8 SGLang expects 72 slots.
  const wide = await runDoctor({ argv: [...launch(write('ok2.json', Array.from({ length: 27 }, () => row))), '--ep-num-redundant-experts', '8'] });
  assert.match(find(wide.findings, 'init-expert-location-mismatch')!.message, /row 0 has 64 entries, expected 72/);
});
