import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expectedDumpFiles, nextSegmentMs, parseSglangServerInfo, statReplication } from './sglang-layout.ts';

// Field names and defaults as SGLang's /get_server_info returns them (dataclasses.asdict(ServerArgs)).
const body = {
  model_path: 'Qwen/Qwen3-30B-A3B',
  tp_size: 4,
  dp_size: 1,
  pp_size: 1,
  ep_size: 1,
  enable_dp_attention: false,
  moe_a2a_backend: 'none',
  expert_distribution_recorder_mode: 'stat',
  expert_distribution_recorder_buffer_size: 1000,
  version: '0.5.6',
};

test('server info: the fields ballast uses, and nothing from a non-SGLang body', () => {
  assert.deepEqual(parseSglangServerInfo(body), { version: '0.5.6', mode: 'stat', bufferSize: 1000, tp: 4, dp: 1, pp: 1, ep: 1, dpAttention: false, a2a: 'none' });
  assert.equal(parseSglangServerInfo({ detail: 'Not Found' }), undefined);
  assert.equal(parseSglangServerInfo([1]), undefined);
  assert.equal(parseSglangServerInfo({ ...body, expert_distribution_recorder_mode: null })!.mode, null);
});

test('stat replication: tp_size without an all-to-all backend, 1 with DeepEP or tp 1', () => {
  assert.equal(statReplication(parseSglangServerInfo(body)!).factor, 4);
  assert.equal(statReplication(parseSglangServerInfo({ ...body, enable_dp_attention: true, dp_size: 4 })!).factor, 4);
  assert.equal(statReplication(parseSglangServerInfo({ ...body, moe_a2a_backend: 'deepep', ep_size: 4 })!).factor, 1);
  assert.equal(statReplication(parseSglangServerInfo({ ...body, tp_size: 1 })!).factor, 1);
});

test('dump files per request: one per rank for per_pass/per_token, one per world for stat', () => {
  const i = parseSglangServerInfo(body)!;
  assert.equal(expectedDumpFiles(i), 1);
  assert.equal(expectedDumpFiles({ ...i, mode: 'per_pass' }), 4);
  assert.equal(expectedDumpFiles({ ...i, mode: 'per_token', pp: 2 }), 8);
  assert.equal(expectedDumpFiles({ ...i, mode: 'per_pass', dp: 2 }), 8);
  assert.equal(expectedDumpFiles({ ...i, mode: 'per_pass', dp: 2, dpAttention: true }), 4);
});

test('segment lengths keep the ring buffer at most half full', () => {
  const base = { remainingMs: 60_000, probeMs: 2000, minMs: 200 };
  assert.equal(nextSegmentMs({ ...base, bufferSize: -1 }), 60_000);
  assert.equal(nextSegmentMs({ ...base, bufferSize: undefined }), 60_000);
  assert.equal(nextSegmentMs({ ...base, bufferSize: 1000 }), 2000);
  // 100 passes in 2 s = 50/s; 500 slots last 10 s.
  assert.equal(nextSegmentMs({ ...base, bufferSize: 1000, last: { passes: 100, ms: 2000 } }), 10_000);
  // slow server: the rest fits
  assert.equal(nextSegmentMs({ ...base, bufferSize: 1000, last: { passes: 2, ms: 2000 } }), 60_000);
  // a full segment: at most a quarter of it
  assert.equal(nextSegmentMs({ ...base, bufferSize: 1000, last: { passes: 1000, ms: 2000, full: true } }), 500);
  assert.equal(nextSegmentMs({ ...base, bufferSize: 1000, last: { passes: 0, ms: 2000 } }), 4000);
  assert.equal(nextSegmentMs({ ...base, remainingMs: 150, bufferSize: 1000 }), 150);
});
