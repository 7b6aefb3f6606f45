/**
 * `ballast detect` on fake /proc trees and fixture outputs of nvidia-smi and rocm-smi (formats:
 * nvidia-smi --query-compute-apps/--query-gpu CSV with noheader,nounits; rocm-smi --showpidgpus as
 * printed by ROCm/rocm_smi_lib python_smi_tools/rocm_smi.py showGpusByPid). Expected values are
 * worked out by hand from the fixtures.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { BALLAST, runBounded } from '../../capture/test-helpers.ts';
import { detect, type RunResult } from './detect.ts';
import { moeOfConfig } from './moe-of-config.ts';
import { parseNvidiaApps } from './parse-nvidia-apps.ts';
import { parseRocmPidGpus } from './parse-rocm-pidgpus.ts';
import { serverOfLaunch } from './server-of-launch.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-detect-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const NV_APPS = '102, GPU-aaaa, 30000\n103, GPU-bbbb, 30000\n201, GPU-cccc, 1000\n202, GPU-dddd, 1000\n600, GPU-aaaa, 200\n';
const NV_GPUS = '0, GPU-aaaa\n1, GPU-bbbb\n2, GPU-cccc\n3, GPU-dddd\n';
const ROCM = [
  '============================ ROCm System Management Interface ============================',
  '=================================== GPUs Indexed by PID ==================================',
  'PID 300 is using 2 DRM device(s):',
  '0 1',
  '==========================================================================================',
  '================================== End of ROCm SMI Log ===================================',
  '',
].join('\n');

/** A fake /proc entry. */
function proc(root: string, pid: number, ppid: number, argv: string[] | 'unreadable', env?: Record<string, string>, cwd?: string) {
  const d = join(root, String(pid));
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'stat'), `${pid} (${argv === 'unreadable' ? 'x' : (argv[0] ?? '').slice(0, 15)}) S ${ppid} ${pid} ${pid} 0 -1`);
  if (argv === 'unreadable') mkdirSync(join(d, 'cmdline')); // reading it fails like EACCES would
  else writeFileSync(join(d, 'cmdline'), `${argv.join('\0')}\0`);
  if (env) writeFileSync(join(d, 'environ'), `${Object.entries(env).map(([k, v]) => `${k}=${v}`).join('\0')}\0`);
  if (cwd) symlinkSync(cwd, join(d, 'cwd'));
}

function fixtureTree() {
  const root = join(dir, `proc-${Math.random().toString(36).slice(2)}`);
  const models = join(root, '..', 'models');
  mkdirSync(join(models, 'dsv2lite'), { recursive: true });
  writeFileSync(join(models, 'dsv2lite', 'config.json'), JSON.stringify({ model_type: 'deepseek_v2', n_routed_experts: 64, num_experts_per_tok: 6, hidden_size: 2048 }));
  mkdirSync(join(models, 'dense'), { recursive: true });
  writeFileSync(join(models, 'dense', 'config.json'), JSON.stringify({ model_type: 'llama', hidden_size: 4096 }));
  const home = join(dir, 'home');
  const snap = join(home, '.cache/huggingface/hub/models--Qwen--Qwen3-30B-A3B/snapshots/abc123');
  mkdirSync(snap, { recursive: true });
  writeFileSync(join(snap, 'config.json'), JSON.stringify({ model_type: 'qwen3_moe', num_experts: 128, num_experts_per_tok: 8 }));
  const work = join(dir, 'work');
  mkdirSync(join(work, 'mixtral'), { recursive: true });
  writeFileSync(join(work, 'mixtral', 'config.json'), JSON.stringify({ model_type: 'mixtral', num_local_experts: 8, num_experts_per_tok: 2 }));
  proc(root, 1, 0, ['/sbin/init']);
  // vLLM: API server 100 -> EngineCore 101 -> TP workers 102, 103 (GPUs 0, 1).
  proc(root, 100, 1, ['/usr/bin/python3', '/usr/local/bin/vllm', 'serve', join(models, 'dsv2lite'), '--tensor-parallel-size', '2', '--enable-expert-parallel', '--port', '8000'], { HOME: home, PATH: '/usr/bin' });
  proc(root, 101, 100, ['VLLM::EngineCore'], { HOME: home });
  proc(root, 102, 101, ['VLLM::Worker_TP0'], { HOME: home });
  proc(root, 103, 101, ['VLLM::Worker_TP1'], { HOME: home });
  // SGLang with its recorder, model from the HF cache under $HOME; schedulers 201, 202 on GPUs 2, 3.
  proc(root, 200, 1, ['python3', '-m', 'sglang.launch_server', '--model-path', 'Qwen/Qwen3-30B-A3B', '--tp-size', '2', '--expert-distribution-recorder-mode', 'stat', '--port', '30001'], {
    HOME: home,
    SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR: '/data/dumps',
  });
  proc(root, 201, 200, ['sglang::scheduler_TP0']);
  proc(root, 202, 200, ['sglang::scheduler_TP1']);
  // transformers script under `ballast run` (agent attached), on 2 AMD GPUs, model relative to cwd.
  proc(root, 300, 1, ['python3', 'hf_generate.py', '--model', './mixtral'], { BALLAST_AGENT: '1', PYTHONPATH: '/opt/ballast/capture/python' }, work);
  // a dense model served by vLLM (skipped), a process we may not read, a non-engine GPU process.
  proc(root, 400, 1, ['vllm', 'serve', join(models, 'dense')], {});
  proc(root, 500, 1, 'unreadable');
  proc(root, 600, 1, ['/usr/lib/xorg/Xorg', ':0']);
  return root;
}

