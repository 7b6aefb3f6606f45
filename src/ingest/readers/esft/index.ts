/**
 * DeepSeek ESFT routing-dump reader (token level): a directory of `expert_weights_<layer>.txt` files,
 * or a .tar / .tgz / .tar.gz archive holding one such directory.
 *
 * Each layer file has one line per sequence: `<ids tab-separated>\t\t<weights tab-separated>`, ids and
 * gate weights flat and token-major (k per token); line i of every layer file is the same sequence.
 * Layer ids come from the file names (sorted ascending).
 *
 * k: ReadOptions.topK when given; else inferred as the largest divisor of the per-line id counts' gcd
 * for which every token's k ids are distinct (a router's top-k never picks an expert twice). For the
 * bundled data this gives 6.
 * E: ReadOptions.numExperts when given (ids must be below it); else max id + 1 (64 for the bundled data).
 *
 * Returns TokenRoutes: experts [T][L][k] (Uint8 when E <= 256), weights [T][L][k] Float32, seqStarts
 * [S+1] with one sequence per line. The load trace is derived from the routes (one window per sequence).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { InputError } from '../../../core/errors.ts';
import { allocExpertIds, makeTokenRoutes } from '../../../core/token-routes.ts';
import type { Probe, RawRead, ReadOptions, TraceReader } from '../../reader.ts';
import { defaultMaxBytes, showText } from '../csv/text-lines.ts';
import { gunzipPrefix, listTar, looksLikeTar, maybeGunzip } from './tar.ts';

const LAYER_FILE = /^expert_weights_(\d+)\.txt$/;

/** One layer file's text plus how to name it in errors. */
interface LayerSource {
  layer: number;
  /** InputError.file for this layer. */
  file: string;
  /** Prefix for InputError.where ('' for a directory member, 'law/expert_weights_3.txt ' in an archive). */
  wherePrefix: string;
  bytes: Buffer;
}

interface ParsedLayer {
  src: LayerSource;
  /** Flat ids over all lines, token-major. */
  ids: Int32Array;
  weights: Float32Array;
  /** Id count per line. */
  lineCounts: number[];
  maxId: number;
}

function detect(p: Probe): number {
  if (p.isDirectory) return p.entries.some((n) => LAYER_FILE.test(n)) ? 0.95 : 0;
  const h = p.head;
  let tar: Uint8Array = h;
  if (h.length >= 2 && h[0] === 0x1f && h[1] === 0x8b) tar = gunzipPrefix(h);
  if (!looksLikeTar(tar)) return 0;
  const text = Buffer.from(tar.buffer, tar.byteOffset, tar.byteLength).toString('latin1');
  return /(^|\/|\0)expert_weights_\d+\.txt\0/.test(text) ? 0.95 : 0;
}

function layerSourcesFromDir(dir: string, maxBytes: number): LayerSource[] {
  const names = readdirSync(dir).filter((n) => LAYER_FILE.test(n));
  if (names.length === 0) throw new InputError(dir, '', 'no expert_weights_<layer>.txt files in this directory; expected an ESFT routing dump');
  let total = 0;
  for (const n of names) total += statSync(join(dir, n)).size;
  if (total * 3 > maxBytes) throw new InputError(dir, '', `${total} bytes of routing text needs more memory than the ${maxBytes} bytes allowed`);
  return names.map((n) => ({
    layer: Number(LAYER_FILE.exec(n)![1]),
    file: join(dir, n),
    wherePrefix: '',
    bytes: readFileSync(join(dir, n)),
  }));
}

function layerSourcesFromArchive(path: string, maxBytes: number): LayerSource[] {
  const size = statSync(path).size;
  if (size === 0) throw new InputError(path, '', 'empty file; expected an ESFT routing archive');
  if (size * 20 > maxBytes) throw new InputError(path, '', `a ${size}-byte archive may need more memory than the ${maxBytes} bytes allowed`);
  // Routing text compresses about 4x (ESFT's intent.tgz: 3.1 MB -> 12.5 MB); allow 50x, within a third of the memory budget.
  const tar = maybeGunzip(readFileSync(path), path, Math.min(64 * 1024 * 1024 + 50 * size, Math.floor(maxBytes / 3)));
  if (!looksLikeTar(tar)) throw new InputError(path, 'byte 0', 'expected a tar archive (optionally gzipped) of expert_weights_<layer>.txt files');
  const members = listTar(tar, path).filter((m) => LAYER_FILE.test(basename(m.name)));
  if (members.length === 0) throw new InputError(path, '', 'no expert_weights_<layer>.txt files in this archive; expected an ESFT routing dump');
  const dirs = [...new Set(members.map((m) => dirname(m.name)))];
  if (dirs.length > 1) {
    throw new InputError(path, '', `archive holds expert_weights files in several directories (${dirs.join(', ')}); expected one task per archive`);
  }
  return members.map((m) => ({
    layer: Number(LAYER_FILE.exec(basename(m.name))![1]),
    file: path,
    wherePrefix: `${m.name} `,
    bytes: Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength),
  }));
}

