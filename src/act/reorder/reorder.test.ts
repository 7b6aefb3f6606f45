import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { InputError } from '../../core/errors.ts';
import { main } from '../../cli/main.ts';
import { encodeSafetensors, readSafetensorsHeader } from '../safetensors/safetensors.ts';
import { REORDER_FILE, reorderCheckpoint } from './reorder.ts';
import { readPlanFile } from '../../plan/plan-file.ts';

const root = mkdtempSync(join(tmpdir(), 'ballast-reorder-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A tensor of `n` bytes whose every byte is `tag` (so moved bytes are recognisable). */
const bytes = (n: number, tag: number) => new Uint8Array(n).fill(tag);
/** Rows r = 0..rows-1 of rowBytes bytes, row r filled with base + r. */
const rows = (rowsN: number, rowBytes: number, base: number) => {
  const a = new Uint8Array(rowsN * rowBytes);
  for (let r = 0; r < rowsN; r++) a.fill(base + r, r * rowBytes, (r + 1) * rowBytes);
  return a;
};

const E = 4;
const CONFIG = '{"model_type": "mixtral", "num_local_experts": 4, "hidden_size": 2}';
function makeCheckpoint(dir: string): void {
  mkdirSync(dir);
  // shard 1: embeddings + layer 1 in Mixtral naming (w1/w2/w3), per-expert bytes tagged 10*e + w
  const s1 = [{ name: 'model.embed_tokens.weight', dtype: 'BF16', shape: [4, 2], data: bytes(16, 1) }];
  for (let e = 0; e < E; e++) for (const w of [1, 2, 3]) s1.push({ name: `model.layers.1.block_sparse_moe.experts.${e}.w${w}.weight`, dtype: 'BF16', shape: [2, 3], data: bytes(12, 10 * e + w) });
  s1.push({ name: 'model.layers.1.block_sparse_moe.gate.weight', dtype: 'F32', shape: [E, 2], data: rows(E, 8, 100) });
  // shard 2: layer 2 Qwen/DeepSeek naming, gate + correction bias, a fused tensor
  const s2 = [];
  for (let e = 0; e < E; e++) for (const [w, k] of [['gate_proj', 1], ['up_proj', 2], ['down_proj', 3]] as const) s2.push({ name: `model.layers.2.mlp.experts.${e}.${w}.weight`, dtype: 'F16', shape: [3], data: bytes(6, 50 + 10 * e + k) });
  s2.push({ name: 'model.layers.2.mlp.gate.weight', dtype: 'BF16', shape: [E, 3], data: rows(E, 6, 120) });
  s2.push({ name: 'model.layers.2.mlp.gate.e_score_correction_bias', dtype: 'F32', shape: [E], data: rows(E, 4, 130) });
  s2.push({ name: 'model.layers.2.mlp.experts.gate_up_proj_scale', dtype: 'U8', shape: [E, 5], data: rows(E, 5, 140) });
  s2.push({ name: 'model.layers.2.mlp.shared_experts.gate_proj.weight', dtype: 'U8', shape: [7], data: bytes(7, 9) });
  // shard 3: nothing to permute -> hard-linked
  const s3 = [{ name: 'lm_head.weight', dtype: 'BF16', shape: [4, 2], data: bytes(16, 2) }];
  const shards = { 'model-00001-of-00003.safetensors': s1, 'model-00002-of-00003.safetensors': s2, 'model-00003-of-00003.safetensors': s3 };
  const weight_map: Record<string, string> = {};
  for (const [f, ts] of Object.entries(shards)) {
    writeFileSync(join(dir, f), encodeSafetensors(ts, { format: 'pt' }));
    for (const t of ts) weight_map[t.name] = f;
  }
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 1 }, weight_map }));
  writeFileSync(join(dir, 'config.json'), CONFIG);
}

