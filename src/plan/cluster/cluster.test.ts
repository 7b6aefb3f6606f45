import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LinkKind, linkBandwidth, linkKindOf } from '../../core/cluster.ts';
import { InputError } from '../../core/errors.ts';
import { clusterToJson, parseClusterJson } from './cluster-json.ts';
import { clusterFromTopo, discoverCluster, parseGpuQuery, parseTopoMatrix, sysfsBusId } from './discover.ts';
import { loadCluster } from './load.ts';
import { PRESET_NAMES } from './presets.ts';

const FIX = new URL('./fixtures/', import.meta.url);
const fixture = (name: string) => readFileSync(new URL(name, FIX), 'utf8');

function throwsInput(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof InputError && re.test(`${e.where} ${e.message}`));
}

test('every preset loads with the documented shape', () => {
  const shapes: Record<string, [number, number]> = {
    '8xH100-SXM': [1, 8],
    '8xH100-PCIe-2socket': [1, 8],
    '4xA100-PCIe': [1, 4],
    '2x8xH100-IB': [2, 8],
    '4x8xH800-IB': [4, 8],
    '8xRTX3090-PCIe': [1, 8],
    '8xH100': [1, 8],
    '8xH200': [1, 8],
    '8xH20': [1, 8],
    '8xB200': [1, 8],
    'GB200-NVL72': [1, 72],
    '8xMI300X': [1, 8],
    '8xMI355X': [1, 8],
  };
  assert.deepEqual(PRESET_NAMES.slice().sort(), Object.keys(shapes).sort());
  for (const [name, [nodes, per]] of Object.entries(shapes)) {
    const c = loadCluster(name);
    assert.equal(c.numNodes, nodes, name);
    assert.equal(c.gpusPerNode, per, name);
    assert.equal(c.gpus.length, nodes * per, name);
  }
});

test('8xH100-SXM: NVLink4 450 GB/s between every pair, HBM3 3350 GB/s on the diagonal, two sockets', () => {
  const c = loadCluster('8xH100-SXM');
  for (let a = 0; a < 8; a++) {
    for (let b = 0; b < 8; b++) {
      assert.equal(linkKindOf(c, a, b), a === b ? LinkKind.SELF : LinkKind.NVLINK);
      assert.equal(linkBandwidth(c, a, b), a === b ? 3350 : 450);
    }
  }
  assert.deepEqual(c.gpus.map((g) => g.numa), [0, 0, 0, 0, 1, 1, 1, 1]);
  assert.equal(c.gpus[0].tflops, 989);
  assert.equal(c.gpus[0].hbmFreeBytes, Infinity);
});

test('multi-node presets: network between nodes, NVLink inside; H800 at 160 GB/s', () => {
  const c = loadCluster('2x8xH100-IB');
  assert.equal(linkKindOf(c, 0, 7), LinkKind.NVLINK);
  assert.equal(linkKindOf(c, 0, 8), LinkKind.NETWORK);
  assert.equal(linkBandwidth(c, 0, 8), 50);
  assert.equal(c.gpus[15].node, 1);
  const h800 = loadCluster('4x8xH800-IB');
  assert.equal(h800.gpus.length, 32);
  assert.equal(linkBandwidth(h800, 8, 9), 160);
  assert.equal(linkKindOf(h800, 7, 8), LinkKind.NETWORK);
  assert.equal(h800.gpus[31].node, 3);
});

test('PCIe presets: same-socket switch vs cross-socket, Gen5 50 / Gen4 25 GB/s', () => {
  const p = loadCluster('8xH100-PCIe-2socket');
  assert.equal(linkKindOf(p, 0, 3), LinkKind.PCIE_SWITCH);
  assert.equal(linkKindOf(p, 0, 4), LinkKind.PCIE_CROSS_SOCKET);
  assert.equal(linkBandwidth(p, 0, 4), 50);
  assert.equal(p.gpus[0].hbmGBs, 2000);
  const a = loadCluster('4xA100-PCIe');
  assert.equal(linkBandwidth(a, 0, 1), 25);
  assert.equal(linkKindOf(a, 1, 2), LinkKind.PCIE_CROSS_SOCKET);
  assert.equal(a.gpus[0].hbmGBs, 2000);
  const r = loadCluster('8xRTX3090-PCIe');
  assert.equal(r.gpus[0].hbmGBs, 936);
  assert.equal(r.gpus[0].hbmBytes, 24e9);
});

