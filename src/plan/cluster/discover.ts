/**
 * Cluster discovery on a real host from `nvidia-smi topo -m` (plus `nvidia-smi --query-gpu` and
 * /sys/bus/pci/devices/<bus id>/numa_node).
 *
 * `nvidia-smi topo -m` prints a tab-separated matrix: a header row of device names (GPU0.., NIC0..,
 * then "CPU Affinity", "NUMA Affinity" and on newer drivers "GPU NUMA ID"), one row per device, then a
 * legend. Cells: X (self), NV# (# bonded NVLinks), PIX, PXB, PHB, NODE (PCIe within one NUMA node),
 * SYS (PCIe across the inter-socket link). NIC rows and columns are skipped.
 *
 * Link mapping: NV# -> nvlink at # x 25 GB/s per direction (capped by the GPU type's effective NVLink
 * figure, e.g. H800 160 GB/s); PIX/PXB/PHB/NODE -> pcie-switch; SYS -> pcie-cross-socket; PCIe GB/s from
 * the slower GPU's PCIe generation and width (Gen4 x16 ~25, Gen5 x16 ~50 achievable).
 * NUMA domain per GPU: the NUMA Affinity column, else sysfs numa_node, else the groups of GPUs joined
 * by non-SYS links.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { type Cluster, type GpuInfo, LinkKind, type Link, makeCluster } from '../../core/cluster.ts';
import { InputError } from '../../core/errors.ts';
import { clusterFromRocmTopo, parseRocmProductNames, parseRocmTopo } from './discover-rocm.ts';
import { gpuTypeFromProductName, NVLINK_GBS_PER_LINK, pcieAchievableGBs } from './gpu-types.ts';
import { numaGroups } from './numa-groups.ts';

export interface TopoMatrix {
  /** GPU count G (GPU rows in the matrix, in index order). */
  numGpus: number;
  /** [G][G] raw relation cells between GPUs ('X', 'NV18', 'PIX', 'SYS', ...). */
  rel: string[][];
  /** Per GPU: CPU Affinity cell, or undefined when absent / N/A. */
  cpuAffinity: (string | undefined)[];
  /** Per GPU: NUMA Affinity as an integer, or undefined when absent / N/A. */
  numaAffinity: (number | undefined)[];
  /** NIC names from the NIC legend (NIC0 -> mlx5_0), or the NIC row names. */
  nics: string[];
}

