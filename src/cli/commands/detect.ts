import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { detect, type DetectReport, type RunResult } from '../../act/detect/detect.ts';

/** Run a tool: stdout, or missing / failed with its first error line (never throws). */
function runTool(cmd: string, args: string[]): RunResult {
  try {
    return { ok: true, stdout: execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 15_000 }) };
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string; stdout?: string };
    if (err.code === 'ENOENT') return { ok: false, missing: true, message: 'not installed' };
    const first = `${err.stderr ?? ''}\n${err.stdout ?? ''}`.split('\n').map((s) => s.trim()).find((s) => s !== '');
    return { ok: false, missing: false, message: first ?? err.message.split('\n')[0] };
  }
}

/** Fixture outputs in a directory (tests): nvidia-smi-apps.csv, nvidia-smi-gpus.csv, rocm-smi-pidgpus.txt; a missing file = tool missing. */
function fixtureRunner(dir: string): (cmd: string, args: string[]) => RunResult {
  return (cmd, args) => {
    const file = cmd === 'nvidia-smi' ? (args[0].startsWith('--query-compute-apps') ? 'nvidia-smi-apps.csv' : 'nvidia-smi-gpus.csv') : 'rocm-smi-pidgpus.txt';
    try {
      return { ok: true, stdout: readFileSync(join(dir, file), 'utf8') };
    } catch {
      return { ok: false, missing: true, message: 'not installed' };
    }
  };
}

export function renderDetect(r: DetectReport): string {
  const rows = r.servers.map((s) => [
    String(s.pid),
    s.engine,
    s.model ?? '?',
    s.gpus.length ? `${s.vendor === 'amd' ? 'amd ' : ''}${s.gpus.join(',')}` : '-',
    `${s.tp ?? '-'}/${s.dp ?? '-'}/${s.pp ?? '-'}/${s.ep ?? '-'}`,
    s.experts !== undefined ? `${s.experts} x top-${s.topK ?? '?'}` : '?',
    s.agent,
  ]);
  const head = ['PID', 'ENGINE', 'MODEL', 'GPUS', 'TP/DP/PP/EP', 'EXPERTS', 'BALLAST AGENT'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (r: string[]) => r.map((c, i) => c.padEnd(w[i])).join('  ').trimEnd();
  const out: string[] = [];
  if (rows.length) {
    out.push(fmt(head));
    r.servers.forEach((s, i) => {
      out.push(fmt(rows[i]));
      for (const n of s.notes) out.push(`    note: ${n}`);
      s.next.forEach((c, j) => out.push(`    ${j === 0 ? 'next:' : '     '} ${c}`));
    });
  }
  return out.join('\n');
}

/** `ballast detect`: running vLLM / SGLang / transformers processes serving MoE models on this host. */
export function register(program: Command): void {
  program
    .command('detect')
    .description('List running vLLM, SGLang and transformers processes serving MoE models on this host, with GPUs, parallel layout and the next command to run.')
    .option('--json', 'print JSON: {servers: [...], notes: [...]}')
    .addOption(new Option('--proc-root <dir>', 'read processes from this /proc tree (tests)').default('/proc').hideHelp())
    .addOption(new Option('--smi-dir <dir>', 'read nvidia-smi / rocm-smi outputs from fixture files here (tests)').hideHelp())
    .action((o: { json?: boolean; procRoot: string; smiDir?: string }) => {
      const r = detect({ procRoot: o.procRoot, run: o.smiDir ? fixtureRunner(o.smiDir) : runTool });
      if (o.json) {
        process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        return;
      }
      const text = renderDetect(r);
      if (text) process.stdout.write(`${text}\n`);
      for (const n of r.notes) process.stderr.write(`[ballast] ${n}\n`);
    });
}
