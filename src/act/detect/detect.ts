/**
 * `ballast detect`: the vLLM, SGLang and transformers processes on this host that serve MoE models.
 *
 * Sources, all injected so tests run on fixture outputs and fake /proc trees:
 *  - GPU processes: `nvidia-smi --query-compute-apps` + `--query-gpu` (parse-nvidia-apps.ts) and
 *    `rocm-smi --showpidgpus` (parse-rocm-pidgpus.ts);
 *  - <procRoot>/<pid>/cmdline (engine, model, parallel flags: server-of-launch.ts), /stat (parent pid,
 *    to group an engine's GPU worker processes under the process that was launched), /cwd (relative
 *    model paths), /environ (ballast agent variables, HF cache location, SGLang dump dir);
 *  - the model's config.json when it is local or in the HuggingFace cache (moe-of-config.ts).
 * Nothing here throws for a missing tool, no GPU or no permission: each becomes one note line.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { type MoeShape, moeOfConfig } from './moe-of-config.ts';
import { nextCommands } from './next-commands.ts';
import { parseNvidiaApps } from './parse-nvidia-apps.ts';
import { parseRocmPidGpus } from './parse-rocm-pidgpus.ts';
import { type LaunchedServer, serverOfLaunch } from './server-of-launch.ts';

export type RunResult = { ok: true; stdout: string } | { ok: false; missing: boolean; message: string };

export interface DetectEnv {
  /** Default /proc. */
  procRoot: string;
  /** Runs a command: stdout, or whether it is missing / failed. */
  run: (cmd: string, args: string[]) => RunResult;
}

export interface DetectedServer {
  pid: number;
  engine: 'vllm' | 'sglang' | 'transformers';
  model?: string;
  /** GPU indices (vendor order) used by this process and its workers. */
  gpus: number[];
  vendor?: 'nvidia' | 'amd';
  tp?: number;
  dp?: number;
  pp?: number;
  ep?: number;
  experts?: number;
  topK?: number;
  configPath?: string;
  agent: 'attached' | 'not attached' | 'unknown';
  /** GPU or engine processes (pids) grouped under this one. */
  workers: number[];
  argv: string[];
  next: string[];
  notes: string[];
}

export interface DetectReport {
  servers: DetectedServer[];
  /** One line each: tool missing, no GPU processes, unreadable processes, skipped dense models. */
  notes: string[];
}

interface Proc {
  pid: number;
  ppid?: number;
  argv?: string[];
  server?: LaunchedServer;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function environ(procRoot: string, pid: number): Map<string, string> | undefined {
  const t = readText(join(procRoot, String(pid), 'environ'));
  if (t === undefined) return undefined;
  const m = new Map<string, string>();
  for (const kv of t.split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0) m.set(kv.slice(0, i), kv.slice(i + 1));
  }
  return m;
}

/** config.json for `model` as the process would resolve it: a local path, or the HF hub cache. */
function findConfig(procRoot: string, pid: number, model: string, env: Map<string, string> | undefined): string | undefined {
  let dir = model;
  if (!isAbsolute(dir)) {
    try {
      dir = join(readlinkSync(join(procRoot, String(pid), 'cwd')), model);
    } catch {
      dir = model;
    }
  }
  if (existsSync(join(dir, 'config.json'))) return join(dir, 'config.json');
  if (!/^[\w.-]+\/[\w.-]+$/.test(model)) return undefined;
  const hubs = [env?.get('HF_HUB_CACHE'), env?.get('HF_HOME') && join(env.get('HF_HOME')!, 'hub'), env?.get('HOME') && join(env.get('HOME')!, '.cache/huggingface/hub')].filter(
    (x): x is string => !!x,
  );
  for (const hub of hubs) {
    const snaps = join(hub, `models--${model.replace('/', '--')}`, 'snapshots');
    try {
      for (const s of readdirSync(snaps).sort()) if (existsSync(join(snaps, s, 'config.json'))) return join(snaps, s, 'config.json');
    } catch {
      /* not cached there */
    }
  }
  return undefined;
}

