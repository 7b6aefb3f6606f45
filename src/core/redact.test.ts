/** Secret values never reach a stored command line; ordinary flags are kept byte for byte. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Collector } from '../capture/collector.ts';
import { readBallastTrace } from '../ingest/ballast/reader.ts';
import { isSecretFlag, REDACTED, redactCommand, redactText } from './redact.ts';

const R = REDACTED;

test('known secret flags, both spellings, and *_KEY/*_TOKEN/*_SECRET assignments are redacted', () => {
  assert.deepEqual(
    redactCommand(['vllm', 'serve', 'm', '--api-key', 'sk-1', '--hf-token=hf_2', '--token', 't3', 'HF_TOKEN=hf_4', 'OPENAI_API_KEY=sk-5', 'MY_SECRET=x6', 'DB_PASSWORD=p7', '--admin-api-key', 'a8']),
    ['vllm', 'serve', 'm', '--api-key', R, `--hf-token=${R}`, '--token', R, `HF_TOKEN=${R}`, `OPENAI_API_KEY=${R}`, `MY_SECRET=${R}`, `DB_PASSWORD=${R}`, '--admin-api-key', R],
  );
});

test('ordinary flags that merely look similar are kept', () => {
  const argv = ['python', '-m', 'sglang.launch_server', '--tokenizer', 'tok', '--max-num-batched-tokens', '8192', '--top-k', '8', '--ssl-keyfile', 'k.pem', '--tp', '8', 'TOKENS=5', '--key-value', 'x'];
  assert.deepEqual(redactCommand(argv), argv);
  for (const f of ['--tokenizer', '--max-num-batched-tokens', '--ssl-keyfile', '--top-k', '-k']) assert.equal(isSecretFlag(f), false, f);
  for (const f of ['--api-key', '--api_key', '--hf-token', '--token', '-token', '--secret', '--password', '--ssl-keyfile-password', '--auth-token']) assert.equal(isSecretFlag(f), true, f);
});

test('a whole shell command in one argument, and URL passwords', () => {
  assert.equal(
    redactText('HF_TOKEN=abc vllm serve m --api-key "s k" --tp 2 --download-dir https://u:pw@host/x'),
    `HF_TOKEN=${R} vllm serve m --api-key ${R} --tp 2 --download-dir https://u:${R}@host/x`,
  );
  assert.deepEqual(redactCommand(['bash', '-c', 'vllm serve m --api-key=zz']), ['bash', '-c', `vllm serve m --api-key=${R}`]);
});

test('the collector stores the redacted command in the trace', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-redact-'));
  try {
    const out = join(dir, 't.ballast');
    const c = new Collector({ out, command: ['vllm', 'serve', 'm', '--api-key', 'sk-SECRET', 'HF_TOKEN=hf_SECRET'], log: () => {} });
    c.accept({
      session: '', pid: 1, host: 'h', rank: 0, tpRank: null, model: 'm', layerIds: [0], experts: 2, seq: 0, timeMs: 0, final: false, flushMs: 100, dropped: 0,
      parts: [{ steps: 1, tokens: 1, counts: Float64Array.from([1, 0]) }],
    });
    await c.stop();
    const r = readBallastTrace(out);
    const src = (r.load!.meta.extra!.originalSources as { path: string }[])[0].path;
    assert.equal(src, `vllm serve m --api-key ${R} HF_TOKEN=${R}`);
    const { readFileSync } = await import('node:fs');
    assert.doesNotMatch(readFileSync(out).toString('latin1'), /SECRET/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
