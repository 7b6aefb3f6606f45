import type { Command } from 'commander';
import type { CollectorSnapshot } from '../../capture/collector.ts';
import { findSession, pidAlive } from '../../capture/sessions.ts';
import { InputError } from '../../core/errors.ts';
import { renderWatch } from '../../show/watch.ts';
import { useColor } from '../../show/term.ts';

async function fetchSnapshot(url: string, token: string | undefined): Promise<CollectorSnapshot> {
  const res = await fetch(`${url}/api/snapshot`, {
    headers: token ? { Authorization: `Bearer ${token}` } : {},
    signal: AbortSignal.timeout(3000),
  });
  if (res.status === 401) throw new InputError('--token', '', `${url} wants a token`);
  if (!res.ok) throw new InputError(url, '', `snapshot answered HTTP ${res.status}`);
  return (await res.json()) as CollectorSnapshot;
}

/** `ballast watch [SESSION]`: live per-layer imbalance of a running capture. */
export function register(program: Command): void {
  program
    .command('watch')
    .description('Live terminal view of a running capture: per-layer imbalance bars.')
    .argument('[session]', 'session id or prefix (default: the only running one); see `ballast sessions`')
    .option('--url <url>', 'collector URL instead of a registered session')
    .option('--token <token>', 'collector token (default: from the session registry)')
    .option('--interval <ms>', 'refresh interval in ms', '1000')
    .option('--once', 'print one frame and exit')
    .option('--max-layers <n>', 'show at most N layers (the most imbalanced)')
    .action(async (id: string | undefined, o: { url?: string; token?: string; interval: string; once?: boolean; maxLayers?: string }) => {
      let url = o.url?.replace(/\/+$/, '');
      let token = o.token ?? process.env.BALLAST_TOKEN;
      let pid: number | undefined;
      if (!url) {
        const s = findSession(id);
        url = s.address;
        token = token ?? s.token;
        pid = s.pid;
      }
      const interval = Number(o.interval);
      if (!(interval >= 100)) throw new InputError('--interval', '', 'expected at least 100 (ms)');
      const maxLayers = o.maxLayers === undefined ? undefined : Number(o.maxLayers);
      const tty = Boolean(process.stdout.isTTY) && !o.once;
      const frame = (s: CollectorSnapshot) =>
        renderWatch(s, { width: process.stdout.columns ?? 100, color: useColor(process.stdout), maxLayers: maxLayers ?? (tty ? Math.max(5, (process.stdout.rows ?? 40) - 6) : undefined) });
      if (o.once) {
        let snap: CollectorSnapshot;
        try {
          snap = await fetchSnapshot(url, token);
        } catch (e) {
          if (e instanceof InputError) throw e;
          throw new InputError(url, '', `collector not reachable: ${(e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message}`);
        }
        process.stdout.write(frame(snap));
        return;
      }
      let stop = false;
      const onSig = () => (stop = true);
      process.once('SIGINT', onSig);
      try {
        while (!stop) {
          try {
            const snap = await fetchSnapshot(url, token);
            process.stdout.write((tty ? '\x1b[H\x1b[2J' : '') + frame(snap));
          } catch (e) {
            if (pid !== undefined && !pidAlive(pid)) {
              process.stdout.write('session ended\n');
              return;
            }
            if (e instanceof InputError) throw e;
            process.stdout.write(`collector ${url} not answering; retrying\n`);
          }
          await new Promise((r) => setTimeout(r, interval));
        }
      } finally {
        process.off('SIGINT', onSig);
      }
    });
}
