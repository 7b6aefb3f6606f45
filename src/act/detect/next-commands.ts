/**
 * The next commands to run for one detected server. Pure. Shapes: facts -> command lines (strings).
 *  - agent attached: nothing to start, `ballast sessions` shows the capture;
 *  - SGLang with its recorder on: `ballast capture --sglang URL`;
 *  - vLLM / SGLang already returning routed experts: the recording proxy in front;
 *  - otherwise: relaunch under `ballast run` (the in-process agent), or with the flag the proxy needs;
 *  - vLLM / SGLang: `ballast doctor -- <launch line>` checks the launch flags.
 */
import type { LaunchedServer } from './server-of-launch.ts';

export interface NextFacts {
  server?: LaunchedServer;
  /** The launch command line, as argv. */
  argv: string[];
  agent: 'attached' | 'not attached' | 'unknown';
  /** Local config.json path, when found. */
  configPath?: string;
  /** $SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR of the server, when readable. */
  recorderDir?: string;
}

const q = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
const line = (argv: string[]) => argv.map(q).join(' ');

export function nextCommands(f: NextFacts): string[] {
  if (f.agent === 'attached') return ['ballast sessions   # the ballast agent is already capturing this process'];
  const s = f.server;
  const out: string[] = [];
  if (!s) {
    out.push(`ballast run --out run.ballast -- ${line(f.argv)}   # relaunch under the in-process agent`);
    return out;
  }
  const host = s.host === '0.0.0.0' || s.host === '::' ? '127.0.0.1' : s.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${s.port}`;
  const cfg = f.configPath ? ` --model-config ${q(f.configPath)}` : '';
  if (s.engine === 'sglang' && s.recorderMode) {
    out.push(`ballast capture --sglang ${url} --duration 60s${f.recorderDir ? ` --dump-dir ${q(f.recorderDir)}` : ''} --out sglang.ballast`);
  } else if (s.returnsRoutedExperts) {
    out.push(`ballast capture --${s.engine} ${url} --listen 127.0.0.1:${s.port + 1}${cfg} --out ${s.engine}.ballast   # then send requests to port ${s.port + 1}`);
  } else {
    out.push(`ballast run --out ${s.engine}.ballast -- ${line(f.argv)}   # relaunch under the in-process agent`);
    if (s.engine === 'vllm') out.push(`or relaunch with --enable-return-routed-experts and put the recording proxy in front: ballast capture --vllm ${url} --listen 127.0.0.1:${s.port + 1}${cfg}`);
    else out.push(`or relaunch with --expert-distribution-recorder-mode stat --expert-distribution-recorder-buffer-size -1, then: ballast capture --sglang ${url}`);
  }
  out.push(`ballast doctor -- ${line(f.argv)}`);
  return out;
}