function fail(src: LayerSource, where: string, message: string): never {
  throw new InputError(src.file, `${src.wherePrefix}${where}`.trim(), message);
}

const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

/**
 * Parse the decimal in bytes [s, e): `[-]digits[.digits]` with at most 15 significant digits is done
 * here (mantissa / 10^scale, both exact doubles, so the quotient is the correctly rounded value, the
 * same as Number()); anything else goes through Number() on the text. NaN when not a number.
 */
function parseDecimal(b: Buffer, s: number, e: number): number {
  let i = s;
  let neg = false;
  if (b[i] === 45) {
    neg = true;
    i++;
  }
  let mant = 0;
  let digits = 0;
  let scale = 0;
  let seenDot = false;
  for (; i < e; i++) {
    const c = b[i];
    if (c >= 48 && c <= 57) {
      mant = mant * 10 + (c - 48);
      if (mant !== 0 || seenDot) digits++;
      if (seenDot) scale++;
    } else if (c === 46 && !seenDot) {
      seenDot = true;
    } else {
      break;
    }
  }
  if (i === e && digits <= 15 && scale <= 22 && e > s + (neg ? 1 : 0) && !(seenDot && e === s + (neg ? 2 : 1))) {
    const v = mant / POW10[scale];
    return neg ? -v : v;
  }
  const t = b.toString('latin1', s, e);
  return t.trim() === '' ? NaN : Number(t);
}