const ANSI = /\x1b\[[0-9;]*m/g;
const REL = /^(X|NV\d+|PIX|PXB|PHB|NODE|SYS|N\/A)$/;

/** Parse `nvidia-smi topo -m` text. Shapes: -> rel[G][G], per-GPU affinity arrays of length G. */
export function parseTopoMatrix(text: string, file = 'nvidia-smi topo -m'): TopoMatrix {
  const lines = text.replace(ANSI, '').split(/\r?\n/);
  const hi = lines.findIndex((l) => /^\s/.test(l) && /\bGPU0\b/.test(l));
  if (hi < 0) throw new InputError(file, '', 'no matrix header (a line listing GPU0, GPU1, ...) found');
  const header = lines[hi].split('\t').map((s) => s.trim()).filter((s) => s !== '');
  const firstExtra = header.findIndex((h) => /Affinity|NUMA ID/.test(h));
  const nDev = firstExtra < 0 ? header.length : firstExtra;
  const devices = header.slice(0, nDev);
  const extra = header.slice(nDev);
  const gpuCols = devices.map((d, i) => (/^GPU\d+$/.test(d) ? i : -1)).filter((i) => i >= 0);
  const G = gpuCols.length;
  const rel: string[][] = [];
  const cpuAffinity: (string | undefined)[] = [];
  const numaAffinity: (number | undefined)[] = [];
  const seen = new Set<number>();
  for (let i = hi + 1; i < lines.length; i++) {
    const line = lines[i];
    if (/^\s*Legend:/.test(line)) break;
    if (line.trim() === '') continue;
    const cells = line.split('\t');
    const name = cells[0].trim();
    const m = /^GPU(\d+)$/.exec(name);
    if (!m) continue; // NIC rows
    const g = Number(m[1]);
    if (g >= G || seen.has(g)) throw new InputError(file, `line ${i + 1}`, `unexpected row ${name}; the header lists ${G} GPUs`);
    seen.add(g);
    const vals = cells.slice(1, 1 + nDev).map((s) => s.trim());
    if (vals.length < nDev) throw new InputError(file, `line ${i + 1}`, `expected ${nDev} matrix cells, got ${vals.length}`);
    const row = gpuCols.map((c, j) => {
      const v = vals[c];
      if (!REL.test(v)) throw new InputError(file, `line ${i + 1}`, `unknown link cell "${v}" (column ${devices[c]}); expected X, NV#, PIX, PXB, PHB, NODE or SYS`);
      if ((v === 'X') !== (j === g)) throw new InputError(file, `line ${i + 1}`, `"X" (self) must sit exactly on the diagonal, found "${v}" at ${name}/${devices[c]}`);
      return v;
    });
    rel[g] = row;
    const rest = cells.slice(1 + nDev).map((s) => s.trim()).filter((s) => s !== '');
    const at = (key: string) => {
      const k = extra.indexOf(key);
      const v = k >= 0 ? rest[k] : undefined;
      return v === undefined || v === 'N/A' ? undefined : v;
    };
    cpuAffinity[g] = at('CPU Affinity');
    const numa = at('NUMA Affinity');
    numaAffinity[g] = numa !== undefined && /^\d+$/.test(numa) ? Number(numa) : undefined;
  }
  for (let g = 0; g < G; g++) if (!rel[g]) throw new InputError(file, '', `no row for GPU${g}`);
  for (let a = 0; a < G; a++) {
    for (let b = 0; b < G; b++) {
      if (rel[a][b] !== rel[b][a]) throw new InputError(file, '', `matrix is not symmetric: GPU${a}->GPU${b} is ${rel[a][b]} but GPU${b}->GPU${a} is ${rel[b][a]}`);
    }
  }
  const nics: string[] = [];
  for (const l of lines) {
    const m = /^\s*NIC(\d+):\s*(\S+)/.exec(l);
    if (m) nics[Number(m[1])] = m[2];
  }
  if (nics.length === 0) for (const d of devices) if (!/^GPU/.test(d)) nics.push(d);
  return { numGpus: G, rel, cpuAffinity, numaAffinity, nics };
}

/** One row of `nvidia-smi --query-gpu=index,name,pci.bus_id,memory.total,pcie.link.gen.max,pcie.link.width.max --format=csv,noheader,nounits`. */
export interface GpuQueryRow {
  index: number;
  name: string;
  busId: string;
  memoryMiB?: number;
  pcieGen?: number;
  pcieWidth?: number;
}

export const GPU_QUERY_FIELDS = 'index,name,pci.bus_id,memory.total,pcie.link.gen.max,pcie.link.width.max';

/** Parse the query CSV above. Shapes: -> rows in index order. */
export function parseGpuQuery(text: string, file = 'nvidia-smi --query-gpu'): GpuQueryRow[] {
  const rows: GpuQueryRow[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    const f = line.split(',').map((s) => s.trim());
    if (f.length < 3 || !/^\d+$/.test(f[0])) throw new InputError(file, `line ${i + 1}`, `expected "${GPU_QUERY_FIELDS}" values, got "${line}"`);
    const num = (s: string | undefined) => (s !== undefined && /^\d+(\.\d+)?$/.test(s) ? Number(s) : undefined);
    rows.push({ index: Number(f[0]), name: f[1], busId: f[2], memoryMiB: num(f[3]), pcieGen: num(f[4]), pcieWidth: num(f[5]) });
  });
  return rows.sort((a, b) => a.index - b.index);
}

/** sysfs path of a PCI device from nvidia-smi's bus id ("00000000:18:00.0" -> "0000:18:00.0"). */
export function sysfsBusId(busId: string): string {
  const m = /^([0-9a-fA-F]+):([0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])$/.exec(busId.trim());
  if (!m) return busId.toLowerCase();
  return `${m[1].slice(-4)}:${m[2]}`.toLowerCase();
}

