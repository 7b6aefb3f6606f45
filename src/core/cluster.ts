/**
 * Cluster model: nodes, GPUs, NUMA domains, links between every GPU pair, HBM headroom, speed.
 *
 * Shapes:
 *   gpus[G]           per-GPU facts, ranks in EP order (rank r = gpus[r]).
 *   linkKind[G*G]     Uint8Array of LinkKind codes, row-major [a][b]; diagonal = SELF.
 *   linkGBs[G*G]      Float64Array, per-direction bandwidth in GB/s; diagonal = HBM bandwidth.
 */
export const LinkKind = {
  SELF: 0,
  NVLINK: 1,
  /** PCIe through the same switch / host bridge. */
  PCIE_SWITCH: 2,
  /** PCIe across CPU sockets (through the inter-socket link). */
  PCIE_CROSS_SOCKET: 3,
  /** Network between nodes (InfiniBand / RoCE / Ethernet). */
  NETWORK: 4,
} as const;
export type LinkKindCode = (typeof LinkKind)[keyof typeof LinkKind];

export const LINK_KIND_NAMES: Record<LinkKindCode, string> = {
  0: 'self',
  1: 'nvlink',
  2: 'pcie-switch',
  3: 'pcie-cross-socket',
  4: 'network',
};

export interface GpuInfo {
  /** Display name, e.g. 'H100-SXM'. */
  name: string;
  node: number;
  /** NUMA domain within the node. */
  numa: number;
  /** Relative speed (1 = nominal). A throttled or older GPU is < 1. */
  speed: number;
  /**
   * HBM bytes this GPU can give to extra expert replicas. Infinity when the cluster description does
   * not limit it (then only --memory-budget does).
   */
  hbmFreeBytes: number;
  /** Total HBM capacity in bytes, when known. */
  hbmBytes?: number;
  /** HBM bandwidth in GB/s (for the cost model). */
  hbmGBs?: number;
  /** Dense bf16 throughput in TFLOP/s (for the cost model). */
  tflops?: number;
}

export interface Cluster {
  name: string;
  numNodes: number;
  gpusPerNode: number;
  gpus: GpuInfo[];
  linkKind: Uint8Array;
  linkGBs: Float64Array;
}

export function numGpus(c: Cluster): number {
  return c.gpus.length;
}

export function linkKindOf(c: Cluster, a: number, b: number): LinkKindCode {
  return c.linkKind[a * c.gpus.length + b] as LinkKindCode;
}

export function linkBandwidth(c: Cluster, a: number, b: number): number {
  return c.linkGBs[a * c.gpus.length + b];
}

/** Node holding GPU (rank) `r`. */
export function nodeOfGpu(c: Cluster, r: number): number {
  return c.gpus[r].node;
}

/** A link between two GPUs: its kind and per-direction bandwidth in GB/s. */
export interface Link {
  kind: LinkKindCode;
  GBs: number;
}

/**
 * Build a Cluster from per-GPU facts and a function giving the link between GPUs a != b.
 * The diagonal is SELF with the GPU's HBM bandwidth (0 when unknown).
 * Shapes: gpus[G] -> linkKind/linkGBs [G*G] row-major.
 */
export function makeCluster(
  name: string,
  numNodes: number,
  gpusPerNode: number,
  gpus: GpuInfo[],
  link: (a: number, b: number) => Link,
): Cluster {
  const G = gpus.length;
  const linkKind = new Uint8Array(G * G);
  const linkGBs = new Float64Array(G * G);
  for (let a = 0; a < G; a++) {
    for (let b = 0; b < G; b++) {
      if (a === b) {
        linkKind[a * G + b] = LinkKind.SELF;
        linkGBs[a * G + b] = gpus[a].hbmGBs ?? 0;
      } else {
        const l = link(a, b);
        linkKind[a * G + b] = l.kind;
        linkGBs[a * G + b] = l.GBs;
      }
    }
  }
  return { name, numNodes, gpusPerNode, gpus, linkKind, linkGBs };
}
