/**
 * Build data/demo/esft-law.ballast from the bundled ESFT law routing dump (token routes + gate weights).
 * Run: node --import tsx scripts/make-demo-data.ts
 * The output is committed; src/ingest/readers/esft/demo-data.test.ts checks it equals a fresh conversion.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { TokenRoutes } from '../src/core/token-routes.ts';
import { writeTraceFile } from '../src/ingest/ballast/writer.ts';
import { reader as esftReader } from '../src/ingest/readers/esft/index.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
export const DEMO_SOURCE = 'data/esft-dsv2lite/raw/law.tgz';
export const DEMO_OUT = 'data/demo/esft-law.ballast';

export const DEMO_ATTRIBUTION =
  'Routing recorded by deepseek-ai/ESFT (https://github.com/deepseek-ai/ESFT, commit 579a7711e4b332b4c57b47e378a0cf240d85caa6), ' +
  'results/expert_scores/law/expert_weights_{1..26}.txt; MIT licence, "Copyright (c) 2023 DeepSeek". ' +
  'Model deepseek-ai/ESFT-vanilla-lite (DeepSeek-V2-Lite architecture), prefill-style teacher-forced passes over the ESFT law task.';

/** The law task's token routes [8327][26][6] with the demo meta (model, topK 6, prefill, attribution). */
export async function demoRoutes(): Promise<TokenRoutes> {
  const raw = await esftReader.read(join(repo, DEMO_SOURCE), { numExperts: 64, topK: 6 });
  const r = raw.routes!;
  return {
    ...r,
    meta: {
      model: 'deepseek-ai/ESFT-vanilla-lite (DeepSeek-V2-Lite arch)',
      layerIds: r.meta.layerIds,
      topK: 6,
      phase: 'prefill',
      attribution: DEMO_ATTRIBUTION,
      sources: [{ path: DEMO_SOURCE, format: 'esft' }],
      extra: { task: 'law', sequences: r.seqStarts.length - 1, upstream: 'https://github.com/deepseek-ai/ESFT', license: 'MIT' },
    },
  };
}

async function main(): Promise<void> {
  const routes = await demoRoutes();
  const out = join(repo, DEMO_OUT);
  mkdirSync(dirname(out), { recursive: true });
  writeTraceFile(out, { routes });
  process.stdout.write(`wrote ${relative(process.cwd(), out)}: ${routes.numTokens} tokens x ${routes.numLayers} layers x top-${routes.topK}, ${routes.seqStarts.length - 1} sequences\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
