/**
 * Rewrite a safetensors checkpoint so that the engines' default `linear` placement realises a plan
 * without replicas: in every MoE layer, new expert slot s holds old expert phy2log[s]. Per-expert
 * tensors are renamed-by-content (tensor `experts.s.*` gets the bytes of `experts.{phy2log[s]}.*`),
 * fused expert tensors and router rows ([E][...]) have their leading-dim rows permuted the same way;
 * every other tensor is copied byte for byte, shards with nothing to permute are hard-linked (copied
 * when a link is impossible), other files are linked too, and model.safetensors.index.json is
 * rewritten (tensor names keep their shards). Streaming: only headers are held in memory, bytes move
 * in 8 MiB chunks. Atomic: everything is written to a temp dir beside the output, checked, then
 * renamed. `ballast-reorder.json` records per layer new_to_old (= phy2log) and old_to_new.
 *
 * Shapes: plan.phy2log[L] Int32Array[E] (a permutation of 0..E-1 per layer).
 */
import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { InputError } from '../../core/errors.ts';
import type { Plan } from '../../core/plan.ts';
import { type ByteRange, FdCache, hashRanges, type OutputTensor, readSafetensorsHeader, type SafetensorsHeader, writeSafetensors } from '../safetensors/safetensors.ts';
import { classifyTensor, perExpertName } from './expert-tensors.ts';

export const INDEX_FILE = 'model.safetensors.index.json';
export const REORDER_FILE = 'ballast-reorder.json';

export interface ReorderOptions {
  checkpointDir: string;
  plan: Plan;
  outDir: string;
  /** Re-read the output and compare every tensor's SHA-256 with its source bytes. */
  verify?: boolean;
  /** Plan file path, recorded in ballast-reorder.json. */
  planPath?: string;
  warn?: (line: string) => void;
}

export interface LayerPermutation {
  /** Layer number in the checkpoint (model.layers.N). */
  checkpointLayer: number;
  /** Index of the layer in the plan, and its layer id there. */
  planLayer: number;
  planLayerId: number;
  new_to_old: number[];
  old_to_new: number[];
}

export interface ReorderResult {
  layers: LayerPermutation[];
  shardsRewritten: string[];
  shardsLinked: string[];
  tensorsPermuted: number;
  tensorsCopied: number;
  bytesWritten: number;
  /** Tensors whose hashes were compared (0 without --verify). */
  tensorsVerified: number;
}

interface Shard {
  file: string;
  header: SafetensorsHeader;
}

/** Inverse of a permutation. */
export function invertPermutation(p: ArrayLike<number>): number[] {
  const inv = new Array<number>(p.length);
  for (let i = 0; i < p.length; i++) inv[p[i]] = i;
  return inv;
}

/** Merge adjacent ranges of the same file. */
function mergeRanges(r: ByteRange[]): ByteRange[] {
  const out: ByteRange[] = [];
  for (const x of r) {
    const last = out[out.length - 1];
    if (last && last.file === x.file && last.start + last.length === x.start) last.length += x.length;
    else out.push({ ...x });
  }
  return out;
}

/** Plan layer -> checkpoint layer, by layer id when they match, else by order (with a warning). */
function mapLayers(plan: Plan, moeLayers: number[], warn: (s: string) => void): number[] {
  const set = new Set(moeLayers);
  if (plan.layerIds.every((id) => set.has(id)) && new Set(plan.layerIds).size === plan.layerIds.length) {
    const planned = new Set(plan.layerIds);
    const extra = moeLayers.filter((l) => !planned.has(l));
    if (extra.length > 0) warn(`checkpoint MoE layers ${extra.join(', ')} are not in the plan and are left as they are (e.g. a multi-token-prediction layer)`);
    return [...plan.layerIds];
  }
  if (plan.numLayers === moeLayers.length) {
    warn(`plan layer ids [${plan.layerIds.slice(0, 4).join(', ')}${plan.layerIds.length > 4 ? ', ...' : ''}] are not the checkpoint's MoE layer numbers; mapping plan layer i to the i-th MoE layer (${moeLayers[0]}..${moeLayers[moeLayers.length - 1]})`);
    return [...moeLayers];
  }
  throw new InputError(
    '--plan',
    'layerIds',
    `the plan has ${plan.numLayers} layers (ids ${plan.layerIds.join(',')}) but the checkpoint has ${moeLayers.length} MoE layers (${moeLayers.join(',')}); expected one plan layer per checkpoint MoE layer`,
  );
}

/**
 * Work out every output shard's tensors as byte ranges of the source shards. Pure over headers.
 * Returns, per shard, the output tensors and whether any differs from its source.
 */
