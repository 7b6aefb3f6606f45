/**
 * Cluster description as JSON (docs/plan.md "Cluster files"). Two forms, freely mixed:
 *
 * Compact:
 *   {"name": "my-box", "nodes": 2, "gpusPerNode": 8, "gpu": "H100-SXM", "numaPerNode": 2,
 *    "links": {"intraNode": "nvlink", "crossSocket": {"kind": "pcie-cross-socket", "GBs": 40},
 *              "interNode": {"kind": "network", "GBs": 50}},
 *    "hbmFreeGB": 8,
 *    "gpus": {"3": {"speed": 0.8}}}
 * Explicit (what `clusterToJson` writes; every GPU and link spelled out):
 *   {"name", "nodes", "gpusPerNode", "gpus": [{"name","numa","speed","hbmFreeGB","hbmGB","hbmGBs","tflops"}],
 *    "linkKind": [[kind names]], "linkGBs": [[GB/s]]}
 *
 * GB means 1e9 bytes; link bandwidths are per direction. GPU r sits on node floor(r / gpusPerNode).
 * Shapes: returns a Cluster with gpus[G], linkKind/linkGBs [G*G].
 */
import { type Cluster, type GpuInfo, LINK_KIND_NAMES, LinkKind, type LinkKindCode, type Link, makeCluster } from '../../core/cluster.ts';
import { InputError } from '../../core/errors.ts';
import { GPU_TYPES, type GpuType } from './gpu-types.ts';

const GB = 1e9;

/** Per-direction GB/s between nodes: InfiniBand NDR 400 Gb/s = 50 GB/s per NIC (docs/cost-model.md). */
export const IB_NDR_GBS = 50;

const TOP_KEYS = new Set(['name', 'nodes', 'gpusPerNode', 'numGpus', 'gpu', 'numaPerNode', 'links', 'hbmFreeGB', 'gpus', 'linkKind', 'linkGBs', 'note']);
const GPU_KEYS = new Set(['type', 'name', 'node', 'numa', 'speed', 'hbmFreeGB', 'hbmGB', 'hbmGBs', 'tflops']);

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);

function kindFromName(name: unknown, file: string, where: string): LinkKindCode {
  for (const [code, n] of Object.entries(LINK_KIND_NAMES)) if (n === name) return Number(code) as LinkKindCode;
  throw new InputError(file, where, `unknown link kind ${JSON.stringify(name)}; expected one of ${Object.values(LINK_KIND_NAMES).filter((n) => n !== 'self').join(', ')}`);
}

function posNumber(v: unknown, file: string, where: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new InputError(file, where, `expected a positive number, got ${JSON.stringify(v)}`);
  return v;
}

function nonNegNumber(v: unknown, file: string, where: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new InputError(file, where, `expected a number >= 0, got ${JSON.stringify(v)}`);
  return v;
}

function posInt(v: unknown, file: string, where: string): number {
  if (!Number.isInteger(v) || (v as number) <= 0) throw new InputError(file, where, `expected a positive integer, got ${JSON.stringify(v)}`);
  return v as number;
}

function gpuType(name: unknown, file: string, where: string): GpuType {
  const t = typeof name === 'string' ? GPU_TYPES[name] : undefined;
  if (!t) throw new InputError(file, where, `unknown GPU type ${JSON.stringify(name)}; expected one of ${Object.keys(GPU_TYPES).join(', ')} or an object with hbmGBs/tflops`);
  return t;
}

/** Default per-GPU facts from the "gpu" key (a type name or an object). */
function baseGpu(spec: unknown, file: string): { info: Omit<GpuInfo, 'node' | 'numa'>; type?: GpuType } {
  if (spec === undefined) return { info: { name: 'gpu', speed: 1, hbmFreeBytes: Infinity } };
  if (typeof spec === 'string') {
    const t = gpuType(spec, file, 'key gpu');
    return { info: { name: t.name, speed: 1, hbmFreeBytes: Infinity, hbmBytes: t.hbmBytes, hbmGBs: t.hbmGBs, tflops: t.tflops }, type: t };
  }
  if (!isObj(spec)) throw new InputError(file, 'key gpu', 'expected a GPU type name or an object');
  const t = spec.type !== undefined ? gpuType(spec.type, file, 'key gpu.type') : undefined;
  const info: Omit<GpuInfo, 'node' | 'numa'> = {
    name: t?.name ?? 'gpu',
    speed: 1,
    hbmFreeBytes: Infinity,
    hbmBytes: t?.hbmBytes,
    hbmGBs: t?.hbmGBs,
    tflops: t?.tflops,
  };
  applyGpuOverrides(info, spec, file, 'key gpu');
  return { info, type: t };
}