function parseLayer(src: LayerSource): ParsedLayer {
  const b = src.bytes;
  const n = b.length;
  // Upper bound on values: every value is followed by a tab or a line end.
  let tabs = 0;
  for (let i = b.indexOf(9); i >= 0; i = b.indexOf(9, i + 1)) tabs++;
  const ids = new Int32Array(tabs + 1);
  const weights = new Float32Array(tabs + 1);
  const lineCounts: number[] = [];
  let nIds = 0;
  let nW = 0;
  let maxId = -1;
  let start = 0;
  let lineNo = 0;
  while (start < n) {
    let end = b.indexOf(10, start);
    if (end < 0) end = n;
    lineNo++;
    let lineEnd = end;
    if (lineEnd > start && b[lineEnd - 1] === 13) lineEnd--;
    const sep = b.indexOf('\t\t', start, 'latin1');
    if (sep < 0 || sep >= lineEnd) fail(src, `line ${lineNo}`, 'expected "<ids>\\t\\t<weights>" (ids and weights separated by two tabs)');
    const lineIdStart = nIds;
    // ids: unsigned integers separated by single tabs
    if (sep > start) {
      let v = 0;
      let digits = 0;
      let fieldStart = start;
      for (let i = start; i <= sep; i++) {
        const c = i === sep ? 9 : b[i];
        if (c >= 48 && c <= 57) {
          v = v * 10 + (c - 48);
          digits++;
        } else if (c === 9 && digits > 0) {
          if (v > 65535) fail(src, `line ${lineNo}`, `expert id ${v} is too large; expected at most 65535`);
          ids[nIds++] = v;
          if (v > maxId) maxId = v;
          v = 0;
          digits = 0;
          fieldStart = i + 1;
        } else {
          let fe = b.indexOf(9, fieldStart);
          if (fe < 0 || fe > sep) fe = sep;
          const bad = b.toString('utf8', fieldStart, fe);
          fail(src, `line ${lineNo}`, `expected integer expert ids, got ${bad ? showText(bad) : '(empty field)'} in id ${nIds - lineIdStart + 1}`);
        }
      }
    }
    const lineW0 = nW;
    if (sep + 2 < lineEnd) {
      let fs = sep + 2;
      for (;;) {
        let fe = b.indexOf(9, fs);
        if (fe < 0 || fe > lineEnd) fe = lineEnd;
        const w = parseDecimal(b, fs, fe);
        if (!Number.isFinite(w)) {
          fail(src, `line ${lineNo}`, `expected a finite gate weight, got ${fe > fs ? showText(b.toString('utf8', fs, fe)) : '(empty field)'} in weight ${nW - lineW0 + 1}`);
        }
        weights[nW++] = w;
        if (fe >= lineEnd) break;
        fs = fe + 1;
      }
    }
    const cIds = nIds - lineIdStart;
    const cW = nW - lineW0;
    if (cIds !== cW) fail(src, `line ${lineNo}`, `${cIds} expert ids but ${cW} weights; expected one weight per id`);
    lineCounts.push(cIds);
    start = end + 1;
  }
  return { src, ids: ids.subarray(0, nIds), weights: weights.subarray(0, nW), lineCounts, maxId };
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** True when every consecutive group of k ids in every layer holds k distinct values. */
function groupsDistinct(layers: ParsedLayer[], k: number): boolean {
  for (const pl of layers) {
    const ids = pl.ids;
    for (let b = 0; b < ids.length; b += k) {
      for (let i = b + 1; i < b + k; i++) for (let j = b; j < i; j++) if (ids[i] === ids[j]) return false;
    }
  }
  return true;
}

function read(path: string, opts: ReadOptions): RawRead {
  const maxBytes = opts.maxBytes ?? defaultMaxBytes();
  const isDir = statSync(path).isDirectory();
  const sources = isDir ? layerSourcesFromDir(path, maxBytes) : layerSourcesFromArchive(path, maxBytes);
  sources.sort((a, b) => a.layer - b.layer);
  for (let i = 1; i < sources.length; i++) {
    if (sources[i].layer === sources[i - 1].layer) fail(sources[i], '', `two files for layer ${sources[i].layer}`);
  }
  const layers = sources.map(parseLayer);
  const ref = layers[0];
  const S = ref.lineCounts.length;
  for (const pl of layers) {
    if (pl.lineCounts.length !== S) {
      fail(pl.src, '', `has ${pl.lineCounts.length} lines but ${basename(ref.src.wherePrefix.trim() || ref.src.file)} has ${S}; line i of every layer file must be the same sequence`);
    }
    for (let s = 0; s < S; s++) {
      if (pl.lineCounts[s] !== ref.lineCounts[s]) {
        fail(pl.src, `line ${s + 1}`, `${pl.lineCounts[s]} expert ids but line ${s + 1} of ${basename(ref.src.wherePrefix.trim() || ref.src.file)} has ${ref.lineCounts[s]}; every layer must route the same tokens`);
      }
    }
  }
  let maxId = -1;
  for (const pl of layers) maxId = Math.max(maxId, pl.maxId);
  if (maxId < 0) throw new InputError(path, '', 'no routed tokens in any layer file');
  let E = maxId + 1;
  if (opts.numExperts !== undefined) {
    if (maxId >= opts.numExperts) {
      for (const pl of layers) {
        if (pl.maxId < opts.numExperts) continue;
        let off = 0;
        for (let s = 0; s < S; s++) {
          for (let j = 0; j < pl.lineCounts[s]; j++) {
            if (pl.ids[off + j] >= opts.numExperts) fail(pl.src, `line ${s + 1}`, `expert id ${pl.ids[off + j]} >= ${opts.numExperts} experts`);
          }
          off += pl.lineCounts[s];
        }
      }
    }
    E = opts.numExperts;
  }
  let k: number;
  if (opts.topK !== undefined) {
    k = opts.topK;
    for (let s = 0; s < S; s++) {
      if (ref.lineCounts[s] % k !== 0) fail(ref.src, `line ${s + 1}`, `${ref.lineCounts[s]} expert ids is not a multiple of k=${k}`);
    }
  } else {
    let g = 0;
    for (const c of ref.lineCounts) g = gcd(g, c);
    k = 0;
    for (let cand = Math.min(g, E); cand >= 1; cand--) {
      if (g % cand === 0 && groupsDistinct(layers, cand)) {
        k = cand;
        break;
      }
    }
  }
  const L = layers.length;
  const T = ref.ids.length / k;
  const seqStarts = new Uint32Array(S + 1);
  for (let s = 0; s < S; s++) seqStarts[s + 1] = seqStarts[s] + ref.lineCounts[s] / k;
  const experts = allocExpertIds(E, T * L * k);
  const weights = new Float32Array(T * L * k);
  const per = L * k;
  for (let l = 0; l < L; l++) {
    const { ids, weights: w } = layers[l];
    for (let t = 0; t < T; t++) {
      const dst = t * per + l * k;
      const src = t * k;
      for (let j = 0; j < k; j++) {
        experts[dst + j] = ids[src + j];
        weights[dst + j] = w[src + j];
      }
    }
  }
  const routes = makeTokenRoutes({
    meta: {
      layerIds: sources.map((s) => s.layer),
      topK: k,
      sources: [{ path, format: 'esft' }],
      extra: { sequences: S },
    },
    numLayers: L,
    numExperts: E,
    topK: k,
    experts,
    weights,
    seqStarts,
  });
  return { routes };
}

export const reader: TraceReader = {
  name: 'esft',
  description: 'DeepSeek ESFT routing dump: directory or .tgz of expert_weights_<layer>.txt (token level)',
  detect,
  read,
};
