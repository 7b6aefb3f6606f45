/**
 * Known GPU types: memory, bandwidths and throughput used by the cluster presets, the JSON loader's
 * `"gpu": "<type>"` shorthand and discovery (matched on the nvidia-smi name).
 *
 * Sources (per direction where a link is meant):
 *   H100 SXM5 80GB: HBM3 3.35 TB/s, 989 dense BF16 TFLOP/s, NVLink4 18 links = 450 GB/s
 *     (NVIDIA H100 datasheet; REFERENCE.md §2).
 *   H100 PCIe 80GB: HBM2e 2.0 TB/s, 756 dense BF16 TFLOP/s, PCIe Gen5 x16 ~64 GB/s, ~50 achievable
 *     (NVIDIA H100 datasheet; REFERENCE.md §2).
 *   H800 SXM5 80GB: H100 silicon with NVLink cut to 400 GB/s bidirectional; 160 GB/s effective per
 *     direction as DeepEP measured it (REFERENCE.md §2).
 *   A100 80GB PCIe: HBM2e 1.94 TB/s (datasheet "2.0 TB/s" class; we use 2000 GB/s as the brief and
 *     datasheet headline do), 312 dense BF16 TFLOP/s, PCIe Gen4 x16 32 GB/s nominal, ~25 achievable
 *     (NVIDIA A100 datasheet).
 *   RTX 3090 24GB: GDDR6X 936 GB/s, 71 dense BF16 tensor TFLOP/s with FP32 accumulate, PCIe Gen4 x16
 *     ~25 GB/s achievable (NVIDIA GA102 / GeForce RTX 3090 specifications).
 */
export interface GpuType {
  /** Canonical type name used in cluster JSON and presets. */
  name: string;
  hbmBytes: number;
  hbmGBs: number;
  tflops: number;
  /** Per-direction GB/s over NVLink to one peer (full-mesh / NVSwitch effective), when the GPU has NVLink. */
  nvlinkGBs?: number;
  /** Achievable per-direction PCIe GB/s (x16). */
  pcieGBs: number;
  /** Lower-case substrings of the nvidia-smi product name that identify it, most specific first. */
  match: string[];
}

const GB = 1e9;

export const GPU_TYPES: Record<string, GpuType> = {
  'H100-SXM': { name: 'H100-SXM', hbmBytes: 80 * GB, hbmGBs: 3350, tflops: 989, nvlinkGBs: 450, pcieGBs: 50, match: ['h100 80gb hbm3', 'h100-sxm', 'h100 sxm'] },
  'H100-PCIe': { name: 'H100-PCIe', hbmBytes: 80 * GB, hbmGBs: 2000, tflops: 756, pcieGBs: 50, match: ['h100 pcie', 'h100-pcie'] },
  'H800-SXM': { name: 'H800-SXM', hbmBytes: 80 * GB, hbmGBs: 3350, tflops: 989, nvlinkGBs: 160, pcieGBs: 50, match: ['h800'] },
  'A100-80GB-PCIe': { name: 'A100-80GB-PCIe', hbmBytes: 80 * GB, hbmGBs: 2000, tflops: 312, pcieGBs: 25, match: ['a100 80gb pcie', 'a100-pcie-80gb', 'a100 pcie'] },
  'RTX3090': { name: 'RTX3090', hbmBytes: 24 * GB, hbmGBs: 936, tflops: 71, pcieGBs: 25, match: ['rtx 3090', 'rtx3090'] },
};

/** Per-direction GB/s of one NVLink link (NVLink 2, 3 and 4 all carry 25 GB/s per direction per link). */
export const NVLINK_GBS_PER_LINK = 25;

/** Achievable per-direction PCIe GB/s for a x16 link of generation `gen` (Gen3 ~12, Gen4 ~25, Gen5 ~50). */
export function pcieAchievableGBs(gen: number, width = 16): number {
  const x16: Record<number, number> = { 3: 12, 4: 25, 5: 50, 6: 100 };
  const base = x16[gen] ?? 12;
  return (base * width) / 16;
}

/** The known type whose match strings appear in an nvidia-smi product name, if any. */
export function gpuTypeFromProductName(product: string): GpuType | undefined {
  const p = product.toLowerCase();
  for (const t of Object.values(GPU_TYPES)) if (t.match.some((m) => p.includes(m))) return t;
  return undefined;
}