const fixtureRun = (files: Record<string, string | RunResult>) => (cmd: string, args: string[]): RunResult => {
  const key = cmd === 'nvidia-smi' ? (args[0].startsWith('--query-compute-apps') ? 'apps' : 'gpus') : 'rocm';
  const v = files[key];
  if (v === undefined) return { ok: false, missing: true, message: 'not installed' };
  return typeof v === 'string' ? { ok: true, stdout: v } : v;
};

test('parsers: nvidia-smi apps by pid, rocm-smi --showpidgpus, config experts, launch lines', () => {
  assert.deepEqual([...parseNvidiaApps(NV_APPS, NV_GPUS).byPid], [[102, [0]], [103, [1]], [201, [2]], [202, [3]], [600, [0]]]);
  assert.deepEqual([...parseRocmPidGpus(ROCM)], [[300, [0, 1]]]);
  assert.deepEqual([...parseRocmPidGpus('PID 7 is using 3 DRM device(s):\n2 0 5\nPID 9 is using 0 DRM device(s)\n')], [[7, [0, 2, 5]], [9, []]]);
  assert.deepEqual(moeOfConfig({ n_routed_experts: 256, num_experts_per_tok: 8, model_type: 'deepseek_v3' }), { experts: 256, topK: 8, modelType: 'deepseek_v3' });
  assert.deepEqual(moeOfConfig({ text_config: { num_local_experts: 16, num_experts_per_tok: 1 }, model_type: 'llama4' }), { experts: 16, topK: 1, modelType: 'llama4' });
  assert.equal(moeOfConfig({ hidden_size: 10 }), undefined);
  const v = serverOfLaunch(['vllm', 'serve', 'm', '-tp', '4', '-dp', '2', '--enable-expert-parallel', '--enable-return-routed-experts']);
  assert.deepEqual({ tp: v!.tp, dp: v!.dp, ep: v!.ep, r: v!.returnsRoutedExperts, port: v!.port }, { tp: 4, dp: 2, ep: 8, r: true, port: 8000 });
  const s = serverOfLaunch(['python', '-m', 'sglang.launch_server', '--model-path', 'x', '--tp', '8', '--ep-size', '8', '--enable-dp-attention', '--dp', '8']);
  assert.deepEqual({ e: s!.engine, tp: s!.tp, dp: s!.dp, ep: s!.ep, port: s!.port }, { e: 'sglang', tp: 8, dp: 8, ep: 8, port: 30000 });
  assert.equal(serverOfLaunch(['python', 'train.py']), undefined);
});

test('detect: engines grouped with their GPU workers, layout, experts, agent, next command; one note per gap', () => {
  const root = fixtureTree();
  const r = detect({ procRoot: root, run: fixtureRun({ apps: NV_APPS, gpus: NV_GPUS, rocm: ROCM }) });
  assert.deepEqual(
    r.servers.map((s) => [s.pid, s.engine, s.gpus, s.vendor, s.tp, s.dp, s.pp, s.ep, s.experts, s.topK, s.agent, s.workers]),
    [
      [100, 'vllm', [0, 1], 'nvidia', 2, 1, 1, 2, 64, 6, 'not attached', [102, 103]],
      [200, 'sglang', [2, 3], 'nvidia', 2, 1, 1, 1, 128, 8, 'not attached', [201, 202]],
      [300, 'transformers', [0, 1], 'amd', undefined, undefined, undefined, undefined, undefined, undefined, 'attached', []],
    ],
  );
  const [v, s, t] = r.servers;
  assert.match(v.next[0], /^ballast run --out vllm\.ballast -- \/usr\/bin\/python3 \/usr\/local\/bin\/vllm serve .*dsv2lite --tensor-parallel-size 2 --enable-expert-parallel --port 8000/);
  assert.match(v.next[1], /--enable-return-routed-experts .* ballast capture --vllm http:\/\/127\.0\.0\.1:8000 --listen 127\.0\.0\.1:8001 --model-config .*dsv2lite\/config\.json/);
  assert.match(v.next[2], /^ballast doctor -- /);
  assert.equal(s.next[0], 'ballast capture --sglang http://127.0.0.1:30001 --duration 60s --dump-dir /data/dumps --out sglang.ballast');
  assert.match(s.configPath!, /models--Qwen--Qwen3-30B-A3B\/snapshots\/abc123\/config\.json$/);
  assert.match(t.next[0], /^ballast sessions/);
  assert.deepEqual(r.notes, [
    'cannot read the command line of 1 process (other users\'; run as root or as that user to see them)',
    '1 other GPU process (not vLLM, SGLang or transformers)',
    `pid 400 serves ${join(root, '..', 'models', 'dense')}, a dense model (no experts in ${join(root, '..', 'models', 'dense', 'config.json')}): skipped`,
  ]);
});