function applyGpuOverrides(info: Partial<GpuInfo>, o: Obj, file: string, where: string): void {
  for (const k of Object.keys(o)) if (!GPU_KEYS.has(k)) throw new InputError(file, `${where}.${k}`, `unknown GPU key; expected one of ${[...GPU_KEYS].join(', ')}`);
  if (o.type !== undefined && where !== 'key gpu') {
    const t = gpuType(o.type, file, `${where}.type`);
    Object.assign(info, { name: t.name, hbmBytes: t.hbmBytes, hbmGBs: t.hbmGBs, tflops: t.tflops });
  }
  if (o.name !== undefined) {
    if (typeof o.name !== 'string') throw new InputError(file, `${where}.name`, 'expected a string');
    info.name = o.name;
  }
  if (o.numa !== undefined) {
    if (!Number.isInteger(o.numa) || (o.numa as number) < 0) throw new InputError(file, `${where}.numa`, `expected a NUMA domain >= 0, got ${JSON.stringify(o.numa)}`);
    info.numa = o.numa as number;
  }
  if (o.speed !== undefined) info.speed = posNumber(o.speed, file, `${where}.speed`);
  if (o.hbmFreeGB !== undefined) info.hbmFreeBytes = nonNegNumber(o.hbmFreeGB, file, `${where}.hbmFreeGB`) * GB;
  if (o.hbmGB !== undefined) info.hbmBytes = posNumber(o.hbmGB, file, `${where}.hbmGB`) * GB;
  if (o.hbmGBs !== undefined) info.hbmGBs = posNumber(o.hbmGBs, file, `${where}.hbmGBs`);
  if (o.tflops !== undefined) info.tflops = posNumber(o.tflops, file, `${where}.tflops`);
}

function linkSpec(v: unknown, dflt: Link, file: string, where: string, type?: GpuType): Link {
  if (v === undefined) return dflt;
  if (typeof v === 'string') {
    const kind = kindFromName(v, file, where);
    return { kind, GBs: defaultGBs(kind, type) };
  }
  if (!isObj(v)) throw new InputError(file, where, 'expected a link kind name or {"kind": ..., "GBs": ...}');
  const kind = v.kind === undefined ? dflt.kind : kindFromName(v.kind, file, `${where}.kind`);
  const GBs = v.GBs === undefined ? (v.kind === undefined ? dflt.GBs : defaultGBs(kind, type)) : posNumber(v.GBs, file, `${where}.GBs`);
  return { kind, GBs };
}

function defaultGBs(kind: LinkKindCode, type?: GpuType): number {
  switch (kind) {
    case LinkKind.NVLINK:
      return type?.nvlinkGBs ?? 450;
    case LinkKind.PCIE_SWITCH:
    case LinkKind.PCIE_CROSS_SOCKET:
      return type?.pcieGBs ?? 50;
    default:
      return IB_NDR_GBS;
  }
}

