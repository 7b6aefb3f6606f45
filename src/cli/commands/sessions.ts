import type { Command } from 'commander';
import Table from 'cli-table3';
import { listSessions, sessionDir, type SessionRecord } from '../../capture/sessions.ts';

/** Windows merged so far, from the session's collector (undefined when it does not answer in time). */
export async function sessionWindows(s: SessionRecord, timeoutMs = 1000): Promise<number | undefined> {
  try {
    const res = await fetch(`${s.address}/api/snapshot`, {
      headers: s.token ? { Authorization: `Bearer ${s.token}` } : {},
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) return undefined;
    return ((await res.json()) as { windowsMerged?: number }).windowsMerged;
  } catch {
    return undefined;
  }
}

/** `ballast sessions`: list running captures. */
export function register(program: Command): void {
  program
    .command('sessions')
    .description('List running captures (ballast run / ballast collect) on this machine.')
    .option('--json', 'print JSON (one array of sessions, without tokens)')
    .action(async (o: { json?: boolean }) => {
      const all = listSessions();
      const wins = await Promise.all(all.map((s) => sessionWindows(s)));
      if (o.json) {
        const rows = all.map((s, i) => {
          const { token: _t, ...rest } = s;
          return { ...rest, windows: wins[i] ?? null };
        });
        process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
        return;
      }
      if (all.length === 0) {
        process.stdout.write(`no running capture sessions (registry: ${sessionDir()})\n`);
        return;
      }
      const t = new Table({ head: ['id', 'pid', 'kind', 'address', 'windows', 'started', 'command'], style: { head: [], border: [] } });
      all.forEach((s, i) => {
        const cmd = s.command.join(' ');
        t.push([s.id, s.pid, s.kind, s.address, wins[i] ?? '?', new Date(s.startedMs).toISOString().replace('T', ' ').slice(0, 19), cmd.length > 60 ? cmd.slice(0, 57) + '...' : cmd]);
      });
      process.stdout.write(t.toString() + '\n');
    });
}