test('no GPU tools, a failing tool, an unreadable /proc: one line each, never a throw', () => {
  const none = detect({ procRoot: join(dir, 'no-such-proc'), run: fixtureRun({}) });
  assert.deepEqual(none.servers, []);
  assert.deepEqual(none.notes, [
    'nvidia-smi: not installed',
    'rocm-smi: not installed',
    `cannot list ${join(dir, 'no-such-proc')}: process command lines unavailable`,
    'no GPU process list (no nvidia-smi or rocm-smi output); engines found from /proc only, without their GPUs',
    'no vLLM, SGLang or transformers process serving an MoE model found',
  ]);
  const failing = detect({
    procRoot: fixtureTree(),
    run: fixtureRun({ apps: { ok: false, missing: false, message: "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." } }),
  });
  assert.equal(failing.notes[0], "nvidia-smi: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.");
  // Engines are still found from /proc, without GPUs.
  assert.deepEqual(failing.servers.map((s) => [s.pid, s.gpus]), [[100, []], [200, []]]);
});

test('CLI: `ballast detect` table and --json on fixtures; no tools: notes only, exit 0', async () => {
  const root = fixtureTree();
  const smi = join(dir, 'smi');
  mkdirSync(smi, { recursive: true });
  writeFileSync(join(smi, 'nvidia-smi-apps.csv'), NV_APPS);
  writeFileSync(join(smi, 'nvidia-smi-gpus.csv'), NV_GPUS);
  writeFileSync(join(smi, 'rocm-smi-pidgpus.txt'), ROCM);
  const t = await runBounded('node', [BALLAST, 'detect', '--proc-root', root, '--smi-dir', smi], { timeoutMs: 30_000 });
  assert.equal(t.code, 0, t.stderr);
  const lines = t.stdout.split('\n');
  assert.match(lines[0], /^PID\s+ENGINE\s+MODEL\s+GPUS\s+TP\/DP\/PP\/EP\s+EXPERTS\s+BALLAST AGENT$/);
  assert.match(lines[1], /^100\s+vllm\s+\S+dsv2lite\s+0,1\s+2\/1\/1\/2\s+64 x top-6\s+not attached$/);
  assert.ok(lines.some((l) => /^200\s+sglang\s+Qwen\/Qwen3-30B-A3B\s+2,3\s+2\/1\/1\/1\s+128 x top-8\s+not attached$/.test(l)), t.stdout);
  assert.ok(lines.some((l) => /^300\s+transformers\s+\?\s+amd 0,1\s+-\/-\/-\/-\s+\?\s+attached$/.test(l)), t.stdout);
  assert.match(t.stderr, /\[ballast\] 1 other GPU process/);
  const j = await runBounded('node', [BALLAST, 'detect', '--json', '--proc-root', root, '--smi-dir', smi], { timeoutMs: 30_000 });
  const parsed = JSON.parse(j.stdout);
  assert.deepEqual(parsed.servers.map((s: { pid: number }) => s.pid), [100, 200, 300]);
  const empty = join(dir, 'empty-smi');
  mkdirSync(empty, { recursive: true });
  const n = await runBounded('node', [BALLAST, 'detect', '--proc-root', join(dir, 'nope'), '--smi-dir', empty], { timeoutMs: 30_000 });
  assert.equal(n.code, 0);
  assert.equal(n.stdout, '');
  assert.equal(n.stderr.split('\n').filter((l) => l !== '').length, 5);
  assert.ok(n.stderr.split('\n').every((l) => l === '' || l.startsWith('[ballast] ')), n.stderr);
});
