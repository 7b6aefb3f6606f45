/**
 * Cluster discovery on an AMD host from `rocm-smi --showtopo` (plus `rocm-smi --showproductname` for
 * the GPU names), the ROCm counterpart of discover.ts's `nvidia-smi topo -m`.
 *
 * Format (ROCm/rocm_smi_lib python_smi_tools/rocm_smi.py: showWeightTopology, showHopsTopology,
 * showTypeTopology, showNumaTopology): "====" banner lines naming each section, then for "Weight
 * between two GPUs", "Hops between two GPUs" and "Link Type between two GPUs" a header row
 * "GPU0 GPU1 ..." and one row per GPU (diagonal 0; link types XGMI or PCIE), and under "Numa Nodes"
 * lines "GPU[0] : (Topology) Numa Node: 0" and "... Numa Affinity: 0" (older releases print
 * "GPU 0 : ..."). Sections a release does not print are simply absent.
 *
 * Link mapping into the core cluster type: XGMI -> the `nvlink` kind, which stands for a direct
 * GPU-to-GPU fabric link (NVLink on NVIDIA, xGMI / Infinity Fabric on AMD) at XGMI_GBS_PER_LINK per
 * direction (AMD Instinct MI300X data sheet: 128 GB/s peak bidirectional per Infinity Fabric link, one
 * link to each of the 7 peers of an 8-GPU platform); PCIE -> pcie-switch within a NUMA node,
 * pcie-cross-socket across NUMA nodes, at PCIe Gen5 x16 ~50 GB/s achievable (MI300X is a Gen5 device).
 * A link of more than one hop is given the same per-link figure (the slowest hop bounds it).
 */
import { type Cluster, type GpuInfo, LinkKind, type Link, makeCluster } from '../../core/cluster.ts';
import { InputError } from '../../core/errors.ts';
import { pcieAchievableGBs } from './gpu-types.ts';
import { numaGroups } from './numa-groups.ts';

/** Per-direction GB/s of one xGMI link (MI300X: 128 GB/s bidirectional per link). */
export const XGMI_GBS_PER_LINK = 64;

export interface RocmTopo {
  numGpus: number;
  /** [G][G] 'XGMI' | 'PCIE' | other link type strings; '' on the diagonal. */
  type: string[][];
  /** [G][G] hops, when printed. */
  hops?: number[][];
  /** [G][G] weights, when printed. */
  weight?: number[][];
  /** Per GPU: NUMA node (Numa Node, else Numa Affinity), undefined when absent or negative. */
  numa: (number | undefined)[];
}