test('compact JSON: per-GPU overrides and link defaults', () => {
  const c = parseClusterJson(
    { nodes: 2, gpusPerNode: 4, gpu: 'H100-SXM', hbmFreeGB: 8, gpus: { '3': { speed: 0.8, hbmFreeGB: 2 } }, links: { interNode: { kind: 'network', GBs: 25 } } },
    'c.json',
  );
  assert.equal(c.gpus.length, 8);
  assert.equal(c.gpus[3].speed, 0.8);
  assert.equal(c.gpus[3].hbmFreeBytes, 2e9);
  assert.equal(c.gpus[2].speed, 1);
  assert.equal(c.gpus[2].hbmFreeBytes, 8e9);
  assert.equal(linkBandwidth(c, 3, 4), 25);
  assert.equal(linkKindOf(c, 4, 7), LinkKind.NVLINK);
  assert.equal(c.name, '2x4xH100-SXM');
});

test('explicit JSON round-trips through clusterToJson', () => {
  for (const name of PRESET_NAMES) {
    const a = loadCluster(name);
    const b = parseClusterJson(JSON.parse(JSON.stringify(clusterToJson(a))), 'x.json');
    assert.deepEqual(b.gpus, a.gpus, name);
    assert.deepEqual(b.linkKind, a.linkKind, name);
    assert.deepEqual(b.linkGBs, a.linkGBs, name);
  }
});

test('bad cluster JSON names the numbers', () => {
  throwsInput(() => parseClusterJson({ nodes: 3, numGpus: 8 }, 'c.json'), /3 nodes do not divide 8 GPUs/);
  throwsInput(() => parseClusterJson({ nodes: 2, gpusPerNode: 4, numGpus: 6 }, 'c.json'), /2 nodes x 4 GPUs per node = 8 GPUs, but 6/);
  throwsInput(() => parseClusterJson({ gpusPerNode: 8, numaPerNode: 3 }, 'c.json'), /3 NUMA domains do not divide 8/);
  throwsInput(() => parseClusterJson({ gpusPerNode: 8, gpu: 'B300' }, 'c.json'), /unknown GPU type "B300"/);
  throwsInput(() => parseClusterJson({ gpusPerNode: 8, nodez: 2 }, 'c.json'), /key nodez/);
  throwsInput(() => parseClusterJson({ gpusPerNode: 2, gpus: { '1': { speed: 0 } } }, 'c.json'), /gpus.1.speed/);
  throwsInput(() => parseClusterJson({ gpusPerNode: 2, linkKind: [['self', 'network'], ['network', 'self']] }, 'c.json'), /only a network link|linked by the network/);
  throwsInput(() => loadCluster('/nonexistent/cluster.json'), /neither a preset/);
});

test('topo -m: DGX H100 with NICs, ANSI header and an empty column', () => {
  const t = parseTopoMatrix(fixture('dgx-h100-topo.txt'));
  assert.equal(t.numGpus, 8);
  assert.equal(t.rel[0][7], 'NV18');
  assert.equal(t.rel[3][3], 'X');
  assert.deepEqual(t.numaAffinity, [0, 0, 0, 0, 1, 1, 1, 1]);
  assert.equal(t.cpuAffinity[5], '56-111,168-223');
  assert.equal(t.nics.length, 10);
  assert.equal(t.nics[9], 'mlx5_9');
  const q = parseGpuQuery(Array.from({ length: 8 }, (_, i) => `${i}, NVIDIA H100 80GB HBM3, 00000000:${(0x18 + i * 0x10).toString(16)}:00.0, 81559, 5, 16`).join('\n'));
  const c = clusterFromTopo(t, q);
  assert.equal(c.gpus[0].name, 'H100-SXM');
  assert.equal(c.gpus[0].hbmBytes, 81559 * 1048576);
  for (let a = 0; a < 8; a++) for (let b = 0; b < 8; b++) if (a !== b) assert.equal(linkBandwidth(c, a, b), 18 * 25);
  assert.deepEqual(c.gpus.map((g) => g.numa), [0, 0, 0, 0, 1, 1, 1, 1]);
});

