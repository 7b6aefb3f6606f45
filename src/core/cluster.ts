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
  /** HBM bytes this GPU can give to extra expert replicas. */
  hbmFreeBytes: number;
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