/** Parse a cluster description (compact or explicit form). Throws InputError naming `file` and the key. */
export function parseClusterJson(json: unknown, file: string): Cluster {
  if (!isObj(json)) throw new InputError(file, '', 'expected a JSON object describing the cluster');
  for (const k of Object.keys(json)) if (!TOP_KEYS.has(k)) throw new InputError(file, `key ${k}`, `unknown key; expected one of ${[...TOP_KEYS].join(', ')}`);
  const explicitGpus = Array.isArray(json.gpus) ? (json.gpus as unknown[]) : undefined;
  const numNodes = json.nodes === undefined ? 1 : posInt(json.nodes, file, 'key nodes');
  let G: number;
  let gpusPerNode: number;
  if (json.gpusPerNode !== undefined) {
    gpusPerNode = posInt(json.gpusPerNode, file, 'key gpusPerNode');
    G = numNodes * gpusPerNode;
    const stated = json.numGpus !== undefined ? posInt(json.numGpus, file, 'key numGpus') : explicitGpus?.length;
    if (stated !== undefined && stated !== G) {
      throw new InputError(file, json.numGpus !== undefined ? 'key numGpus' : 'key gpus', `${numNodes} nodes x ${gpusPerNode} GPUs per node = ${G} GPUs, but ${stated} are given`);
    }
  } else {
    const total = json.numGpus !== undefined ? posInt(json.numGpus, file, 'key numGpus') : explicitGpus?.length;
    if (total === undefined || total === 0) throw new InputError(file, '', 'expected gpusPerNode, numGpus or a gpus array');
    if (total % numNodes !== 0) throw new InputError(file, 'key nodes', `${numNodes} nodes do not divide ${total} GPUs evenly`);
    G = total;
    gpusPerNode = total / numNodes;
  }
  const numaPerNode = json.numaPerNode === undefined ? 1 : posInt(json.numaPerNode, file, 'key numaPerNode');
  if (gpusPerNode % numaPerNode !== 0) {
    throw new InputError(file, 'key numaPerNode', `${numaPerNode} NUMA domains do not divide ${gpusPerNode} GPUs per node evenly`);
  }
  const { info: base, type } = baseGpu(json.gpu, file);
  if (json.hbmFreeGB !== undefined) base.hbmFreeBytes = nonNegNumber(json.hbmFreeGB, file, 'key hbmFreeGB') * GB;
  const perNuma = gpusPerNode / numaPerNode;
  const gpus: GpuInfo[] = Array.from({ length: G }, (_, r) => ({
    ...base,
    node: Math.floor(r / gpusPerNode),
    numa: Math.floor((r % gpusPerNode) / perNuma),
  }));
  if (explicitGpus) {
    explicitGpus.forEach((g, r) => {
      if (!isObj(g)) throw new InputError(file, `key gpus[${r}]`, 'expected an object');
      if (g.node !== undefined && g.node !== gpus[r].node) {
        throw new InputError(file, `key gpus[${r}].node`, `GPU ${r} is on node ${gpus[r].node} (GPUs are numbered node by node, ${gpusPerNode} per node), not ${JSON.stringify(g.node)}`);
      }
      applyGpuOverrides(gpus[r], g, file, `key gpus[${r}]`);
    });
  } else if (json.gpus !== undefined) {
    if (!isObj(json.gpus)) throw new InputError(file, 'key gpus', 'expected an array of GPUs or an object {"<gpu index>": {...}}');
    for (const [k, g] of Object.entries(json.gpus)) {
      const r = Number(k);
      if (!/^\d+$/.test(k) || r >= G) throw new InputError(file, `key gpus.${k}`, `expected a GPU index in [0, ${G})`);
      if (!isObj(g)) throw new InputError(file, `key gpus.${k}`, 'expected an object');
      if (g.node !== undefined && g.node !== gpus[r].node) throw new InputError(file, `key gpus.${k}.node`, `GPU ${r} is on node ${gpus[r].node}`);
      applyGpuOverrides(gpus[r], g, file, `key gpus.${k}`);
    }
  }
  // Links: defaults from the GPU type, then the "links" key, then explicit matrices.
  const links = json.links === undefined ? {} : json.links;
  if (!isObj(links)) throw new InputError(file, 'key links', 'expected {"intraNode", "crossSocket", "interNode"}');
  for (const k of Object.keys(links)) {
    if (!['intraNode', 'crossSocket', 'interNode'].includes(k)) throw new InputError(file, `key links.${k}`, 'unknown link key; expected intraNode, crossSocket or interNode');
  }
  const intraDefault: Link = type?.nvlinkGBs ? { kind: LinkKind.NVLINK, GBs: type.nvlinkGBs } : { kind: LinkKind.PCIE_SWITCH, GBs: type?.pcieGBs ?? 50 };
  const intra = linkSpec(links.intraNode, intraDefault, file, 'key links.intraNode', type);
  const crossDefault: Link = intra.kind === LinkKind.NVLINK ? intra : { kind: LinkKind.PCIE_CROSS_SOCKET, GBs: intra.GBs };
  const cross = linkSpec(links.crossSocket, crossDefault, file, 'key links.crossSocket', type);
  const inter = linkSpec(links.interNode, { kind: LinkKind.NETWORK, GBs: IB_NDR_GBS }, file, 'key links.interNode', type);
  const kindM = json.linkKind === undefined ? undefined : matrix(json.linkKind, G, file, 'linkKind');
  const gbsM = json.linkGBs === undefined ? undefined : matrix(json.linkGBs, G, file, 'linkGBs');
  const name = typeof json.name === 'string' ? json.name : `${numNodes > 1 ? `${numNodes}x` : ''}${gpusPerNode}x${base.name}`;
  const cluster = makeCluster(name, numNodes, gpusPerNode, gpus, (a, b) => {
    let l: Link;
    if (gpus[a].node !== gpus[b].node) l = inter;
    else if (gpus[a].numa !== gpus[b].numa) l = cross;
    else l = intra;
    if (kindM) {
      const kind = kindFromName(kindM[a][b], file, `key linkKind[${a}][${b}]`);
      if (kind === LinkKind.SELF) throw new InputError(file, `key linkKind[${a}][${b}]`, 'only the diagonal may be "self"');
      l = { kind, GBs: gbsM ? l.GBs : defaultGBs(kind, type) };
    }
    if (gbsM) l = { kind: l.kind, GBs: posNumber(gbsM[a][b], file, `key linkGBs[${a}][${b}]`) };
    return l;
  });
  checkCluster(cluster, file);
  return cluster;
}