/** NUMA node of a PCI device from sysfs (`<root>/bus/pci/devices/<id>/numa_node`); undefined when unknown or -1. */
export function readSysfsNuma(busId: string, sysRoot = '/sys'): number | undefined {
  try {
    const v = Number(readFileSync(`${sysRoot}/bus/pci/devices/${sysfsBusId(busId)}/numa_node`, 'utf8').trim());
    return Number.isInteger(v) && v >= 0 ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Build a one-node Cluster from a parsed topology, optional query rows and a NUMA lookup by bus id.
 * Shapes: topo.rel[G][G] -> Cluster with G GPUs.
 */
export function clusterFromTopo(
  topo: TopoMatrix,
  query: GpuQueryRow[] = [],
  numaOfBus: (busId: string) => number | undefined = () => undefined,
): Cluster {
  const G = topo.numGpus;
  const q = (g: number) => query.find((r) => r.index === g);
  // NUMA: affinity column, else sysfs, else components of non-SYS links.
  const numaDense = numaGroups(
    Array.from({ length: G }, (_, g) => topo.numaAffinity[g] ?? (q(g) ? numaOfBus(q(g)!.busId) : undefined)),
    (a, b) => topo.rel[a][b] !== 'SYS',
  );
  const gpus: GpuInfo[] = Array.from({ length: G }, (_, g) => {
    const row = q(g);
    const type = row ? gpuTypeFromProductName(row.name) : undefined;
    return {
      name: type?.name ?? row?.name ?? 'gpu',
      node: 0,
      numa: numaDense[g],
      speed: 1,
      hbmFreeBytes: Infinity,
      hbmBytes: row?.memoryMiB !== undefined ? row.memoryMiB * 1048576 : type?.hbmBytes,
      hbmGBs: type?.hbmGBs,
      tflops: type?.tflops,
    };
  });
  const pcie = (g: number) => {
    const row = q(g);
    if (row?.pcieGen !== undefined) return pcieAchievableGBs(row.pcieGen, row.pcieWidth ?? 16);
    return (row ? gpuTypeFromProductName(row.name)?.pcieGBs : undefined) ?? 25;
  };
  const link = (a: number, b: number): Link => {
    const cell = topo.rel[a][b];
    const nv = /^NV(\d+)$/.exec(cell);
    if (nv) {
      const cap = Math.min(q(a) ? (gpuTypeFromProductName(q(a)!.name)?.nvlinkGBs ?? Infinity) : Infinity, q(b) ? (gpuTypeFromProductName(q(b)!.name)?.nvlinkGBs ?? Infinity) : Infinity);
      return { kind: LinkKind.NVLINK, GBs: Math.min(Number(nv[1]) * NVLINK_GBS_PER_LINK, cap) };
    }
    const GBs = Math.min(pcie(a), pcie(b));
    if (cell === 'SYS') return { kind: LinkKind.PCIE_CROSS_SOCKET, GBs };
    return { kind: LinkKind.PCIE_SWITCH, GBs };
  };
  const name = gpus.every((g) => g.name === gpus[0].name) ? `${G}x${gpus[0].name}` : `${G}xGPU`;
  return makeCluster(`discovered ${name}`, 1, G, gpus, link);
}

/** Run a command and return its stdout, or undefined when it is absent or fails. */
function tryRun(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 20000 });
  } catch {
    return undefined;
  }
}

export interface DiscoverOptions {
  /** Command runner (tests pass a fake); returns stdout or undefined when the command is missing/fails. */
  run?: (cmd: string, args: string[]) => string | undefined;
  /** sysfs root (default /sys). */
  sysRoot?: string;
}

/**
 * This host's GPUs as a one-node Cluster (nvidia-smi, else rocm-smi), or undefined when neither is
 * present, works, or lists GPUs. Throws InputError only when an output cannot be parsed.
 */
export function discoverCluster(opts: DiscoverOptions = {}): Cluster | undefined {
  const run = opts.run ?? tryRun;
  const topoText = run('nvidia-smi', ['topo', '-m']);
  if (topoText === undefined || !/\bGPU0\b/.test(topoText)) {
    // AMD: rocm-smi --showtopo (discover-rocm.ts).
    const rocm = run('rocm-smi', ['--showtopo']);
    if (rocm === undefined || !/Link Type between two GPUs/.test(rocm) || !/\bGPU0\b/.test(rocm)) return undefined;
    const names = run('rocm-smi', ['--showproductname']);
    return clusterFromRocmTopo(parseRocmTopo(rocm), names ? parseRocmProductNames(names) : []);
  }
  const topo = parseTopoMatrix(topoText);
  if (topo.numGpus === 0) return undefined;
  const queryText = run('nvidia-smi', [`--query-gpu=${GPU_QUERY_FIELDS}`, '--format=csv,noheader,nounits']);
  const query = queryText ? parseGpuQuery(queryText) : [];
  return clusterFromTopo(topo, query, (bus) => readSysfsNuma(bus, opts.sysRoot));
}