const ANSI = /\x1b\[[0-9;]*m/g;

/** The matrix under the banner containing `title`: header GPU names, then rows. Shapes: -> [G][G] cells. */
function matrix(lines: string[], title: RegExp, file: string): string[][] | undefined {
  const at = lines.findIndex((l) => /^=+.*=+$/.test(l.trim()) && title.test(l));
  if (at < 0) return undefined;
  const rows: string[][] = [];
  let cols: string[] | undefined;
  for (let i = at + 1; i < lines.length; i++) {
    const t = lines[i].trim();
    if (t === '') continue;
    if (/^=+/.test(t)) break;
    const cells = t.split(/\s+/);
    if (!cols) {
      if (!cells.every((c) => /^GPU\d+$/.test(c))) throw new InputError(file, `line ${i + 1}`, `expected a header row "GPU0 GPU1 ..." under "${lines[at].replace(/=/g, '').trim()}", got "${t}"`);
      cols = cells;
      continue;
    }
    const m = /^GPU(\d+)$/.exec(cells[0]);
    if (!m) throw new InputError(file, `line ${i + 1}`, `expected a row starting with GPU<n>, got "${t}"`);
    if (cells.length - 1 !== cols.length) throw new InputError(file, `line ${i + 1}`, `expected ${cols.length} cells after ${cells[0]}, got ${cells.length - 1}`);
    rows[Number(m[1])] = cells.slice(1);
  }
  if (!cols) return undefined;
  for (let g = 0; g < cols.length; g++) if (!rows[g]) throw new InputError(file, '', `no row for GPU${g} under "${lines[at].replace(/=/g, '').trim()}"`);
  return rows;
}

function numeric(rows: string[][] | undefined, what: string, file: string): number[][] | undefined {
  if (!rows) return undefined;
  return rows.map((r, a) =>
    r.map((c, b) => {
      if (!/^\d+$/.test(c)) throw new InputError(file, '', `${what} GPU${a}->GPU${b} is "${c}"; expected a non-negative integer`);
      return Number(c);
    }),
  );
}

/** Parse `rocm-smi --showtopo` text. Shapes: -> type[G][G], hops/weight [G][G] when present, numa[G]. */
export function parseRocmTopo(text: string, file = 'rocm-smi --showtopo'): RocmTopo {
  const lines = text.replace(ANSI, '').split(/\r?\n/);
  const typeRows = matrix(lines, /Link Type between two GPUs/, file);
  if (!typeRows) throw new InputError(file, '', 'no "Link Type between two GPUs" matrix found (expected rocm-smi --showtopo output)');
  const G = typeRows.length;
  const type = typeRows.map((r, a) =>
    r.map((c, b) => {
      if (a === b) return '';
      if (!/^[A-Z]+$/.test(c)) throw new InputError(file, '', `link type GPU${a}->GPU${b} is "${c}"; expected XGMI or PCIE`);
      return c;
    }),
  );
  for (let a = 0; a < G; a++) for (let b = 0; b < G; b++) {
    if (type[a][b] !== type[b][a]) throw new InputError(file, '', `link types are not symmetric: GPU${a}->GPU${b} is ${type[a][b]} but GPU${b}->GPU${a} is ${type[b][a]}`);
  }
  const hops = numeric(matrix(lines, /Hops between two GPUs/, file), 'hops', file);
  const weight = numeric(matrix(lines, /Weight between two GPUs/, file), 'weight', file);
  for (const [name, m] of [['hops', hops], ['weight', weight]] as const) {
    if (m && m.length !== G) throw new InputError(file, '', `the ${name} matrix has ${m.length} GPUs, the link type matrix ${G}`);
  }
  const node: (number | undefined)[] = new Array(G).fill(undefined);
  const affinity: (number | undefined)[] = new Array(G).fill(undefined);
  for (const l of lines) {
    const m = /^GPU\s*\[?(\d+)\]?\s*:\s*\(Topology\)\s*Numa (Node|Affinity):\s*(-?\d+)/.exec(l.trim());
    if (!m) continue;
    const g = Number(m[1]);
    const v = Number(m[3]);
    if (g >= G || v < 0) continue;
    if (m[2] === 'Node') node[g] = v;
    else affinity[g] = v;
  }
  return { numGpus: G, type, hops, weight, numa: node.map((v, g) => v ?? affinity[g]) };
}

/** GPU names from `rocm-smi --showproductname` ("GPU[0] : Card Series: AMD Instinct MI300X"). Shapes: -> names by index. */
export function parseRocmProductNames(text: string): (string | undefined)[] {
  const out: (string | undefined)[] = [];
  for (const l of text.split(/\r?\n/)) {
    const m = /^GPU\s*\[?(\d+)\]?\s*:\s*Card Series:\s*(.+?)\s*$/.exec(l.trim());
    if (m) out[Number(m[1])] = m[2];
  }
  return out;
}

/** Short display name: "AMD Instinct MI300X VF" -> "MI300X". */
function shortName(product: string | undefined): string {
  const m = product ? /\b(MI\d+[A-Z]*)\b/i.exec(product) : null;
  return m ? m[1].toUpperCase() : (product ?? 'amd-gpu');
}

/**
 * One-node Cluster from a parsed `rocm-smi --showtopo`. NUMA: the printed node per GPU, else the
 * groups joined by XGMI links. Shapes: topo.type[G][G] -> Cluster with G GPUs.
 */
export function clusterFromRocmTopo(topo: RocmTopo, products: (string | undefined)[] = []): Cluster {
  const G = topo.numGpus;
  const numaDense = numaGroups(topo.numa, (a, b) => topo.type[a][b] === 'XGMI');
  const gpus: GpuInfo[] = Array.from({ length: G }, (_, g) => ({ name: shortName(products[g]), node: 0, numa: numaDense[g], speed: 1, hbmFreeBytes: Infinity }));
  const pcie = pcieAchievableGBs(5);
  const link = (a: number, b: number): Link => {
    const t = topo.type[a][b];
    if (t === 'XGMI') return { kind: LinkKind.NVLINK, GBs: XGMI_GBS_PER_LINK };
    return { kind: numaDense[a] === numaDense[b] ? LinkKind.PCIE_SWITCH : LinkKind.PCIE_CROSS_SOCKET, GBs: pcie };
  };
  const name = gpus.every((g) => g.name === gpus[0].name) ? `${G}x${gpus[0].name}` : `${G}xGPU`;
  const xgmi = topo.type.some((r) => r.includes('XGMI'));
  return makeCluster(`discovered ${name}${xgmi ? ' (xGMI)' : ''}`, 1, G, gpus, link);
}