export function planReorder(shards: Shard[], plan: Plan, warn: (s: string) => void): { perShard: { shard: Shard; tensors: OutputTensor[]; touched: boolean }[]; layers: LayerPermutation[]; permuted: number; copied: number } {
  const where = new Map<string, { shard: Shard; t: SafetensorsHeader['tensors'][number] }>();
  for (const s of shards) for (const t of s.header.tensors) {
    if (where.has(t.name)) throw new InputError(s.file, `key ${t.name}`, `tensor also in ${where.get(t.name)!.shard.file}`);
    where.set(t.name, { shard: s, t });
  }
  // Experts per layer, from per-expert names and fused leading dims.
  const expertIds = new Map<number, Set<number>>();
  const fusedE = new Map<number, number>();
  for (const { t } of where.values()) {
    const c = classifyTensor(t.name);
    if (c.kind === 'per-expert') {
      if (!expertIds.has(c.layer)) expertIds.set(c.layer, new Set());
      expertIds.get(c.layer)!.add(c.expert);
    } else if (c.kind === 'fused') fusedE.set(c.layer, t.shape[0] ?? 0);
  }
  const moeLayers = [...new Set([...expertIds.keys(), ...fusedE.keys()])].sort((a, b) => a - b);
  if (moeLayers.length === 0) throw new InputError(shards[0]?.file ?? '', '', 'no MoE expert tensors found (expected names like model.layers.N.mlp.experts.M.* or model.layers.N.block_sparse_moe.experts.M.*)');
  const E = plan.numExperts;
  for (const l of moeLayers) {
    const ids = expertIds.get(l);
    const n = ids ? ids.size : fusedE.get(l)!;
    if (n !== E || (ids && [...ids].some((e) => e >= E))) {
      throw new InputError('--plan', 'numExperts', `the plan is for ${E} experts but checkpoint layer ${l} has ${n} experts`);
    }
  }
  for (let l = 0; l < plan.numLayers; l++) {
    if (plan.phy2log[l].length !== E) {
      throw new InputError('--plan', `phy2log[${l}]`, `${plan.phy2log[l].length} slots for ${E} experts: reorder needs a plan without replicas (one slot per expert)`);
    }
  }
  const ckptOf = mapLayers(plan, moeLayers, warn);
  const permOf = new Map<number, Int32Array>();
  const layers: LayerPermutation[] = ckptOf.map((cl, l) => {
    permOf.set(cl, plan.phy2log[l]);
    return { checkpointLayer: cl, planLayer: l, planLayerId: plan.layerIds[l], new_to_old: Array.from(plan.phy2log[l]), old_to_new: invertPermutation(plan.phy2log[l]) };
  });
  let permuted = 0;
  let copied = 0;
  const perShard = shards.map((shard) => {
    let touched = false;
    const tensors: OutputTensor[] = shard.header.tensors.map((t) => {
      const own: ByteRange[] = [{ file: shard.file, start: t.start, length: t.end - t.start }];
      const c = classifyTensor(t.name);
      const perm = c.kind === 'other' ? undefined : permOf.get(c.layer);
      let pieces = own;
      if (perm && c.kind === 'per-expert') {
        const srcName = perExpertName(c.prefix, perm[c.expert], c.suffix);
        const src = where.get(srcName);
        if (!src) throw new InputError(shard.file, `key ${t.name}`, `its source ${srcName} is missing from the checkpoint`);
        if (src.t.dtype !== t.dtype || src.t.shape.join(',') !== t.shape.join(',')) {
          throw new InputError(src.shard.file, `key ${srcName}`, `is ${src.t.dtype} [${src.t.shape}] but ${t.name} is ${t.dtype} [${t.shape}]; experts of one layer must match`);
        }
        pieces = [{ file: src.shard.file, start: src.t.start, length: src.t.end - src.t.start }];
      } else if (perm && (c.kind === 'fused' || c.kind === 'router')) {
        if (t.shape[0] !== E) {
          if (c.kind === 'router') {
            copied++;
            return { name: t.name, dtype: t.dtype, shape: t.shape, pieces };
          }
          throw new InputError(shard.file, `key ${t.name}`, `fused expert tensor has leading dimension ${t.shape[0]}, expected ${E} experts`);
        }
        const row = (t.end - t.start) / E;
        pieces = mergeRanges(Array.from(perm, (old) => ({ file: shard.file, start: t.start + old * row, length: row })));
      }
      const same = pieces.length === 1 && pieces[0].file === shard.file && pieces[0].start === t.start;
      if (same) copied++;
      else {
        permuted++;
        touched = true;
      }
      return { name: t.name, dtype: t.dtype, shape: t.shape, pieces };
    });
    return { shard, tensors, touched };
  });
  return { perShard, layers, permuted, copied };
}

function linkOrCopy(src: string, dst: string): void {
  try {
    linkSync(src, dst);
  } catch {
    copyFileSync(src, dst);
  }
}

