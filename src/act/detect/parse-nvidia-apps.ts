/**
 * GPU processes from nvidia-smi:
 *   `nvidia-smi --query-compute-apps=pid,gpu_uuid,used_memory --format=csv,noheader,nounits`
 *   `nvidia-smi --query-gpu=index,uuid --format=csv,noheader`
 * Shapes: two CSV texts -> Map pid -> GPU indices (ascending). Rows that do not parse are skipped and
 * counted; a uuid missing from the GPU list is kept as -1.
 */
export function parseNvidiaApps(appsCsv: string, gpusCsv: string): { byPid: Map<number, number[]>; skipped: number } {
  const indexOfUuid = new Map<string, number>();
  for (const line of gpusCsv.split(/\r?\n/)) {
    const [i, uuid] = line.split(',').map((s) => s.trim());
    if (i !== undefined && /^\d+$/.test(i) && uuid) indexOfUuid.set(uuid, Number(i));
  }
  const byPid = new Map<number, number[]>();
  let skipped = 0;
  for (const line of appsCsv.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    const [pid, uuid] = line.split(',').map((s) => s.trim());
    if (!pid || !/^\d+$/.test(pid) || !uuid) {
      skipped++;
      continue;
    }
    const g = indexOfUuid.get(uuid) ?? -1;
    const list = byPid.get(Number(pid)) ?? [];
    if (!list.includes(g)) list.push(g);
    byPid.set(Number(pid), list.sort((a, b) => a - b));
  }
  return { byPid, skipped };
}
