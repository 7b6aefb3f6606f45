/**
 * CSV load reader: rows `layer,expert,count` (header optional), the way SGLang users share counts.
 *
 * Result: one window, [1][L][E]. Layers are the distinct layer values sorted ascending (they become
 * meta.layerIds); E = max expert id + 1, or ReadOptions.numExperts when given (larger); (layer, expert) pairs with no row count 0. Streams the file
 * line by line. Counts must be non-negative integers; duplicate (layer, expert) rows are an error.
 * A header may name the columns in any order (`expert,layer,count`); without one the order is
 * layer, expert, count.
 */
import { InputError } from '../../../core/errors.ts';
import { makeLoadTrace } from '../../../core/load-trace.ts';
import type { Probe, RawRead, ReadOptions, TraceReader } from '../../reader.ts';
import { defaultMaxBytes, forEachLine, headText, showText } from './text-lines.ts';

/** Largest expert id accepted (TokenRoutes allow 65536 experts). */
const MAX_EXPERT_ID = 65535;
const DATA_ROW = /^\s*\d+\s*,\s*\d+\s*,\s*[-+0-9.eE]+\s*$/;
const HEADER_ROW = /^\s*"?[A-Za-z_]+"?\s*,\s*"?[A-Za-z_]+"?\s*,\s*"?[A-Za-z_]+"?\s*$/;

interface LayerRow {
  values: Float64Array;
  seen: Uint8Array;
}

function isUint(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function detect(p: Probe): number {
  if (p.isDirectory) return 0;
  const text = headText(p.head);
  if (text === undefined) return 0;
  const lines = text.split('\n');
  // The probe may cut the last line short; judge only whole lines (or the whole file when it fits).
  if (lines.length > 1 && p.head.length >= 65536) lines.pop();
  let data = 0;
  let bad = 0;
  let header = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, '');
    if (line.trim() === '' || line.startsWith('#')) continue;
    if (data === 0 && bad === 0 && !header && HEADER_ROW.test(line)) {
      header = true;
      if (!/layer/i.test(line) || !/expert/i.test(line)) return 0;
      continue;
    }
    if (DATA_ROW.test(line)) data++;
    else bad++;
  }
  const csvName = p.path.toLowerCase().endsWith('.csv');
  if (data === 0 && !header) return csvName && bad > 0 && text.includes(',') ? 0.3 : 0;
  // A few malformed rows still make it this reader's file, so the user gets its line-numbered error.
  if (bad > 0) return bad <= 2 || bad * 10 <= data ? (csvName ? 0.6 : 0.5) : csvName ? 0.3 : 0;
  return csvName ? 0.9 : 0.8;
}

function read(path: string, opts: ReadOptions): RawRead {
  const maxBytes = opts.maxBytes ?? defaultMaxBytes();
  const layers = new Map<number, LayerRow>();
  let maxExpert = -1;
  let col = { layer: 0, expert: 1, count: 2 };
  let sawData = false;
  let firstContent = true;
  let bytesHeld = 0;
  forEachLine(path, (line, lineNo) => {
    const where = `line ${lineNo}`;
    if (line.trim() === '' || line.startsWith('#')) return;
    const fields = line.split(',');
    if (fields.length !== 3) throw new InputError(path, where, `expected 3 fields, got ${fields.length} (layer,expert,count)`);
    for (let i = 0; i < 3; i++) fields[i] = fields[i].trim().replace(/^"(.*)"$/, '$1');
    if (firstContent) {
      firstContent = false;
      // A header has non-numeric names in the layer/expert columns; anything numeric is a data row.
      if (Number.isNaN(Number(fields[0])) && Number.isNaN(Number(fields[1]))) {
        const names = fields.map((f) => f.toLowerCase());
        const li = names.indexOf('layer');
        const ei = names.indexOf('expert');
        const ci = names.findIndex((n) => n === 'count' || n === 'load' || n === 'tokens');
        if (li < 0 || ei < 0 || ci < 0) {
          throw new InputError(path, where, `expected a header naming layer, expert and count, or a data row of integers; got ${showText(line)}`);
        }
        col = { layer: li, expert: ei, count: ci };
        return;
      }
    }
    const ls = fields[col.layer];
    const es = fields[col.expert];
    const cs = fields[col.count];
    if (!isUint(ls)) throw new InputError(path, where, `expected a non-negative integer layer, got ${showText(ls)}`);
    if (!isUint(es)) throw new InputError(path, where, `expected a non-negative integer expert id, got ${showText(es)}`);
    const layer = Number(ls);
    const expert = Number(es);
    if (!Number.isSafeInteger(layer)) throw new InputError(path, where, `layer ${ls} is too large`);
    if (expert > MAX_EXPERT_ID) throw new InputError(path, where, `expert id ${es} is too large; expected at most ${MAX_EXPERT_ID}`);
    const count = cs === '' ? NaN : Number(cs);
    if (!Number.isFinite(count)) throw new InputError(path, where, `expected a finite count, got ${showText(cs)}`);
    if (count < 0 || !Number.isInteger(count)) {
      throw new InputError(path, where, `expected a non-negative integer count, got ${showText(cs).replace(/^"(.*)"$/, '$1')}`);
    }
    let row = layers.get(layer);
    if (!row) {
      row = { values: new Float64Array(Math.max(8, expert + 1)), seen: new Uint8Array(Math.max(8, expert + 1)) };
      layers.set(layer, row);
      bytesHeld += row.values.length * 9;
    }
    if (expert >= row.values.length) {
      const n = Math.max(expert + 1, row.values.length * 2);
      const v = new Float64Array(n);
      v.set(row.values);
      const s = new Uint8Array(n);
      s.set(row.seen);
      bytesHeld += (n - row.values.length) * 9;
      row.values = v;
      row.seen = s;
    }
    if (bytesHeld > maxBytes) {
      throw new InputError(path, where, `needs more than ${maxBytes} bytes in memory for ${layers.size} layers x ${maxExpert + 1} experts; too large`);
    }
    if (row.seen[expert]) throw new InputError(path, where, `duplicate row for layer ${layer}, expert ${expert}`);
    row.seen[expert] = 1;
    row.values[expert] = count;
    if (expert > maxExpert) maxExpert = expert;
    sawData = true;
  });
  if (!sawData) throw new InputError(path, '', 'empty file; expected rows of layer,expert,count');
  const layerIds = [...layers.keys()].sort((a, b) => a - b);
  const L = layerIds.length;
  let E = maxExpert + 1;
  if (opts.numExperts !== undefined) {
    if (maxExpert >= opts.numExperts) throw new InputError(path, '', `expert id ${maxExpert} >= ${opts.numExperts} experts (numExperts)`);
    E = opts.numExperts;
  }
  if (L * E * 8 > maxBytes) throw new InputError(path, '', `${L} layers x ${E} experts needs more memory than the ${maxBytes} bytes allowed`);
  const counts = new Float64Array(L * E);
  for (let l = 0; l < L; l++) {
    const row = layers.get(layerIds[l])!;
    counts.set(row.values.subarray(0, Math.min(E, row.values.length)), l * E);
  }
  const load = makeLoadTrace({ layerIds, sources: [{ path, format: 'csv' }] }, L, E, counts, [{}]);
  return { load };
}

export const reader: TraceReader = {
  name: 'csv',
  description: 'CSV rows layer,expert,count (header optional), one window',
  detect,
  read,
};