function tensorBytes(file: string, name: string): Uint8Array {
  const h = readSafetensorsHeader(file);
  const t = h.byName.get(name)!;
  return new Uint8Array(readFileSync(file).subarray(t.start, t.end));
}

const plan = { format: 'ballast-plan', version: 1, numLayers: 2, numExperts: E, numRanks: 2, ranksPerNode: 2, layerIds: [1, 2], phy2log: [[2, 0, 3, 1], [1, 0, 3, 2]] };

test('reorder permutes per-expert, fused and router tensors; copies and links the rest; --verify passes', async () => {
  const ck = join(root, 'ck');
  makeCheckpoint(ck);
  const planFile = join(root, 'plan.json');
  writeFileSync(planFile, JSON.stringify(plan));
  const out = join(root, 'out');
  const code = await main(['reorder', ck, '--plan', planFile, '--out', out, '--verify']);
  assert.equal(code, 0);
  const s1 = join(out, 'model-00001-of-00003.safetensors');
  const s2 = join(out, 'model-00002-of-00003.safetensors');
  // layer 1: new slot s holds old expert [2,0,3,1][s]
  for (const [s, old] of [[0, 2], [1, 0], [2, 3], [3, 1]]) {
    for (const w of [1, 2, 3]) assert.deepEqual(tensorBytes(s1, `model.layers.1.block_sparse_moe.experts.${s}.w${w}.weight`), bytes(12, 10 * old + w));
  }
  // router rows follow: row s = old row phy2log[s] (F32 rows of 8 bytes tagged 100 + row)
  assert.deepEqual(Array.from(tensorBytes(s1, 'model.layers.1.block_sparse_moe.gate.weight').filter((_, i) => i % 8 === 0)), [102, 100, 103, 101]);
  // layer 2: [1,0,3,2]
  assert.deepEqual(tensorBytes(s2, 'model.layers.2.mlp.experts.0.up_proj.weight'), bytes(6, 50 + 10 * 1 + 2));
  assert.deepEqual(tensorBytes(s2, 'model.layers.2.mlp.experts.3.down_proj.weight'), bytes(6, 50 + 10 * 2 + 3));
  assert.deepEqual(Array.from(tensorBytes(s2, 'model.layers.2.mlp.gate.weight').filter((_, i) => i % 6 === 0)), [121, 120, 123, 122]);
  assert.deepEqual(Array.from(tensorBytes(s2, 'model.layers.2.mlp.gate.e_score_correction_bias').filter((_, i) => i % 4 === 0)), [131, 130, 133, 132]);
  assert.deepEqual(Array.from(tensorBytes(s2, 'model.layers.2.mlp.experts.gate_up_proj_scale').filter((_, i) => i % 5 === 0)), [141, 140, 143, 142]);
  // untouched tensors byte for byte, metadata kept, shared experts untouched
  assert.deepEqual(tensorBytes(s1, 'model.embed_tokens.weight'), bytes(16, 1));
  assert.deepEqual(tensorBytes(s2, 'model.layers.2.mlp.shared_experts.gate_proj.weight'), bytes(7, 9));
  assert.deepEqual(readSafetensorsHeader(s1).metadata, { format: 'pt' });
  // shard without expert tensors is a hard link; config carried over; index rewritten with the same map
  assert.equal(statSync(join(out, 'model-00003-of-00003.safetensors')).ino, statSync(join(ck, 'model-00003-of-00003.safetensors')).ino);
  assert.equal(readFileSync(join(out, 'config.json'), 'utf8'), CONFIG);
  const idxIn = JSON.parse(readFileSync(join(ck, 'model.safetensors.index.json'), 'utf8'));
  const idxOut = JSON.parse(readFileSync(join(out, 'model.safetensors.index.json'), 'utf8'));
  assert.deepEqual(idxOut, idxIn);
  // inverse permutation written
  const rec = JSON.parse(readFileSync(join(out, 'ballast-reorder.json'), 'utf8'));
  assert.deepEqual(rec.layers[0].new_to_old, [2, 0, 3, 1]);
  assert.deepEqual(rec.layers[0].old_to_new, [1, 3, 0, 2]);
  assert.equal(rec.layers[1].checkpointLayer, 2);
  // no temp dir left beside the output
  assert.deepEqual(readdirSync(root).filter((n) => n.includes('.tmp-')), []);
});

