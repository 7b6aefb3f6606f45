/**
 * sglang-dump reader: SGLang expert-distribution recorder dumps (torch.save zip files, every recorder
 * mode) or a directory of them. See read.ts for the layouts and docs/engines.md.
 */
import type { Probe, TraceReader } from '../../reader.ts';
import { isLegacyTorchHead } from '../../torch/load.ts';
import { isZipHead } from '../../torch/zip.ts';
import { DUMP_NAME, readSglangDump } from './read.ts';

function has(head: Uint8Array, s: string): boolean {
  return Buffer.from(head.buffer, head.byteOffset, head.byteLength).includes(s, 0, 'latin1');
}

export function detectSglangDump(p: Probe): number {
  if (p.isDirectory) return p.entries.some((n) => DUMP_NAME.test(n)) ? 0.9 : 0;
  if (isLegacyTorchHead(p.head)) return 0.6; // read() refuses it with a clear message
  if (!isZipHead(p.head) || !has(p.head, 'data.pkl')) return 0;
  if (has(p.head, 'logical_count') || has(p.head, 'global_physical_count') || has(p.head, 'topk_ids_of_layer')) return 0.95;
  return 0.5;
}

export const reader: TraceReader = {
  name: 'sglang-dump',
  description: 'SGLang expert-distribution recorder dump (torch.save: stat, per_pass or per_token mode), or a directory of them',
  detect: detectSglangDump,
  read: (path, opts) => readSglangDump(path, opts),
};
