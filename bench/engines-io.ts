/**
 * Engines I/O benchmark (rerunnable): node --import tsx bench/engines-io.ts
 *  1. `reorder` on a synthetic 96 MiB checkpoint (2 shards, 4 MoE layers x 8 experts x 3 x 1 MiB, every
 *     expert moved) vs. copying the same shards with fs.copyFileSync (the I/O floor), side by side.
 *  2. Reading an SGLang stat dump at DeepSeek-V3 shape ([1000][61][256] int32, 62.5 MB) natively vs.
 *     torch.load in Python (timed inside Python, interpreter start excluded).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reorderCheckpoint } from '../src/act/reorder/reorder.ts';
import { encodeSafetensors } from '../src/act/safetensors/safetensors.ts';
import { readSglangDump } from '../src/ingest/readers/sglang-dump/read.ts';
import { loadTorchFile } from '../src/ingest/torch/load.ts';

const root = mkdtempSync(join(tmpdir(), 'ballast-bench-io-'));
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
async function best(n: number, f: () => void | Promise<void>): Promise<number> {
  let b = Number.POSITIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await f();
    b = Math.min(b, ms(t0));
  }
  return b;
}

try {
  // 1. reorder
  const ck = join(root, 'ck');
  mkdirSync(ck);
  const MiB = 1 << 20;
  const E = 8;
  const shards: string[] = [];
  for (let s = 0; s < 2; s++) {
    const ts = [];
    for (let l = 2 * s; l < 2 * s + 2; l++) {
      for (let e = 0; e < E; e++) for (const w of ['gate_proj', 'up_proj', 'down_proj']) ts.push({ name: `model.layers.${l}.mlp.experts.${e}.${w}.weight`, dtype: 'BF16', shape: [512, 1024], data: new Uint8Array(MiB).fill(e) });
      ts.push({ name: `model.layers.${l}.mlp.gate.weight`, dtype: 'BF16', shape: [E, 1024], data: new Uint8Array(E * 2048) });
    }
    const name = `model-0000${s + 1}-of-00002.safetensors`;
    writeFileSync(join(ck, name), encodeSafetensors(ts));
    shards.push(name);
  }
  writeFileSync(join(ck, 'config.json'), JSON.stringify({ model_type: 'qwen3_moe', num_experts: E, hidden_size: 1024 }));
  const plan = { version: 1 as const, numLayers: 4, numExperts: E, numRanks: 2, ranksPerNode: 2, layerIds: [0, 1, 2, 3], phy2log: Array.from({ length: 4 }, () => Int32Array.from({ length: E }, (_, i) => E - 1 - i)) };
  let k = 0;
  const copy = await best(3, () => {
    const d = join(root, `copy${k++}`);
    mkdirSync(d);
    for (const s of shards) copyFileSync(join(ck, s), join(d, s));
    rmSync(d, { recursive: true });
  });
  const reorder = await best(3, async () => {
    const d = join(root, `r${k++}`);
    await reorderCheckpoint({ checkpointDir: ck, plan, outDir: d, warn: () => {} });
    rmSync(d, { recursive: true });
  });
  const verify = await best(2, async () => {
    const d = join(root, `v${k++}`);
    await reorderCheckpoint({ checkpointDir: ck, plan, outDir: d, verify: true, warn: () => {} });
    rmSync(d, { recursive: true });
  });
  console.log('reorder, 96 MiB checkpoint, every expert moved (best of runs):');
  console.log(`  fs.copyFileSync baseline  ${copy.toFixed(0)} ms  (${(96 / (copy / 1000)).toFixed(0)} MiB/s)`);
  console.log(`  reorder                   ${reorder.toFixed(0)} ms  (${(96 / (reorder / 1000)).toFixed(0)} MiB/s)  ratio ${(reorder / copy).toFixed(2)}x copy`);
  console.log(`  reorder --verify          ${verify.toFixed(0)} ms  ratio ${(verify / copy).toFixed(2)}x copy`);

  // 2. SGLang stat dump read
  const dump = join(root, 'dump.pt');
  const py = [
    'import sys, time, torch',
    'torch.manual_seed(0)',
    'x = torch.randint(0, 100, (1000, 61, 256), dtype=torch.int32)',
    'torch.save({"rank": 0, "logical_count": x, "average_utilization_rate_over_window": None}, sys.argv[1])',
    'best = 1e9',
    'for _ in range(3):',
    '    t0 = time.perf_counter(); torch.load(sys.argv[1]); best = min(best, time.perf_counter() - t0)',
    'print(best * 1000)',
  ].join('\n');
  const pyMs = Number(execFileSync('/usr/bin/python3', ['-c', py, dump]).toString().trim());
  const loadMs = await best(3, () => void loadTorchFile(dump));
  const tsMs = await best(3, () => void readSglangDump(dump, { warn: () => {} }));
  console.log('SGLang stat dump [1000][61][256] int32 (62.5 MB):');
  console.log(`  torch.load (Python, in-process)  ${pyMs.toFixed(0)} ms`);
  console.log(`  ballast loadTorchFile             ${loadMs.toFixed(0)} ms  ratio ${(loadMs / pyMs).toFixed(2)}x torch.load (same work: zip + pickle + tensor)`);
  console.log(`  ballast readSglangDump            ${tsMs.toFixed(0)} ms  ratio ${(tsMs / pyMs).toFixed(2)}x torch.load (includes ring ordering + conversion to a LoadTrace)`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