test('reordering with the inverse permutation restores the original bytes', async () => {
  const ck = join(root, 'ck2');
  makeCheckpoint(ck);
  const p = { version: 1 as const, numLayers: 2, numExperts: E, numRanks: 2, ranksPerNode: 2, layerIds: [1, 2], phy2log: plan.phy2log.map((r) => Int32Array.from(r)) };
  const a = join(root, 'a');
  const r = await reorderCheckpoint({ checkpointDir: ck, plan: p, outDir: a, warn: () => {} });
  const inv = { ...p, phy2log: r.layers.map((l) => Int32Array.from(l.old_to_new)) };
  const b = join(root, 'b');
  await reorderCheckpoint({ checkpointDir: a, plan: inv, outDir: b, verify: true, warn: () => {} });
  for (const f of ['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors']) assert.ok(readFileSync(join(ck, f)).equals(readFileSync(join(b, f))), f);
});

test('SGLang physical_to_logical_map plan, no --ranks needed (issue 12 item 7); plan layer ids mapped by order', async () => {
  const ck = join(root, 'ck3');
  makeCheckpoint(ck);
  const pf = join(root, 'sgl.json');
  writeFileSync(pf, JSON.stringify({ physical_to_logical_map: [[3, 2, 1, 0], [0, 1, 2, 3]] }));
  const out = join(root, 'out3');
  assert.equal(await main(['reorder', ck, '--plan', pf, '--out', out]), 0);
  assert.deepEqual(tensorBytes(join(out, 'model-00001-of-00003.safetensors'), 'model.layers.1.block_sparse_moe.experts.0.w2.weight'), bytes(12, 32));
  // layer 2 identity: shard 2 unchanged in bytes
  assert.ok(readFileSync(join(ck, 'model-00002-of-00003.safetensors')).equals(readFileSync(join(out, 'model-00002-of-00003.safetensors'))));
});

test('refusals: replicas, expert-count mismatch, existing output; nothing left behind', async () => {
  const ck = join(root, 'ck4');
  makeCheckpoint(ck);
  const base = { version: 1 as const, numLayers: 2, numRanks: 2, ranksPerNode: 2, layerIds: [1, 2] };
  const withReplicas = { ...base, numExperts: E, phy2log: [Int32Array.of(0, 1, 2, 3, 0, 1), Int32Array.of(0, 1, 2, 3, 2, 3)] };
  await assert.rejects(() => reorderCheckpoint({ checkpointDir: ck, plan: withReplicas, outDir: join(root, 'x1') }), (e: unknown) => e instanceof InputError && /without replicas/.test(e.message));
  const wrongE = { ...base, numExperts: 8, phy2log: [Int32Array.from({ length: 8 }, (_, i) => i), Int32Array.from({ length: 8 }, (_, i) => i)] };
  await assert.rejects(() => reorderCheckpoint({ checkpointDir: ck, plan: wrongE, outDir: join(root, 'x2') }), (e: unknown) => e instanceof InputError && /plan is for 8 experts but .*config.json says 4; is the plan for another model/.test(e.message));
  mkdirSync(join(root, 'exists'));
  const ok = { ...base, numExperts: E, phy2log: plan.phy2log.map((r) => Int32Array.from(r)) };
  await assert.rejects(() => reorderCheckpoint({ checkpointDir: ck, plan: ok, outDir: join(root, 'exists') }), (e: unknown) => e instanceof InputError && /already exists/.test(e.message));
  assert.ok(!existsSync(join(root, 'x1')) && !existsSync(join(root, 'x2')));
});