function gpuProcesses(env: DetectEnv, notes: string[]): { byPid: Map<number, number[]>; vendor: Map<number, 'nvidia' | 'amd'> } {
  const byPid = new Map<number, number[]>();
  const vendor = new Map<number, 'nvidia' | 'amd'>();
  const apps = env.run('nvidia-smi', ['--query-compute-apps=pid,gpu_uuid,used_memory', '--format=csv,noheader,nounits']);
  if (apps.ok) {
    const gpus = env.run('nvidia-smi', ['--query-gpu=index,uuid', '--format=csv,noheader']);
    const parsed = parseNvidiaApps(apps.stdout, gpus.ok ? gpus.stdout : '');
    for (const [p, g] of parsed.byPid) {
      byPid.set(p, g);
      vendor.set(p, 'nvidia');
    }
    if (parsed.byPid.size === 0) notes.push('nvidia-smi: no GPU compute processes');
  } else notes.push(apps.missing ? 'nvidia-smi: not installed' : `nvidia-smi: ${apps.message}`);
  const rocm = env.run('rocm-smi', ['--showpidgpus']);
  if (rocm.ok) {
    const parsed = parseRocmPidGpus(rocm.stdout);
    for (const [p, g] of parsed) {
      byPid.set(p, [...new Set([...(byPid.get(p) ?? []), ...g])].sort((a, b) => a - b));
      vendor.set(p, 'amd');
    }
    if (parsed.size === 0) notes.push('rocm-smi: no GPU compute processes');
  } else notes.push(rocm.missing ? 'rocm-smi: not installed' : `rocm-smi: ${rocm.message}`);
  return { byPid, vendor };
}

function readProcs(procRoot: string, notes: string[]): Map<number, Proc> {
  const procs = new Map<number, Proc>();
  let names: string[];
  try {
    names = readdirSync(procRoot);
  } catch {
    notes.push(`cannot list ${procRoot}: process command lines unavailable`);
    return procs;
  }
  let unreadable = 0;
  for (const n of names) {
    if (!/^\d+$/.test(n)) continue;
    const pid = Number(n);
    const p: Proc = { pid };
    const stat = readText(join(procRoot, n, 'stat'));
    if (stat) {
      const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(after[1]);
      if (Number.isInteger(ppid)) p.ppid = ppid;
    }
    const cmd = readText(join(procRoot, n, 'cmdline'));
    if (cmd === undefined) unreadable++;
    else if (cmd.length > 0) {
      p.argv = cmd.replace(/\0$/, '').split('\0');
      p.server = serverOfLaunch(p.argv);
    }
    procs.set(pid, p);
  }
  if (unreadable > 0) notes.push(`cannot read the command line of ${unreadable} process${unreadable === 1 ? '' : 'es'} (other users'; run as root or as that user to see them)`);
  return procs;
}

/** Nearest ancestor-or-self that launched an engine, or undefined. */
function engineRoot(procs: Map<number, Proc>, pid: number): Proc | undefined {
  let found: Proc | undefined;
  const seen = new Set<number>();
  for (let p = procs.get(pid); p && !seen.has(p.pid); p = p.ppid !== undefined ? procs.get(p.ppid) : undefined) {
    seen.add(p.pid);
    if (p.server) found = p; // keep walking: the outermost launch is the server
  }
  return found;
}

function looksLikeTransformers(procRoot: string, p: Proc): boolean {
  if (!p.argv || !/python/.test(p.argv[0] ?? '')) return false;
  if (p.argv.some((a) => /transformers|generate|hf_/.test(a))) return true;
  const maps = readText(join(procRoot, String(p.pid), 'maps'));
  return maps !== undefined && /\/(tokenizers|safetensors)\//.test(maps);
}

