/**
 * GPU processes from `rocm-smi --showpidgpus` (ROCm/rocm_smi_lib python_smi_tools/rocm_smi.py,
 * showGpusByPid: "PID <pid> is using <n> DRM device(s):" followed by the device indices, or
 * "No KFD PIDs currently running"). Shapes: text -> Map pid -> GPU indices (ascending).
 */
export function parseRocmPidGpus(text: string): Map<number, number[]> {
  const byPid = new Map<number, number[]>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const m = /PID (\d+) is using (\d+) DRM device\(s\):?(.*)$/.exec(lines[i]);
    if (!m) continue;
    const n = Number(m[2]);
    const ids: number[] = [];
    const take = (s: string) => {
      for (const t of s.replace(/[[\],]/g, ' ').split(/\s+/)) if (/^\d+$/.test(t) && ids.length < n) ids.push(Number(t));
    };
    take(m[3]);
    for (let j = i + 1; ids.length < n && j < lines.length && !/PID \d+ is using/.test(lines[j]) && !/^=+/.test(lines[j].trim()); j++) take(lines[j]);
    byPid.set(Number(m[1]), ids.sort((a, b) => a - b));
  }
  return byPid;
}