test('the reader accepts a safetensors file built by hand in Python (struct + json), and refuses a truncated one', () => {
  const f = join(root, 'py.safetensors');
  const py = [
    'import json, struct, sys',
    'a = struct.pack("<4f", 1.0, 2.0, 3.0, 4.0)',
    'b = struct.pack("<3h", -1, 2, -3)',
    'h = json.dumps({"__metadata__": {"k": "v"}, "b": {"dtype": "I16", "shape": [3], "data_offsets": [16, 22]}, "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}).encode()',
    'open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + a + b)',
  ].join('\n');
  execFileSync('/usr/bin/python3', ['-c', py, f]);
  const h = readSafetensorsHeader(f);
  assert.deepEqual(h.tensors.map((t) => [t.name, t.dtype, t.shape, t.end - t.start]), [['a', 'F32', [2, 2], 16], ['b', 'I16', [3], 6]]);
  assert.deepEqual(h.metadata, { k: 'v' });
  const raw = readFileSync(f);
  const b = h.byName.get('b')!;
  assert.deepEqual(Array.from(new Int16Array(raw.buffer.slice(raw.byteOffset + b.start, raw.byteOffset + b.end))), [-1, 2, -3]);
  writeFileSync(join(root, 'cut.safetensors'), raw.subarray(0, raw.length - 2));
  assert.throws(() => readSafetensorsHeader(join(root, 'cut.safetensors')), (e: unknown) => e instanceof InputError && /truncated/.test(e.message));
});

test('checkpoint MoE layers the plan does not name (e.g. an MTP layer) are left unchanged, with a warning', async () => {
  const ck = join(root, 'ck5');
  makeCheckpoint(ck);
  const onlyLayer2 = { version: 1 as const, numLayers: 1, numExperts: E, numRanks: 2, ranksPerNode: 2, layerIds: [2], phy2log: [Int32Array.of(1, 0, 3, 2)] };
  const warned: string[] = [];
  const out = join(root, 'out5');
  const r = await reorderCheckpoint({ checkpointDir: ck, plan: onlyLayer2, outDir: out, verify: true, warn: (s) => warned.push(s) });
  assert.ok(warned.some((w) => /layers 1 are not in the plan/.test(w)));
  assert.deepEqual(r.shardsRewritten, ['model-00002-of-00003.safetensors']);
  assert.ok(readFileSync(join(ck, 'model-00001-of-00003.safetensors')).equals(readFileSync(join(out, 'model-00001-of-00003.safetensors'))));
});

/** Spawn `ballast reorder` held after its first shard (test hook), wait until its temp dir exists. */
async function spawnHeld(ck: string, planFile: string, out: string): Promise<{ child: import('node:child_process').ChildProcess; tmp: string; done: Promise<{ code: number | null; signal: string | null; stderr: string }> }> {
  const { spawn } = await import('node:child_process');
  const bin = fileURLToPath(new URL('../../../bin/ballast.js', import.meta.url));
  const child = spawn(process.execPath, [bin, 'reorder', ck, '--plan', planFile, '--out', out], { env: { ...process.env, BALLAST_REORDER_TEST_STALL_MS: '60000' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const done = new Promise<{ code: number | null; signal: string | null; stderr: string }>((res) => child.on('exit', (code, signal) => res({ code, signal, stderr })));
  const tmp = await new Promise<string>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`reorder did not reach its temp dir: ${stderr}`)), 30000);
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /reorder: writing in (\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        res(m[1]);
      }
    });
    child.on('exit', () => rej(new Error(`reorder exited early: ${stderr}`)));
  });
  return { child, tmp, done };
}

