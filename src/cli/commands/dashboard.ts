/**
 * `ballast dashboard [--trace FILE | --collector ADDR] [--port P] [--host H]`: live local dashboard
 * (docs/report.md). Runs until interrupted.
 */
import type { Command } from 'commander';
import { checkBind, isLoopbackBind } from '../../show/http-guard.ts';
import { InputError } from '../../core/errors.ts';
import { readPlanFile } from '../../plan/plan-file.ts';
import { Dashboard } from '../../show/dashboard/server.ts';
import { CollectorSource, type DataSource, TraceFileSource } from '../../show/dashboard/sources.ts';
import { addPlanAndPredictOptions, parsePositiveInt } from './report.ts';

export function register(program: Command): void {
  const cmd = program
    .command('dashboard')
    .description('Serve a live dashboard of a trace file or a running collector (heatmap, rank loads, imbalance, plan playground, /metrics).')
    .option('--trace <file>', 'trace file to show (re-read when it changes)')
    .option('--collector <addr>', 'running collector to follow, e.g. 127.0.0.1:9400')
    .option('--token <token>', "the collector's bearer token")
    .option('--format <name>', 'trace format (default: detect)')
    .option('--port <P>', 'port (0 = any free port)', '8321')
    .option('--host <H>', 'address to bind (off loopback needs --auth-token)', '127.0.0.1')
    .option('--auth-token <token>', 'token browsers and clients must send to this dashboard (open URL/?token=T once; env BALLAST_DASHBOARD_TOKEN)');
  addPlanAndPredictOptions(cmd)
    .option('--keep-windows <N>', 'windows kept from a collector (older ones are merged)', '512')
    .action(async (o: Record<string, string | undefined> & { predict?: boolean }) => {
      if (Boolean(o.trace) === Boolean(o.collector)) throw new InputError('--trace', '', 'expected exactly one of --trace FILE or --collector ADDR');
      const host = o.host ?? '127.0.0.1';
      const port = parsePositiveInt('--port', o.port);
      if (port === undefined || port > 65535) throw new InputError('--port', '', 'expected a port number 0..65535');
      const source: DataSource = o.trace
        ? new TraceFileSource(o.trace, { format: o.format })
        : new CollectorSource(o.collector!, { token: o.token, keepWindows: parsePositiveInt('--keep-windows', o.keepWindows) });
      const authToken = o.authToken ?? process.env.BALLAST_DASHBOARD_TOKEN;
      checkBind(host, authToken, '--host', '--auth-token');
      const dash = new Dashboard({
        source,
        host,
        authToken,
        port,
        ranks: parsePositiveInt('--ranks', o.ranks) || undefined,
        current: o.current ? readPlanFile(o.current) : undefined,
        solver: o.solver,
        redundantSlots: parsePositiveInt('--redundant', o.redundant),
        batchTokens: parsePositiveInt('--batch-tokens', o.batchTokens) || undefined,
        model: o.model,
        cluster: o.cluster,
        noPredict: o.predict === false,
      });
      const url = await dash.start();
      process.stdout.write(`ballast dashboard: ${url}/  (metrics at ${url}/metrics; Ctrl-C to stop)\n`);
      if (!isLoopbackBind(host)) {
        process.stderr.write(`ballast: listening on ${host}; open ${url}/?token=<the --auth-token> once in a browser (plain HTTP: put TLS or an SSH tunnel in front on untrusted networks)\n`);
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          process.off('SIGINT', done);
          process.off('SIGTERM', done);
          void dash.stop().then(resolve);
        };
        process.on('SIGINT', done);
        process.on('SIGTERM', done);
      });
    });
}
