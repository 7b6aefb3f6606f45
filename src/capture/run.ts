/**
 * `ballast run`: start a command with the Python capture agent attached, collect its windows in an
 * in-process collector (or send them to an external one), and write a trace when it ends.
 *
 * The agent reaches the program through PYTHONPATH (capture/python first, holding a sitecustomize.py
 * that chains to any other sitecustomize) and BALLAST_* variables, inherited by every worker process.
 * The command's stdio, exit code and signals are passed through untouched.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { delimiter, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from '../core/errors.ts';
import { redactCommand } from '../core/redact.ts';
import { Collector } from './collector.ts';
import { newSessionId, registerSession, unregisterSession } from './sessions.ts';

/** Directory holding sitecustomize.py and the ballast_agent package. */
export const AGENT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../capture/python');

export interface RunOptions {
  command: string[];
  /** Trace file (default ballast-run-<time>.ballast unless only --collector is given). */
  out?: string;
  /** External collector base URL(s), comma-separated. */
  collector?: string;
  token?: string;
  flushMs?: number;
  sampleRoutes?: number;
  perExpertMetrics?: boolean;
  /** Extra environment for the child (tests). */
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
  /** Called once the local collector listens (tests, dashboards). */
  onCollector?: (url: string, sessionId: string) => void;
}

/** Normalise HOST:PORT or URL to http://HOST:PORT. */
export function collectorUrl(addr: string): string {
  const a = addr.trim();
  const url = /^https?:\/\//.test(a) ? a : `http://${a}`;
  if (!/^http:\/\/(\[[^\]]+\]|[^/:]+):\d+\/?$/.test(url)) {
    throw new InputError('--collector', '', `expected HOST:PORT or http://HOST:PORT, got "${addr}"`);
  }
  return url.replace(/\/$/, '');
}

function checkOut(out: string): void {
  const dir = dirname(resolve(out));
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new InputError('--out', '', `directory ${dir} does not exist`);
  }
  if (!st.isDirectory()) throw new InputError('--out', '', `${dir} is not a directory`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new InputError('--out', '', `directory ${dir} is not writable`);
  }
}

function defaultOut(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `ballast-run-${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}.ballast`;
}

/** Run the command with the agent; resolves with the command's exit code (128+N when killed by signal N). */
export async function runWithAgent(opts: RunOptions): Promise<number> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`[ballast] ${l}\n`));
  if (opts.command.length === 0) throw new InputError('COMMAND', '', 'expected a command after `--`');
  const flushMs = opts.flushMs ?? 1000;
  if (!(Number.isInteger(flushMs) && flushMs >= 10)) throw new InputError('--flush-ms', '', 'expected an integer >= 10');
  const sample = opts.sampleRoutes ?? 0;
  if (!(Number.isInteger(sample) && sample >= 0)) throw new InputError('--sample-routes', '', 'expected an integer >= 0 (0 = off)');
  const external = opts.collector ? opts.collector.split(',').map(collectorUrl) : [];
  const out = opts.out ?? (external.length === 0 ? defaultOut() : undefined);
  if (out) checkOut(out);

  const sessionId = newSessionId();
  let collector: Collector | undefined;
  const urls = [...external];
  if (out) {
    collector = new Collector({
      host: '127.0.0.1',
      port: 0,
      out,
      session: sessionId,
      command: opts.command,
      perExpertMetrics: opts.perExpertMetrics,
      log,
    });
    const url = await collector.start();
    urls.unshift(url);
    registerSession({ id: sessionId, pid: process.pid, address: url, kind: 'run', command: redactCommand(opts.command), startedMs: Date.now(), out: resolve(out) });
    opts.onCollector?.(url, sessionId);
  }

  const base = { ...process.env, ...(opts.env ?? {}) };
  const env: NodeJS.ProcessEnv = {
    ...base,
    PYTHONPATH: base.PYTHONPATH ? `${AGENT_DIR}${delimiter}${base.PYTHONPATH}` : AGENT_DIR,
    BALLAST_AGENT: '1',
    BALLAST_COLLECTOR: urls.join(','),
    BALLAST_FLUSH_MS: String(flushMs),
    BALLAST_SAMPLE_ROUTES: String(sample),
    BALLAST_SESSION: sessionId,
  };
  if (opts.token) env.BALLAST_TOKEN = opts.token;
  else delete env.BALLAST_TOKEN;

  const code = await new Promise<number>((resolveCode) => {
    const child = spawn(opts.command[0], opts.command.slice(1), { stdio: 'inherit', env });
    const forward = (sig: NodeJS.Signals) => {
      // A terminal's Ctrl-C already reached the child (same process group); forward only otherwise.
      if (sig === 'SIGINT' && process.stdin.isTTY) return;
      try {
        child.kill(sig);
      } catch {
        /* child gone */
      }
    };
    const sigs: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
    for (const s of sigs) process.on(s, forward);
    const done = (c: number) => {
      for (const s of sigs) process.off(s, forward);
      resolveCode(c);
    };
    child.once('error', (e: NodeJS.ErrnoException) => {
      log(`cannot start ${opts.command[0]}: ${e.code ?? e.message}`);
      done(e.code === 'ENOENT' ? 127 : 126);
    });
    child.once('exit', (c, signal) => {
      if (c !== null) done(c);
      else done(128 + ((signal && osConstants.signals[signal]) || 0));
    });
  });

  if (collector) {
    await collector.stop();
    unregisterSession(sessionId);
    const snap = collector.snapshot();
    if (!collector.hasData) log(`no MoE routing was captured; no trace written`);
    else if (snap.writeError) log(`trace NOT complete: ${snap.writeError}`);
    else {
      log(
        `trace ${out}: ${snap.windowsMerged} windows, ${snap.layers} MoE layers x ${snap.experts} experts, ` +
          `${snap.ranks.length} agent process(es)${snap.droppedWindows ? `, ${snap.droppedWindows} windows dropped by agents` : ''}` +
          `${snap.rejectedWindows ? `, ${snap.rejectedWindows} windows rejected (last: ${snap.lastRejection})` : ''}`,
      );
    }
  }
  return code;
}