test('issue 16 item 3: SIGINT / SIGTERM remove the temp dir; a SIGKILLed run\'s temp dir is removed by the next run', async () => {
  const ck = join(root, 'ck6');
  makeCheckpoint(ck);
  const planFile = join(root, 'plan6.json');
  writeFileSync(planFile, JSON.stringify(plan));
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    const out = join(root, `out6-${sig}`);
    const { child, tmp, done } = await spawnHeld(ck, planFile, out);
    assert.ok(existsSync(tmp) && readdirSync(tmp).length > 0, 'temp dir holds the first shard');
    child.kill(sig);
    const r = await done;
    assert.equal(r.code, code, r.stderr);
    assert.match(r.stderr, new RegExp(`reorder interrupted \\(${sig}\\); removed .*nothing written`));
    assert.ok(!existsSync(tmp), `${sig}: temp dir left behind`);
    assert.ok(!existsSync(out));
  }
  const out = join(root, 'out6-kill');
  const { child, tmp, done } = await spawnHeld(ck, planFile, out);
  child.kill('SIGKILL');
  await done;
  assert.ok(existsSync(tmp), 'SIGKILL leaves the temp dir (nothing can run)');
  const warned: string[] = [];
  const r = await reorderCheckpoint({ checkpointDir: ck, plan: { ...plan, version: 1, phy2log: plan.phy2log.map((x) => Int32Array.from(x)) }, outDir: out, warn: (s) => warned.push(s) });
  assert.deepEqual(r.staleRemoved, [tmp]);
  assert.ok(warned.some((w) => w.includes(`removed ${tmp}, left by an earlier reorder that did not finish`)));
  assert.ok(!existsSync(tmp) && existsSync(join(out, REORDER_FILE)));
  // a temp dir of a live process (this one) is not touched
  const live = join(root, `.out6-live.tmp-${process.pid}-abcd1234`);
  mkdirSync(live);
  await reorderCheckpoint({ checkpointDir: ck, plan: { ...plan, version: 1, phy2log: plan.phy2log.map((x) => Int32Array.from(x)) }, outDir: join(root, 'out6-live'), warn: () => {} });
  assert.ok(existsSync(live));
});

test('an SGLang map over every decoder layer (dense rows as the identity) maps row l to checkpoint layer l, no --ranks', async () => {
  const ck = join(root, 'ck7');
  makeCheckpoint(ck);
  const pf = join(root, 'sgl-all.json');
  // decoder layers 0 (dense: no experts in the checkpoint), 1 and 2 (MoE)
  writeFileSync(pf, JSON.stringify({ physical_to_logical_map: [[0, 1, 2, 3], [3, 2, 1, 0], [0, 1, 2, 3]] }));
  const out = join(root, 'out7');
  assert.equal(await main(['reorder', ck, '--plan', pf, '--out', out]), 0);
  const rec = JSON.parse(readFileSync(join(out, 'ballast-reorder.json'), 'utf8'));
  assert.deepEqual(rec.layers.map((l: { checkpointLayer: number }) => l.checkpointLayer), [1, 2]);
  assert.deepEqual(tensorBytes(join(out, 'model-00001-of-00003.safetensors'), 'model.layers.1.block_sparse_moe.experts.0.w2.weight'), bytes(12, 32));
  // a dense row that is not the identity cannot be carried out
  writeFileSync(pf, JSON.stringify({ physical_to_logical_map: [[1, 0, 2, 3], [3, 2, 1, 0], [0, 1, 2, 3]] }));
  await assert.rejects(() => reorderCheckpoint({ checkpointDir: ck, plan: readPlanFile(pf, { permutationOnly: true }), outDir: join(root, 'out7b') }), (e: unknown) => e instanceof InputError && /the plan moves experts of layer 0, which has no experts in the checkpoint \(MoE layers 1,2\)/.test(e.message));
});

