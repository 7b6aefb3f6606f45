/**
 * rocm-smi --showtopo discovery on fixture outputs (format of ROCm/rocm_smi_lib
 * python_smi_tools/rocm_smi.py; fixtures written in that layout: an 8x MI300X platform with a full
 * xGMI mesh over two NUMA nodes, and two 4-GPU xGMI islands joined over PCIe with NUMA unreported).
 * Expected links worked out by hand from the matrices.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { LinkKind, linkBandwidth, linkKindOf } from '../../core/cluster.ts';
import { InputError } from '../../core/errors.ts';
import { discoverCluster } from './discover.ts';
import { clusterFromRocmTopo, parseRocmProductNames, parseRocmTopo, XGMI_GBS_PER_LINK } from './discover-rocm.ts';

const fx = (n: string) => readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'fixtures', n), 'utf8');

test('8x MI300X: full xGMI mesh at 64 GB/s per direction, NUMA 0/1 from the Numa Node lines, names from --showproductname', () => {
  const topo = parseRocmTopo(fx('mi300x-8gpu-showtopo.txt'));
  assert.equal(topo.numGpus, 8);
  assert.deepEqual(topo.numa, [0, 0, 0, 0, 1, 1, 1, 1]);
  assert.equal(topo.hops![0][7], 1);
  assert.equal(topo.weight![3][4], 15);
  const c = clusterFromRocmTopo(topo, parseRocmProductNames(fx('mi300x-8gpu-productname.txt')));
  assert.equal(c.name, 'discovered 8xMI300X (xGMI)');
  assert.deepEqual(c.gpus.map((g) => g.name), Array(8).fill('MI300X'));
  assert.deepEqual(c.gpus.map((g) => g.numa), [0, 0, 0, 0, 1, 1, 1, 1]);
  for (let a = 0; a < 8; a++) for (let b = 0; b < 8; b++) {
    if (a === b) assert.equal(linkKindOf(c, a, b), LinkKind.SELF);
    else {
      assert.equal(linkKindOf(c, a, b), LinkKind.NVLINK);
      assert.equal(linkBandwidth(c, a, b), 64);
    }
  }
  assert.equal(XGMI_GBS_PER_LINK, 128 / 2);
});

test('two xGMI islands over PCIe, NUMA -1: islands become the NUMA groups, PCIe between them is cross-socket at 50 GB/s', () => {
  const c = clusterFromRocmTopo(parseRocmTopo(fx('amd-2x4-xgmi-islands-showtopo.txt')));
  assert.deepEqual(c.gpus.map((g) => g.numa), [0, 0, 0, 0, 1, 1, 1, 1]);
  assert.equal(c.name, 'discovered 8xamd-gpu (xGMI)');
  assert.equal(linkKindOf(c, 1, 2), LinkKind.NVLINK);
  assert.equal(linkKindOf(c, 5, 6), LinkKind.NVLINK);
  assert.equal(linkKindOf(c, 0, 4), LinkKind.PCIE_CROSS_SOCKET);
  assert.equal(linkBandwidth(c, 3, 7), 50);
  assert.equal(linkBandwidth(c, 0, 1), 64);
});

test('discoverCluster falls back to rocm-smi when nvidia-smi is absent', () => {
  const calls: string[] = [];
  const run = (cmd: string, args: string[]) => {
    calls.push(`${cmd} ${args.join(' ')}`);
    if (cmd === 'rocm-smi' && args[0] === '--showtopo') return fx('mi300x-8gpu-showtopo.txt');
    if (cmd === 'rocm-smi' && args[0] === '--showproductname') return fx('mi300x-8gpu-productname.txt');
    return undefined;
  };
  const c = discoverCluster({ run })!;
  assert.equal(c.gpus.length, 8);
  assert.equal(c.name, 'discovered 8xMI300X (xGMI)');
  assert.deepEqual(calls, ['nvidia-smi topo -m', 'rocm-smi --showtopo', 'rocm-smi --showproductname']);
  assert.equal(discoverCluster({ run: (cmd) => (cmd === 'rocm-smi' ? 'ERROR: No AMD GPUs specified\n' : undefined) }), undefined);
});

test('malformed rocm-smi output is one InputError naming the place', () => {
  assert.throws(() => parseRocmTopo('no topology here'), (e: unknown) => e instanceof InputError && /no "Link Type between two GPUs" matrix/.test(e.message));
  const bad = fx('mi300x-8gpu-showtopo.txt').replace(/^GPU3(\s+)XGMI/m, 'GPU3$1PCIE');
  assert.throws(() => parseRocmTopo(bad), (e: unknown) => e instanceof InputError && /GPU0->GPU3 is XGMI but GPU3->GPU0 is PCIE/.test(e.message));
  const short = fx('mi300x-8gpu-showtopo.txt').replace(/^GPU5\s+XGMI.*$/m, 'GPU5   XGMI');
  assert.throws(() => parseRocmTopo(short), (e: unknown) => e instanceof InputError && /expected 8 cells after GPU5, got 1/.test(e.message));
});
