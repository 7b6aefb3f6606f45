import type { Command } from 'commander';
import { InputError } from '../../core/errors.ts';
import { Collector } from '../../capture/collector.ts';
import { newSessionId, registerSession, unregisterSession } from '../../capture/sessions.ts';

/** `ballast collect`: a standalone collector that agents (`ballast run --collector`) stream to. */
export function register(program: Command): void {
  program
    .command('collect')
    .description('Run a standalone collector: agents stream windows to it; serves /metrics, /api/snapshot, /api/events.')
    .option('--port <n>', 'port (0 = any free port)', '9464')
    .option('--host <host>', 'address to bind (non-loopback needs --token)', '127.0.0.1')
    .option('--out <file>', 'trace file to write as windows arrive')
    .option('--token <token>', 'bearer token agents and readers must send')
    .option('--per-expert-metrics', 'expose ballast_expert_load{layer,expert} on /metrics (L*E series)')
    .option('--ep-ranks <g>', 'also expose per-EP-rank load for G ranks (linear placement)')
    .addHelpText('after', '\nExample:\n  ballast collect --port 9464 --out fleet.ballast\n  ballast run --collector 127.0.0.1:9464 -- python serve.py\n')
    .action(async (o: { port: string; host: string; out?: string; token?: string; perExpertMetrics?: boolean; epRanks?: string }) => {
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InputError('--port', '', `expected 0..65535, got "${o.port}"`);
      const ep = o.epRanks === undefined ? undefined : Number(o.epRanks);
      if (ep !== undefined && !(Number.isInteger(ep) && ep >= 1)) throw new InputError('--ep-ranks', '', 'expected an integer >= 1');
      const id = newSessionId();
      const token = o.token ?? process.env.BALLAST_TOKEN;
      const c = new Collector({ host: o.host, port, out: o.out, token, perExpertMetrics: o.perExpertMetrics, epRanks: ep, session: id });
      const url = await c.start();
      registerSession({ id, pid: process.pid, address: url, kind: 'collect', command: ['ballast', 'collect'], startedMs: Date.now(), out: o.out ?? null, token });
      process.stderr.write(`[ballast] collector ${id} listening on ${url} (metrics ${url}/metrics)${o.out ? `, writing ${o.out}` : ''}\n`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await c.stop();
      unregisterSession(id);
      const s = c.snapshot();
      process.stderr.write(
        `[ballast] collector stopped: ${s.windowsMerged} windows from ${s.ranks.length} rank(s)` +
          (s.rejectedWindows > 0 ? `; ${s.rejectedWindows} window(s) rejected (last: ${s.lastRejection})` : '') +
          '\n',
      );
    });
}