test('topo -m: 8-GPU PCIe 2-socket box (PIX / NODE / SYS)', () => {
  const t = parseTopoMatrix(fixture('pcie-8gpu-2socket-topo.txt'));
  assert.equal(t.numGpus, 8);
  assert.deepEqual(t.nics, ['mlx5_0', 'mlx5_1']);
  const q = parseGpuQuery(Array.from({ length: 8 }, (_, i) => `${i}, NVIDIA H100 PCIe, 00000000:${i}1:00.0, 81559, 5, 16`).join('\n'));
  const c = clusterFromTopo(t, q);
  assert.equal(linkKindOf(c, 0, 1), LinkKind.PCIE_SWITCH); // PIX
  assert.equal(linkKindOf(c, 0, 2), LinkKind.PCIE_SWITCH); // NODE
  assert.equal(linkKindOf(c, 0, 4), LinkKind.PCIE_CROSS_SOCKET); // SYS
  assert.equal(linkBandwidth(c, 0, 4), 50);
  assert.deepEqual(c.gpus.map((g) => g.numa), [0, 0, 0, 0, 1, 1, 1, 1]);
});

test('topo -m: 4x A100 PCIe (no GPU NUMA ID column), Gen4 x16 -> 25 GB/s, Gen4 x8 -> 12.5', () => {
  const t = parseTopoMatrix(fixture('a100-4gpu-pcie-topo.txt'));
  assert.equal(t.numGpus, 4);
  assert.deepEqual(t.rel[0], ['X', 'PXB', 'PHB', 'PHB']);
  const q = parseGpuQuery('0, NVIDIA A100 80GB PCIe, 00000000:17:00.0, 81920, 4, 16\n1, NVIDIA A100 80GB PCIe, 00000000:31:00.0, 81920, 4, 16\n2, NVIDIA A100 80GB PCIe, 00000000:B1:00.0, 81920, 4, 16\n3, NVIDIA A100 80GB PCIe, 00000000:CA:00.0, 81920, 4, 8\n');
  const c = clusterFromTopo(t, q);
  assert.equal(c.gpus[0].name, 'A100-80GB-PCIe');
  assert.equal(linkBandwidth(c, 0, 1), 25);
  assert.equal(linkBandwidth(c, 2, 3), 12.5);
  assert.deepEqual(c.gpus.map((g) => g.numa), [0, 0, 0, 0]);
});

