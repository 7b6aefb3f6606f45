/**
 * Helpers for the capture tests: bounded child processes that are always killed, and the fixture
 * paths. Not part of the CLI.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BALLAST = resolve(ROOT, 'bin/ballast.js');
export const FIXTURE = resolve(ROOT, 'capture/python/tests/moe_fixture.py');
export const PYTHON = '/usr/bin/python3';

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  done: Promise<Finished>;
  kill: () => void;
}

/** Start a process; it is SIGKILLed after `timeoutMs` (and by kill()). */
export function start(cmd: string, args: string[], opts: { timeoutMs: number; env?: NodeJS.ProcessEnv; cwd?: string }): Running {
  const t0 = Date.now();
  const child = spawn(cmd, args, { env: { ...process.env, ...(opts.env ?? {}) }, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }
  };
  const timer = setTimeout(kill, opts.timeoutMs);
  const done = new Promise<Finished>((res) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      res({ code, signal, stdout: out, stderr: err, ms: Date.now() - t0 });
    });
  });
  return { child, stdout: () => out, stderr: () => err, done, kill };
}

/** Run to completion (bounded). */
export async function runBounded(cmd: string, args: string[], opts: { timeoutMs: number; env?: NodeJS.ProcessEnv; cwd?: string }): Promise<Finished> {
  const r = start(cmd, args, opts);
  try {
    return await r.done;
  } finally {
    r.kill();
  }
}

/** Poll `fn` until it returns a value other than undefined, or throw after `timeoutMs`. */
export async function waitFor<T>(fn: () => T | undefined | Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch {
      /* not yet */
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** stderr without the agent's and launcher's own `[ballast]` lines. */
export function hostStderr(s: string): string {
  return s
    .split('\n')
    .filter((l) => !l.startsWith('[ballast]'))
    .join('\n');
}

/** Parse the fixture's `TRUTH {...}` line. */
export function truthOf(stdout: string): { layer_ids: number[]; experts: number; counts: { prefill: number[][]; decode: number[][] } } {
  const line = stdout.split('\n').find((l) => l.startsWith('TRUTH '));
  if (!line) throw new Error(`no TRUTH line in:\n${stdout}`);
  return JSON.parse(line.slice(6));
}
