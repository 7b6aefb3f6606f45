/**
 * The cluster the cost model runs on: a preset name or cluster JSON file (through the plan area's
 * cluster loader), or, when none is given, H100-SXM nodes of 8 GPUs (NVLink4 450 GB/s inside a node,
 * InfiniBand NDR 50 GB/s per GPU between nodes; docs/cost-model.md#gpus) holding `numRanks` GPUs.
 *
 * Shapes: returns a Cluster with gpus[G], G = numRanks (checked against the file when both are given).
 */
import { readFileSync } from 'node:fs';
import { type Cluster, LinkKind, makeCluster } from '../core/cluster.ts';
import { InputError } from '../core/errors.ts';
import { parseClusterJson } from '../plan/cluster/cluster-json.ts';
import { CLUSTER_PRESETS } from '../plan/cluster/presets.ts';

/** Default: ceil(G/8) H100-SXM nodes (a single node of G GPUs when G <= 8). */
export function defaultCluster(numRanks: number): Cluster {
  if (!Number.isInteger(numRanks) || numRanks < 1) throw new InputError('--ranks', '', `expected a positive rank count, got ${numRanks}`);
  const perNode = Math.min(8, numRanks);
  if (numRanks % perNode !== 0) throw new InputError('--ranks', '', `${numRanks} ranks do not fill nodes of 8 GPUs; pass --cluster`);
  const nodes = numRanks / perNode;
  const gpus = Array.from({ length: numRanks }, (_, r) => ({
    name: 'H100-SXM',
    node: Math.floor(r / perNode),
    numa: (r % perNode) < perNode / 2 ? 0 : 1,
    speed: 1,
    hbmFreeBytes: Number.POSITIVE_INFINITY,
    hbmBytes: 80e9,
    hbmGBs: 3350,
    tflops: 989,
  }));
  const name = nodes === 1 ? `${numRanks}xH100-SXM` : `${nodes}x${perNode}xH100-IB`;
  return makeCluster(name, nodes, perNode, gpus, (a, b) =>
    gpus[a].node === gpus[b].node ? { kind: LinkKind.NVLINK, GBs: 450 } : { kind: LinkKind.NETWORK, GBs: 50 },
  );
}

/**
 * Resolve `--cluster` (preset name or JSON path; undefined -> default of `numRanks` H100s).
 * Uses `loadCluster` from src/plan/cluster/index.ts when that module exists.
 */
export async function resolveCluster(spec: string | undefined, numRanks?: number): Promise<Cluster> {
  let cluster: Cluster;
  if (spec === undefined) {
    if (numRanks === undefined) throw new InputError('--ranks', '', 'expected --ranks G or --cluster');
    return defaultCluster(numRanks);
  }
  const loader = await planClusterLoader();
  if (loader) cluster = await loader(spec);
  else if (CLUSTER_PRESETS[spec]) cluster = parseClusterJson(CLUSTER_PRESETS[spec], `preset ${spec}`);
  else {
    let text: string;
    try {
      text = readFileSync(spec, 'utf8');
    } catch {
      throw new InputError(spec, '', `not a cluster preset (${Object.keys(CLUSTER_PRESETS).join(', ')}) nor a readable file`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new InputError(spec, '', `not JSON (${(e as Error).message}); expected a cluster description`);
    }
    cluster = parseClusterJson(json, spec);
  }
  if (numRanks !== undefined && cluster.gpus.length !== numRanks) {
    throw new InputError('--ranks', '', `--ranks ${numRanks} but cluster ${cluster.name} has ${cluster.gpus.length} GPUs`);
  }
  return cluster;
}

type Loader = (spec: string) => Cluster | Promise<Cluster>;

async function planClusterLoader(): Promise<Loader | undefined> {
  const path = '../plan/cluster/index.ts';
  try {
    const mod = (await import(path)) as { loadCluster?: Loader };
    return typeof mod.loadCluster === 'function' ? mod.loadCluster : undefined;
  } catch {
    return undefined;
  }
}