function matrix(v: unknown, G: number, file: string, key: string): unknown[][] {
  if (!Array.isArray(v) || v.length !== G || !v.every((r) => Array.isArray(r) && r.length === G)) {
    throw new InputError(file, `key ${key}`, `expected a ${G} x ${G} matrix (one row and column per GPU)`);
  }
  return v as unknown[][];
}

/** Structural checks on any Cluster (from JSON, a preset or discovery). */
export function checkCluster(c: Cluster, file: string): void {
  const G = c.gpus.length;
  if (G === 0) throw new InputError(file, '', 'cluster has no GPUs');
  if (c.numNodes * c.gpusPerNode !== G) {
    throw new InputError(file, '', `${c.numNodes} nodes x ${c.gpusPerNode} GPUs per node = ${c.numNodes * c.gpusPerNode}, but the cluster lists ${G} GPUs`);
  }
  for (let a = 0; a < G; a++) {
    for (let b = 0; b < G; b++) {
      const kind = c.linkKind[a * G + b];
      const sameNode = c.gpus[a].node === c.gpus[b].node;
      if (a !== b && kind === LinkKind.NETWORK && sameNode) {
        throw new InputError(file, `link ${a}-${b}`, `GPUs ${a} and ${b} are on one node (${c.gpus[a].node}) but linked by the network`);
      }
      if (a !== b && kind !== LinkKind.NETWORK && !sameNode) {
        throw new InputError(file, `link ${a}-${b}`, `GPUs ${a} and ${b} are on nodes ${c.gpus[a].node} and ${c.gpus[b].node}; only a network link can join them`);
      }
    }
  }
}

/** The explicit JSON form of a cluster (every GPU and link spelled out); parseClusterJson reads it back. */
export function clusterToJson(c: Cluster): object {
  const G = c.gpus.length;
  const round = (x: number | undefined) => (x === undefined ? undefined : Math.round(x * 1e6) / 1e6);
  return {
    name: c.name,
    nodes: c.numNodes,
    gpusPerNode: c.gpusPerNode,
    gpus: c.gpus.map((g) => ({
      name: g.name,
      node: g.node,
      numa: g.numa,
      speed: g.speed,
      hbmFreeGB: Number.isFinite(g.hbmFreeBytes) ? round(g.hbmFreeBytes / GB) : undefined,
      hbmGB: g.hbmBytes === undefined ? undefined : round(g.hbmBytes / GB),
      hbmGBs: g.hbmGBs,
      tflops: g.tflops,
    })),
    linkKind: Array.from({ length: G }, (_, a) => Array.from({ length: G }, (_, b) => LINK_KIND_NAMES[c.linkKind[a * G + b] as LinkKindCode])),
    linkGBs: Array.from({ length: G }, (_, a) => Array.from({ length: G }, (_, b) => (a === b ? (c.gpus[a].hbmGBs ?? 0) : c.linkGBs[a * G + b]))),
  };
}