export function detect(env: DetectEnv): DetectReport {
  const notes: string[] = [];
  const { byPid, vendor } = gpuProcesses(env, notes);
  const procs = readProcs(env.procRoot, notes);
  // Group: engine launches (outermost), plus transformers-like GPU processes.
  const groups = new Map<number, { root: Proc; members: Set<number> }>();
  for (const p of procs.values()) {
    if (!p.server) continue;
    const r = engineRoot(procs, p.pid)!;
    if (!groups.has(r.pid)) groups.set(r.pid, { root: r, members: new Set([r.pid]) });
    groups.get(r.pid)!.members.add(p.pid);
  }
  let otherGpu = 0;
  for (const pid of byPid.keys()) {
    const r = engineRoot(procs, pid);
    if (r) {
      if (!groups.has(r.pid)) groups.set(r.pid, { root: r, members: new Set([r.pid]) });
      groups.get(r.pid)!.members.add(pid);
      continue;
    }
    const p = procs.get(pid);
    if (p && looksLikeTransformers(env.procRoot, p)) groups.set(pid, { root: p, members: new Set([pid]) });
    else otherGpu++;
  }
  if (byPid.size === 0 && !notes.some((n) => /no GPU compute processes/.test(n))) notes.push('no GPU process list (no nvidia-smi or rocm-smi output); engines found from /proc only, without their GPUs');
  if (otherGpu > 0) notes.push(`${otherGpu} other GPU process${otherGpu === 1 ? '' : 'es'} (not vLLM, SGLang or transformers${procs.size ? '' : ', or /proc unreadable'})`);
  const servers: DetectedServer[] = [];
  for (const { root, members } of [...groups.values()].sort((a, b) => a.root.pid - b.root.pid)) {
    const gpus = [...new Set([...members].flatMap((m) => byPid.get(m) ?? []))].sort((a, b) => a - b);
    const vend = [...members].map((m) => vendor.get(m)).find((v) => v);
    const s = root.server;
    const envs = [...members].map((m) => environ(env.procRoot, m));
    const readable = envs.filter((e): e is Map<string, string> => e !== undefined);
    const agent = readable.some((e) => e.get('BALLAST_AGENT') === '1' || /ballast[^:]*capture[/\\]python/.test(e.get('PYTHONPATH') ?? ''))
      ? 'attached'
      : readable.length > 0
        ? 'not attached'
        : 'unknown';
    const rootEnv = envs[[...members].indexOf(root.pid)];
    const sNotes: string[] = [];
    if (agent === 'unknown') sNotes.push(`cannot read /proc/${root.pid}/environ: whether a ballast agent is attached is unknown`);
    let moe: MoeShape | undefined;
    let configPath: string | undefined;
    if (s?.model) {
      configPath = findConfig(env.procRoot, root.pid, s.model, rootEnv);
      if (configPath) {
        let cfg: unknown;
        try {
          cfg = JSON.parse(readFileSync(configPath, 'utf8'));
        } catch {
          sNotes.push(`${configPath}: not valid JSON`);
        }
        moe = moeOfConfig(cfg);
        if (cfg !== undefined && !moe) {
          notes.push(`pid ${root.pid} serves ${s.model}, a dense model (no experts in ${configPath}): skipped`);
          continue;
        }
      } else sNotes.push(`no local config.json for ${s.model}: experts and top-k unknown`);
    }
    const argv = root.argv ?? [];
    servers.push({
      pid: root.pid,
      engine: s?.engine ?? 'transformers',
      model: s?.model,
      gpus,
      vendor: vend,
      tp: s?.tp,
      dp: s?.dp,
      pp: s?.pp,
      ep: s?.ep,
      experts: moe?.experts,
      topK: moe?.topK,
      configPath,
      agent,
      workers: [...members].filter((m) => m !== root.pid).sort((a, b) => a - b),
      argv,
      next: nextCommands({ server: s, argv, agent, configPath, recorderDir: rootEnv?.get('SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR') }),
      notes: sNotes,
    });
  }
  if (servers.length === 0) notes.push('no vLLM, SGLang or transformers process serving an MoE model found');
  return { servers, notes };
}