test('topo -m: consumer 2-GPU box; NUMA from sysfs, else from SYS-free groups', () => {
  const t = parseTopoMatrix(fixture('consumer-2gpu-topo.txt'));
  assert.deepEqual(t.numaAffinity, [undefined, undefined]);
  const dir = mkdtempSync(join(tmpdir(), 'ballast-sysfs-'));
  try {
    for (const [bus, node] of [['0000:01:00.0', '-1'], ['0000:02:00.0', '-1']]) {
      mkdirSync(join(dir, 'bus/pci/devices', bus), { recursive: true });
      writeFileSync(join(dir, 'bus/pci/devices', bus, 'numa_node'), `${node}\n`);
    }
    const run = (cmd: string, args: string[]) =>
      args[0] === 'topo' ? fixture('consumer-2gpu-topo.txt') : '0, NVIDIA GeForce RTX 3090, 00000000:01:00.0, 24576, 4, 16\n1, NVIDIA GeForce RTX 3090, 00000000:02:00.0, 24576, 4, 16\n';
    const c = discoverCluster({ run, sysRoot: dir })!;
    assert.equal(c.gpus.length, 2);
    assert.equal(c.gpus[1].name, 'RTX3090');
    assert.deepEqual(c.gpus.map((g) => g.numa), [0, 0]);
    assert.equal(linkKindOf(c, 0, 1), LinkKind.PCIE_SWITCH);
    assert.equal(linkBandwidth(c, 0, 1), 25);
    // sysfs giving real nodes wins over the fallback
    writeFileSync(join(dir, 'bus/pci/devices/0000:02:00.0/numa_node'), '1\n');
    writeFileSync(join(dir, 'bus/pci/devices/0000:01:00.0/numa_node'), '0\n');
    assert.deepEqual(discoverCluster({ run, sysRoot: dir })!.gpus.map((g) => g.numa), [0, 1]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('NUMA fallback groups GPUs joined by non-SYS links when affinity and sysfs are unknown', () => {
  const t = parseTopoMatrix(fixture('pcie-8gpu-2socket-topo.txt'));
  t.numaAffinity = t.numaAffinity.map(() => undefined);
  const c = clusterFromTopo(t);
  assert.deepEqual(c.gpus.map((g) => g.numa), [0, 0, 0, 0, 1, 1, 1, 1]);
});

test('H800 NV8 is capped at the 160 GB/s effective figure; bus ids map to sysfs names', () => {
  const text = '\tGPU0\tGPU1\tCPU Affinity\tNUMA Affinity\nGPU0\t X \tNV8\t0-1\t0\nGPU1\tNV8\t X \t0-1\t0\n';
  const c = clusterFromTopo(parseTopoMatrix(text), parseGpuQuery('0, NVIDIA H800, 00000000:18:00.0, 81559, 5, 16\n1, NVIDIA H800, 00000000:2A:00.0, 81559, 5, 16'));
  assert.equal(linkBandwidth(c, 0, 1), 160);
  assert.equal(sysfsBusId('00000000:2A:00.0'), '0000:2a:00.0');
});

test('topo -m parse errors name the line', () => {
  throwsInput(() => parseTopoMatrix('no matrix here\n'), /no matrix header/);
  throwsInput(() => parseTopoMatrix('\tGPU0\tGPU1\nGPU0\t X \tQQ\nGPU1\tQQ\t X \n'), /line 2.*unknown link cell "QQ"/);
  throwsInput(() => parseTopoMatrix('\tGPU0\tGPU1\nGPU0\t X \tPIX\nGPU1\tSYS\t X \n'), /not symmetric/);
  throwsInput(() => parseTopoMatrix('\tGPU0\tGPU1\nGPU0\t X \tPIX\n'), /no row for GPU1/);
});

test('discoverCluster returns undefined when nvidia-smi is absent', () => {
  assert.equal(discoverCluster({ run: () => undefined }), undefined);
  // On this machine (no GPU) the real probe must not throw either.
  const real = discoverCluster();
  assert.ok(real === undefined || real.gpus.length > 0);
});

test('datasheet presets: H200, H20, B200, GB200 NVL72, MI300X, MI355X (per-direction links = bidirectional headline / 2)', () => {
  // [preset, GPUs, HBM GB/s, dense BF16 TFLOP/s, HBM GB, link GB/s per direction] from the datasheets in
  // gpu-types.ts: e.g. B200 NVLink5 1.8 TB/s bidirectional -> 900; MI300X xGMI 128 GB/s per link -> 64.
  const rows: Array<[string, number, number, number, number, number]> = [
    ['8xH200', 8, 4800, 989, 141, 450],
    ['8xH20', 8, 4000, 148, 96, 450],
    ['8xB200', 8, 8000, 2250, 180, 900],
    ['GB200-NVL72', 72, 8000, 2500, 186, 900],
    ['8xMI300X', 8, 5300, 1307, 192, 64],
    ['8xMI355X', 8, 8000, 2500, 288, 76.8],
  ];
  for (const [name, G, hbm, tf, gb, link] of rows) {
    const c = loadCluster(name);
    assert.equal(c.gpus.length, G, name);
    assert.equal(c.numNodes, 1, name);
    assert.equal(c.gpus[0].hbmGBs, hbm, name);
    assert.equal(c.gpus[0].tflops, tf, name);
    assert.equal(c.gpus[0].hbmBytes, gb * 1e9, name);
    assert.equal(linkKindOf(c, 0, G - 1), LinkKind.NVLINK, name);
    assert.equal(linkBandwidth(c, 0, G - 1), link, name);
  }
});