/** Rewrite the checkpoint; see the module comment. */
export function reorderCheckpoint(opts: ReorderOptions): ReorderResult {
  const warn = opts.warn ?? ((s: string) => process.stderr.write(`warning: ${s}\n`));
  const src = resolve(opts.checkpointDir);
  const out = resolve(opts.outDir);
  let st;
  try {
    st = statSync(src);
  } catch {
    throw new InputError(opts.checkpointDir, '', 'no such checkpoint directory');
  }
  if (!st.isDirectory()) throw new InputError(opts.checkpointDir, '', 'expected a checkpoint directory holding *.safetensors files');
  if (existsSync(out)) throw new InputError('--out', '', `${opts.outDir} already exists; choose a new directory`);
  if (out === src) throw new InputError('--out', '', 'the output must differ from the checkpoint directory');
  const names = readdirSync(src).sort();
  const shardNames = names.filter((n) => n.endsWith('.safetensors'));
  if (shardNames.length === 0) throw new InputError(opts.checkpointDir, '', 'no *.safetensors files in this directory');
  const shards: Shard[] = shardNames.map((n) => ({ file: join(src, n), header: readSafetensorsHeader(join(src, n)) }));
  let index: { metadata?: unknown; weight_map?: Record<string, string> } | undefined;
  if (names.includes(INDEX_FILE)) {
    try {
      index = JSON.parse(readFileSync(join(src, INDEX_FILE), 'utf8'));
    } catch {
      throw new InputError(join(src, INDEX_FILE), '', 'not valid JSON');
    }
    for (const [name, file] of Object.entries(index?.weight_map ?? {})) {
      const s = shards.find((x) => basename(x.file) === file);
      if (!s || !s.header.byName.has(name)) throw new InputError(join(src, INDEX_FILE), `key weight_map.${name}`, `names ${file}, which does not hold this tensor`);
    }
  }
  const { perShard, layers, permuted, copied } = planReorder(shards, opts.plan, warn);
  const tmp = join(dirname(out), `.${basename(out)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(tmp);
  const fds = new FdCache();
  const shardsRewritten: string[] = [];
  const shardsLinked: string[] = [];
  let bytesWritten = 0;
  let tensorsVerified = 0;
  try {
    for (const { shard, tensors, touched } of perShard) {
      const name = basename(shard.file);
      if (touched) {
        writeSafetensors(join(tmp, name), tensors, shard.header.metadata, fds);
        bytesWritten += statSync(join(tmp, name)).size;
        shardsRewritten.push(name);
      } else {
        linkOrCopy(shard.file, join(tmp, name));
        shardsLinked.push(name);
      }
    }
    for (const n of names) {
      if (n.endsWith('.safetensors') || n === INDEX_FILE || n === REORDER_FILE) continue;
      const p = join(src, n);
      if (statSync(p).isDirectory()) {
        warn(`${n}/ is a directory and was not carried over`);
        continue;
      }
      linkOrCopy(p, join(tmp, n));
    }
    if (index) writeFileSync(join(tmp, INDEX_FILE), `${JSON.stringify(index, null, 2)}\n`);
    const record = { format: 'ballast-reorder', version: 1, source: src, plan: opts.planPath ?? null, numExperts: opts.plan.numExperts, layers };
    writeFileSync(join(tmp, REORDER_FILE), `${JSON.stringify(record, null, 1)}\n`);
    // Check the output: headers always; every tensor's bytes with --verify.
    const buf = Buffer.allocUnsafe(8 * 1024 * 1024);
    for (const { shard, tensors, touched } of perShard) {
      const name = basename(shard.file);
      const outFile = join(tmp, name);
      const h = readSafetensorsHeader(outFile);
      if (h.tensors.length !== tensors.length) throw new Error(`reorder wrote ${h.tensors.length} tensors to ${name}, expected ${tensors.length}`);
      const sameFile = !touched && statSync(outFile).ino === statSync(shard.file).ino;
      for (const t of tensors) {
        const o = h.byName.get(t.name);
        if (!o || o.dtype !== t.dtype || o.shape.join(',') !== t.shape.join(',')) throw new Error(`reorder output ${name}: tensor ${t.name} has the wrong header entry`);
        if (opts.verify && !sameFile) {
          const a = hashRanges([{ file: outFile, start: o.start, length: o.end - o.start }], fds, buf);
          const b = hashRanges(t.pieces, fds, buf);
          if (a !== b) throw new Error(`verification failed: ${name} tensor ${t.name} does not match its source bytes`);
          tensorsVerified++;
        } else if (opts.verify) tensorsVerified++;
      }
    }
    fds.closeAll();
    renameSync(tmp, out);
  } catch (e) {
    fds.closeAll();
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return { layers, shardsRewritten, shardsLinked, tensorsPermuted: permuted, tensorsCopied: copied, bytesWritten, tensorsVerified };
}
