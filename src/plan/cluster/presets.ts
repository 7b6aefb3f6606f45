/**
 * Named cluster presets, written in the compact cluster JSON form (cluster-json.ts) so they read the
 * same way a user's file does. Constants: see gpu-types.ts (datasheets) and docs/cost-model.md.
 *
 *   8xH100-SXM            1 node, 8 H100 SXM on NVSwitch (NVLink4 450 GB/s per direction to every peer),
 *                         2 sockets (GPUs 0-3 NUMA 0, 4-7 NUMA 1) as on a DGX/HGX H100.
 *   8xH100-PCIe-2socket   1 node, 8 H100 PCIe, 4 per socket; same-socket pairs through a PCIe Gen5
 *                         switch (~50 GB/s achievable), cross-socket pairs through the inter-socket link
 *                         (still bounded by the GPU's x16 Gen5 port, ~50 GB/s; the kind marks the hop).
 *   4xA100-PCIe           1 node, 4 A100 80GB PCIe, 2 per socket, PCIe Gen4 (~25 GB/s achievable).
 *   2x8xH100-IB           2 HGX H100 nodes; NVLink4 450 GB/s inside, InfiniBand NDR 50 GB/s per GPU NIC between.
 *   4x8xH800-IB           4 HGX H800 nodes; NVLink 160 GB/s effective inside, InfiniBand NDR 50 GB/s between.
 *   8xRTX3090-PCIe        1 node, 8 RTX 3090, 4 per socket, PCIe Gen4 (~25 GB/s achievable).
 *   8xH100                the same as 8xH100-SXM.
 *   8xH200                1 HGX H200 node: NVLink4 450 GB/s per direction to every peer (NVSwitch).
 *   8xH20                 1 HGX H20 node: NVLink 450 GB/s per direction (NVSwitch).
 *   8xB200                1 HGX B200 node: NVLink5 900 GB/s per direction (NVSwitch).
 *   GB200-NVL72           one NVLink domain of 72 GB200 GPUs (NVLink5 900 GB/s per direction through the
 *                         NVLink switch trays), 2 GPUs per Grace CPU.
 *   8xMI300X              1 node of 8 MI300X, full mesh of Infinity Fabric links, 64 GB/s per direction
 *                         per pair (the "nvlink" kind stands for any GPU-to-GPU fabric).
 *   8xMI355X              1 node of 8 MI355X, full mesh, 76.8 GB/s per direction per pair.
 * GPU figures and their datasheets: gpu-types.ts and docs/cost-model.md#gpus.
 */
export const CLUSTER_PRESETS: Record<string, object> = {
  '8xH100-SXM': { name: '8xH100-SXM', nodes: 1, gpusPerNode: 8, gpu: 'H100-SXM', numaPerNode: 2, links: { intraNode: { kind: 'nvlink', GBs: 450 } } },
  '8xH100-PCIe-2socket': {
    name: '8xH100-PCIe-2socket',
    nodes: 1,
    gpusPerNode: 8,
    gpu: 'H100-PCIe',
    numaPerNode: 2,
    links: { intraNode: { kind: 'pcie-switch', GBs: 50 }, crossSocket: { kind: 'pcie-cross-socket', GBs: 50 } },
  },
  '4xA100-PCIe': {
    name: '4xA100-PCIe',
    nodes: 1,
    gpusPerNode: 4,
    gpu: 'A100-80GB-PCIe',
    numaPerNode: 2,
    links: { intraNode: { kind: 'pcie-switch', GBs: 25 }, crossSocket: { kind: 'pcie-cross-socket', GBs: 25 } },
  },
  '2x8xH100-IB': {
    name: '2x8xH100-IB',
    nodes: 2,
    gpusPerNode: 8,
    gpu: 'H100-SXM',
    numaPerNode: 2,
    links: { intraNode: { kind: 'nvlink', GBs: 450 }, interNode: { kind: 'network', GBs: 50 } },
  },
  '4x8xH800-IB': {
    name: '4x8xH800-IB',
    nodes: 4,
    gpusPerNode: 8,
    gpu: 'H800-SXM',
    numaPerNode: 2,
    links: { intraNode: { kind: 'nvlink', GBs: 160 }, interNode: { kind: 'network', GBs: 50 } },
  },
  '8xRTX3090-PCIe': {
    name: '8xRTX3090-PCIe',
    nodes: 1,
    gpusPerNode: 8,
    gpu: 'RTX3090',
    numaPerNode: 2,
    links: { intraNode: { kind: 'pcie-switch', GBs: 25 }, crossSocket: { kind: 'pcie-cross-socket', GBs: 25 } },
  },
  '8xH100': { name: '8xH100', nodes: 1, gpusPerNode: 8, gpu: 'H100-SXM', numaPerNode: 2, links: { intraNode: { kind: 'nvlink', GBs: 450 } } },
  '8xH200': { name: '8xH200', nodes: 1, gpusPerNode: 8, gpu: 'H200-SXM', numaPerNode: 2, links: { intraNode: { kind: 'nvlink', GBs: 450 } } },
  '8xH20': { name: '8xH20', nodes: 1, gpusPerNode: 8, gpu: 'H20', numaPerNode: 2, links: { intraNode: { kind: 'nvlink', GBs: 450 } } },
  '8xB200': { name: '8xB200', nodes: 1, gpusPerNode: 8, gpu: 'B200', numaPerNode: 2, links: { intraNode: { kind: 'nvlink', GBs: 900 } } },
  'GB200-NVL72': { name: 'GB200-NVL72', nodes: 1, gpusPerNode: 72, gpu: 'GB200', numaPerNode: 36, links: { intraNode: { kind: 'nvlink', GBs: 900 } } },
  '8xMI300X': { name: '8xMI300X', nodes: 1, gpusPerNode: 8, gpu: 'MI300X', numaPerNode: 2, links: { intraNode: { kind: 'nvlink', GBs: 64 } } },
  '8xMI355X': { name: '8xMI355X', nodes: 1, gpusPerNode: 8, gpu: 'MI355X', numaPerNode: 2, links: { intraNode: { kind: 'nvlink', GBs: 76.8 } } },
};

export const PRESET_NAMES = Object.keys(CLUSTER_PRESETS);
