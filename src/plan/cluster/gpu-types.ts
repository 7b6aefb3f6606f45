/**
 * Known GPU types: memory, bandwidths and throughput used by the cluster presets, the JSON loader's
 * `"gpu": "<type>"` shorthand and discovery (matched on the nvidia-smi name).
 *
 * Sources (per direction where a link is meant):
 *   H100 SXM5 80GB: HBM3 3.35 TB/s, 989 dense BF16 TFLOP/s, NVLink4 18 links = 450 GB/s
 *     (NVIDIA H100 datasheet; docs/cost-model.md).
 *   H100 PCIe 80GB: HBM2e 2.0 TB/s, 756 dense BF16 TFLOP/s, PCIe Gen5 x16 ~64 GB/s, ~50 achievable
 *     (NVIDIA H100 datasheet; docs/cost-model.md).
 *   H800 SXM5 80GB: H100 silicon with NVLink cut to 400 GB/s bidirectional; 160 GB/s effective per
 *     direction as DeepEP measured it (docs/cost-model.md).
 *   A100 80GB PCIe: HBM2e 1.94 TB/s (datasheet "2.0 TB/s" class; we use 2000 GB/s as the brief and
 *     datasheet headline do), 312 dense BF16 TFLOP/s, PCIe Gen4 x16 32 GB/s nominal, ~25 achievable
 *     (NVIDIA A100 datasheet).
 *   RTX 3090 24GB: GDDR6X 936 GB/s, 71 dense BF16 tensor TFLOP/s with FP32 accumulate, PCIe Gen4 x16
 *     ~25 GB/s achievable (NVIDIA GA102 / GeForce RTX 3090 specifications).
 * Datasheet figures for the rest (dense = the sparse headline / 2; NVLink per direction = the
 * bidirectional headline / 2); docs/cost-model.md#gpus lists each with its page:
 *   H200 SXM 141GB: HBM3e 4.8 TB/s, 989 dense BF16 TFLOP/s, NVLink 900 GB/s bidirectional
 *     (nvidia.com/en-us/data-center/h200).
 *   H20 96GB: HBM3 4.0 TB/s, 148 dense BF16 TFLOP/s, NVLink 900 GB/s bidirectional (NVIDIA HGX H20
 *     specifications as listed in the Lenovo ThinkSystem NVIDIA H20 product guide, lenovopress.lenovo.com).
 *   B200 180GB (HGX B200): HBM3e 8 TB/s, 2250 dense BF16 TFLOP/s (36 PFLOP/s sparse for 8 GPUs), NVLink5
 *     1.8 TB/s bidirectional (nvidia.com/en-us/data-center/hgx, DGX B200 datasheet).
 *   GB200 (NVL72) 186GB: HBM3e 8 TB/s, 2500 dense BF16 TFLOP/s (360 PFLOP/s sparse for 72 GPUs), NVLink5
 *     1.8 TB/s bidirectional, one NVLink domain of 72 (nvidia.com/en-us/data-center/gb200-nvl72).
 *   MI300X 192GB: HBM3 5.3 TB/s, 1307 dense BF16 TFLOP/s, 7 Infinity Fabric (xGMI) links of 128 GB/s
 *     bidirectional, one to each peer in an 8-GPU platform: 64 GB/s per direction per pair
 *     (amd.com/en/products/accelerators/instinct/mi300/mi300x.html).
 *   MI355X 288GB: HBM3E 8 TB/s, 2500 dense BF16 TFLOP/s (5.0 PFLOP/s sparse), 7 Infinity Fabric links of
 *     153.6 GB/s bidirectional: 76.8 GB/s per direction per pair
 *     (amd.com/en/products/accelerators/instinct/mi350/mi355x.html).
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
  // H200 before H20: "h200" contains "h20".
  'H200-SXM': { name: 'H200-SXM', hbmBytes: 141 * GB, hbmGBs: 4800, tflops: 989, nvlinkGBs: 450, pcieGBs: 50, match: ['h200'] },
  'H20': { name: 'H20', hbmBytes: 96 * GB, hbmGBs: 4000, tflops: 148, nvlinkGBs: 450, pcieGBs: 50, match: ['nvidia h20'] },
  'GB200': { name: 'GB200', hbmBytes: 186 * GB, hbmGBs: 8000, tflops: 2500, nvlinkGBs: 900, pcieGBs: 50, match: ['gb200'] },
  'B200': { name: 'B200', hbmBytes: 180 * GB, hbmGBs: 8000, tflops: 2250, nvlinkGBs: 900, pcieGBs: 50, match: ['b200'] },
  'MI300X': { name: 'MI300X', hbmBytes: 192 * GB, hbmGBs: 5300, tflops: 1307, nvlinkGBs: 64, pcieGBs: 50, match: ['mi300x'] },
  'MI355X': { name: 'MI355X', hbmBytes: 288 * GB, hbmGBs: 8000, tflops: 2500, nvlinkGBs: 76.8, pcieGBs: 50, match: ['mi355x'] },
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