test('refusals: a router that cannot be found, an expert naming reorder does not know', async () => {
  const mk = (name: string, names: string[]) => {
    const d = join(root, name);
    mkdirSync(d);
    writeFileSync(join(d, 'config.json'), JSON.stringify({ model_type: 'qwen3_moe', num_experts: 4, hidden_size: 2 }));
    writeFileSync(join(d, 'model.safetensors'), encodeSafetensors(names.map((n) => ({ name: n, dtype: 'U8', shape: [2], data: bytes(2, 1) }))));
    return d;
  };
  const p = { version: 1 as const, numLayers: 1, numExperts: E, numRanks: 2, ranksPerNode: 2, layerIds: [0], phy2log: [Int32Array.of(1, 0, 3, 2)] };
  const noRouter = mk('ck8', Array.from({ length: E }, (_, e) => `model.layers.0.mlp.experts.${e}.down_proj.weight`));
  await assert.rejects(() => reorderCheckpoint({ checkpointDir: noRouter, plan: p, outDir: join(root, 'o8') }), (e: unknown) => e instanceof InputError && /layer 0.*no router found in model\.layers\.0\.mlp \(expected gate\.weight/.test(`${e.where} ${e.message}`));
  const unknown = mk('ck9', Array.from({ length: E }, (_, e) => `model.layers.0.mlp.expert_list.${e}.w1.weight`));
  await assert.rejects(() => reorderCheckpoint({ checkpointDir: unknown, plan: p, outDir: join(root, 'o9') }), (e: unknown) => e instanceof InputError && /no MoE expert tensors found/.test(e.message));
  assert.ok(!existsSync(join(root, 'o8')) && !existsSync(join(root, 'o9')));
  assert.deepEqual(readdirSync(root).filter((n) => /^\.o[89]\.tmp-/.test(n)), []);
});

test('issue 16 item 3: every written file and the temp dir are fsynced before the rename, the parent after (strace)', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const probe = spawnSync('strace', ['-qq', '-e', 'trace=none', 'true'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    t.skip(`strace cannot trace here (${(probe.stderr || String(probe.error)).trim().split('\n')[0]})`);
    return;
  }
  const ck = join(root, 'ck10');
  makeCheckpoint(ck);
  const planFile = join(root, 'plan10.json');
  writeFileSync(planFile, JSON.stringify(plan));
  const out = join(root, 'out10');
  const log = join(root, 'strace10.log');
  const bin = fileURLToPath(new URL('../../../bin/ballast.js', import.meta.url));
  const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=openat,fsync,fdatasync,rename,renameat,renameat2', '-o', log, process.execPath, bin, 'reorder', ck, '--plan', planFile, '--out', out], { encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 0, r.stderr);
  const fdPath = new Map<string, string>();
  const written = new Set<string>();
  const synced = new Set<string>();
  let renamed = false;
  let parentSyncedAfter = false;
  let tmpDir = '';
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    let m = /^(\d+)\s+openat\(AT_FDCWD, "([^"]+)", ([A-Z_|]+)(?:, \d+)?\) = (\d+)/.exec(line);
    if (m) {
      fdPath.set(`${m[1]}:${m[4]}`, m[2]);
      if (m[2].includes('.out10.tmp-') && /O_CREAT/.test(m[3])) written.add(m[2]);
      continue;
    }
    m = /^(\d+)\s+f(?:data)?sync\((\d+)\)\s+= 0/.exec(line);
    if (m) {
      const p = fdPath.get(`${m[1]}:${m[2]}`) ?? '?';
      if (!renamed) synced.add(p);
      else if (p === root) parentSyncedAfter = true;
      continue;
    }
    m = /rename(?:at2?)?\(.*?"([^"]*\.out10\.tmp-[^"]+)".*"([^"]+out10)"/.exec(line);
    if (m) {
      renamed = true;
      tmpDir = m[1];
    }
  }
  assert.ok(renamed, 'the temp dir was renamed onto --out');
  assert.ok(written.size >= 4, `files written: ${[...written]}`); // 2 rewritten shards, index, ballast-reorder.json
  for (const f of written) assert.ok(synced.has(f), `${f} not fsynced before the rename`);
  assert.ok(synced.has(tmpDir), 'temp dir fsynced before the rename');
  assert.ok(parentSyncedAfter, 'parent dir fsynced after the rename');
});
