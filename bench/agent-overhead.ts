/**
 * Runner for bench/agent-overhead.py: starts a real collector on loopback (as `ballast run` does),
 * runs the Python benchmark against it, and prints its numbers plus what the collector received.
 *
 *   node --import tsx bench/agent-overhead.ts [-- extra args for agent-overhead.py]
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Collector } from '../src/capture/collector.ts';

const here = dirname(fileURLToPath(import.meta.url));
const extra = process.argv.slice(2).filter((a) => a !== '--');
const collector = new Collector({ log: (l) => process.stderr.write(`[collector] ${l}\n`) });
const url = await collector.start();
const code = await new Promise<number>((resolve) => {
  const child = spawn('/usr/bin/python3', [join(here, 'agent-overhead.py'), '--collector', url, ...extra], { stdio: 'inherit' });
  child.on('exit', (c) => resolve(c ?? 1));
  child.on('error', () => resolve(127));
});
const s = collector.snapshot();
console.log(`collector: ${s.windowsReceived} agent windows received, ${s.windowsMerged} merged, ${s.layers} layers x ${s.experts} experts`);
await collector.stop();
process.exitCode = code;
