/**
 * Session registry: one JSON file per running capture (ballast run / collect), so that
 * `ballast sessions` and `ballast watch` can find them.
 *
 * Directory: $BALLAST_SESSION_DIR, else $XDG_RUNTIME_DIR/ballast/sessions, else
 * ~/.cache/ballast/sessions. Files are written with mode 0600 (they may hold the collector token),
 * removed on exit, and a file whose pid is gone is stale: listing removes it.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../core/errors.ts';

export interface SessionRecord {
  id: string;
  pid: number;
  /** Collector base URL. */
  address: string;
  kind: 'run' | 'collect';
  command: string[];
  startedMs: number;
  out: string | null;
  token?: string;
}

export function sessionDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BALLAST_SESSION_DIR) return env.BALLAST_SESSION_DIR;
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'ballast', 'sessions');
  return join(homedir(), '.cache', 'ballast', 'sessions');
}

/** A short random id (8 hex digits). */
export function newSessionId(): string {
  return randomBytes(4).toString('hex');
}

/** True when a process with this pid exists. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Write the session file (atomically). Returns its path. Never throws: a registry failure only costs discoverability. */
export function registerSession(rec: SessionRecord, dir = sessionDir()): string | undefined {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, `${rec.id}.json`);
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(rec, null, 2) + '\n', { mode: 0o600 });
    renameSync(tmp, path);
    return path;
  } catch {
    return undefined;
  }
}

export function unregisterSession(id: string, dir = sessionDir()): void {
  try {
    rmSync(join(dir, `${id}.json`), { force: true });
  } catch {
    /* nothing to do */
  }
}

/** Running sessions, oldest first. Stale files (dead pid, unreadable) are removed. */
export function listSessions(dir = sessionDir()): SessionRecord[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  const out: SessionRecord[] = [];
  for (const n of names) {
    const p = join(dir, n);
    let rec: SessionRecord | undefined;
    try {
      rec = JSON.parse(readFileSync(p, 'utf8')) as SessionRecord;
    } catch {
      rec = undefined;
    }
    if (!rec || typeof rec.pid !== 'number' || typeof rec.address !== 'string' || !pidAlive(rec.pid)) {
      try {
        rmSync(p, { force: true });
      } catch {
        /* another process removed it */
      }
      continue;
    }
    out.push(rec);
  }
  return out.sort((a, b) => a.startedMs - b.startedMs);
}

/** Find a session by id or id prefix; with no id, the only running one. */
export function findSession(id: string | undefined, dir = sessionDir()): SessionRecord {
  const all = listSessions(dir);
  if (id === undefined) {
    if (all.length === 1) return all[0];
    if (all.length === 0) throw new InputError('', '', `no running capture sessions (looked in ${dir}); start one with \`ballast run\` or \`ballast collect\``);
    throw new InputError('', '', `${all.length} sessions are running (${all.map((s) => s.id).join(', ')}); name one`);
  }
  const hits = all.filter((s) => s.id === id || s.id.startsWith(id));
  if (hits.length === 1) return hits[0];
  if (hits.length === 0) throw new InputError('SESSION', '', `no running session "${id}"; running: ${all.map((s) => s.id).join(', ') || 'none'}`);
  throw new InputError('SESSION', '', `"${id}" matches ${hits.length} sessions; give more of the id`);
}
