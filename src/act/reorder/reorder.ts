/**
 * Rewrite a safetensors checkpoint so that the engines' default `linear` placement realises a plan
 * without replicas: in every MoE layer, new expert slot s holds old expert phy2log[s], and the model
 * computes the same function, or nothing is written.
 *
 * - config.json says how the model routes (model-routing.ts); a plan that would change the function
 *   (experts moved across the groups of group-limited routing, hash-routed layers moved) is refused,
 *   naming the layer and the groups (constraints.ts).
 * - Every tensor indexed by expert in a permuted layer is permuted (expert-tensors.ts): per-expert
 *   tensors are renamed-by-content (`experts.s.*` gets the bytes of `experts.{phy2log[s]}.*`), fused
 *   expert tensors have their leading rows permuted, router weights / biases / correction biases /
 *   quantized routers are permuted along their expert axis (router-permute.ts). A tensor of the MoE
 *   block reorder does not recognise, or a permuted layer without a router, is refused.
 * - Every other tensor is copied byte for byte, shards with nothing to permute are hard-linked
 *   (copied when a link is impossible), other files are linked too, model.safetensors.index.json is
 *   rewritten (tensor names keep their shards). Streaming: only headers and routers are held in
 *   memory, bytes move in 8 MiB chunks.
 * - Atomic and clean: everything is written to `.OUT.tmp-<pid>-<hex>` beside the output, fsynced
 *   (files, then the directory), checked, then renamed (and the parent fsynced). SIGINT / SIGTERM
 *   remove the temp dir; temp dirs of dead processes are removed by the next run.
 * - `verify`: every tensor's SHA-256 against its source bytes, and for every permuted layer the
 *   router's choices on random inputs before vs after (verify-routing.ts).
 * `ballast-reorder.json` records per layer new_to_old (= phy2log) and old_to_new.
 *
 * Shapes: plan.phy2log[L] Int32Array[E] (a permutation of 0..E-1 per layer).
 */
import { closeSync, copyFileSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { InputError } from '../../core/errors.ts';
import type { Plan } from '../../core/plan.ts';
import { type ByteRange, FdCache, hashRanges, type OutputTensor, type Piece, readBytes, readSafetensorsHeader, type SafetensorsHeader, type TensorInfo, writeSafetensorsAsync } from '../safetensors/safetensors.ts';
import { isIdentity, permutationProblem } from './constraints.ts';
import { classifyTensor, perExpertName, type RouterRole } from './expert-tensors.ts';
import { type ModelRouting, readModelRouting } from './model-routing.ts';
import { routerPermuter } from './router-permute.ts';
import { checkRouting, decodeFloats, dequantRouter, type FloatRouter, transpose } from './verify-routing.ts';

export const INDEX_FILE = 'model.safetensors.index.json';
export const REORDER_FILE = 'ballast-reorder.json';

export interface ReorderOptions {
  checkpointDir: string;
  plan: Plan;
  outDir: string;
  /** Re-read the output: every tensor's SHA-256 against its source bytes, and each router's choices. */
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
  /** config.json's routing, in one line. */
  routing: string;
  layers: LayerPermutation[];
  shardsRewritten: string[];
  shardsLinked: string[];
  tensorsPermuted: number;
  tensorsCopied: number;
  bytesWritten: number;
  /** Tensors whose hashes were compared (0 without --verify). */
  tensorsVerified: number;
  /** Layers whose router choices were checked on random inputs (--verify). */
  layersRouteChecked: number;
  /** Permuted layers whose router could not be routed here (a quantized form it cannot decode, or every input a tie), checked by bytes only. */
  layersRouteUnchecked: number[];
  /** Temp dirs of dead earlier runs that were removed. */
  staleRemoved: string[];
}

interface Shard {
  file: string;
  header: SafetensorsHeader;
}

/** Where a permuted layer's router tensors are, for --verify. */
interface RouterRefs {
  layer: number;
  oldToNew: number[];
  weight?: string;
  bias?: string;
  correction?: string;
  quantized: boolean;
  /** Packed router tensors (qweight, qzeros, scales, g_idx). */
  packed: Partial<Record<RouterRole, string>>;
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

/**
 * Plan layer -> checkpoint layer (undefined: a plan row for a layer without experts, e.g. the dense
 * rows of an SGLang map over all decoder layers; allowed only as the identity). By layer id when they
 * match, else by order (with a warning).
 */
function mapLayers(plan: Plan, moeLayers: number[], warn: (s: string) => void): (number | undefined)[] {
  const set = new Set(moeLayers);
  const unique = new Set(plan.layerIds).size === plan.layerIds.length;
  const notMoe = plan.layerIds.map((id, l) => (set.has(id) ? -1 : l)).filter((l) => l >= 0);
  const denseIdentity = notMoe.every((l) => isIdentity(plan.phy2log[l]));
  if (unique && notMoe.length < plan.numLayers && denseIdentity) {
    const planned = new Set(plan.layerIds);
    const extra = moeLayers.filter((l) => !planned.has(l));
    if (extra.length > 0) warn(`checkpoint MoE layers ${extra.join(', ')} are not in the plan and are left as they are (e.g. a multi-token-prediction layer)`);
    if (notMoe.length > 0) warn(`plan rows for layers ${notMoe.map((l) => plan.layerIds[l]).join(', ')} (no experts in the checkpoint, identity in the plan) are skipped`);
    return plan.layerIds.map((id) => (set.has(id) ? id : undefined));
  }
  if (unique && notMoe.length < plan.numLayers && plan.numLayers !== moeLayers.length) {
    const l = notMoe.find((x) => !isIdentity(plan.phy2log[x]))!;
    throw new InputError('--plan', `phy2log[${l}]`, `the plan moves experts of layer ${plan.layerIds[l]}, which has no experts in the checkpoint (MoE layers ${moeLayers.join(',')}); is the plan for another model?`);
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
 * Work out every output shard's tensors as byte ranges of the source shards (routers as computed
 * bytes). Refuses (InputError) anything it cannot carry out exactly.
 */
export function planReorder(
  shards: Shard[],
  plan: Plan,
  routing: ModelRouting,
  fds: FdCache,
  warn: (s: string) => void,
): { perShard: { shard: Shard; tensors: OutputTensor[]; touched: boolean }[]; layers: LayerPermutation[]; permuted: number; copied: number; routers: RouterRefs[] } {
  const where = new Map<string, { shard: Shard; t: TensorInfo }>();
  for (const s of shards) for (const t of s.header.tensors) {
    if (where.has(t.name)) throw new InputError(s.file, `key ${t.name}`, `tensor also in ${where.get(t.name)!.shard.file}`);
    where.set(t.name, { shard: s, t });
  }
  // Experts per MoE block, from per-expert names and fused leading dims.
  const expertIds = new Map<string, Set<number>>();
  const fusedE = new Map<string, number>();
  const blockLayer = new Map<string, number>();
  for (const { t } of where.values()) {
    const c = classifyTensor(t.name);
    if (c.kind === 'per-expert') {
      if (!expertIds.has(c.block)) expertIds.set(c.block, new Set());
      expertIds.get(c.block)!.add(c.expert);
      blockLayer.set(c.block, c.layer);
    } else if (c.kind === 'fused') {
      fusedE.set(c.block, t.shape[0] ?? 0);
      blockLayer.set(c.block, c.layer);
    }
  }
  const blockOf = new Map<number, string>();
  for (const [b, l] of blockLayer) {
    if (blockOf.has(l)) throw new InputError(where.values().next().value!.shard.file, '', `two MoE blocks carry layer number ${l} (${blockOf.get(l)}, ${b}); reorder cannot tell which one the plan means`);
    blockOf.set(l, b);
  }
  const moeLayers = [...blockOf.keys()].sort((a, b) => a - b);
  if (moeLayers.length === 0) throw new InputError(shards[0]?.file ?? '', '', 'no MoE expert tensors found (expected names like model.layers.N.mlp.experts.M.* or model.layers.N.block_sparse_moe.experts.M.*)');
  const E = plan.numExperts;
  if (E !== routing.numExperts) throw new InputError('--plan', 'numExperts', `the plan is for ${E} experts but ${routing.file} says ${routing.numExperts}; is the plan for another model?`);
  for (const l of moeLayers) {
    const b = blockOf.get(l)!;
    const ids = expertIds.get(b);
    const n = ids ? ids.size : fusedE.get(b)!;
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
  const layers: LayerPermutation[] = [];
  ckptOf.forEach((cl, l) => {
    if (cl === undefined) return;
    const problem = permutationProblem(cl, plan.phy2log[l], routing.layer(cl));
    if (problem) throw new InputError('--plan', `phy2log[${l}]`, problem);
    if (!isIdentity(plan.phy2log[l])) permOf.set(cl, plan.phy2log[l]);
    layers.push({ checkpointLayer: cl, planLayer: l, planLayerId: plan.layerIds[l], new_to_old: Array.from(plan.phy2log[l]), old_to_new: invertPermutation(plan.phy2log[l]) });
  });
  const routers = new Map<number, RouterRefs>();
  for (const [cl, p] of permOf) routers.set(cl, { layer: cl, oldToNew: invertPermutation(p), quantized: false, packed: {} });
  const refuse = (shard: Shard, name: string, why: string): never => {
    throw new InputError(shard.file, `key ${name}`, why);
  };
  let permuted = 0;
  let copied = 0;
  const perShard = shards.map((shard) => {
    let touched = false;
    const tensors: OutputTensor[] = shard.header.tensors.map((t) => {
      const own: ByteRange[] = [{ file: shard.file, start: t.start, length: t.end - t.start }];
      const c = classifyTensor(t.name);
      const perm = c.kind !== 'other' && blockOf.get(c.layer) === c.block ? permOf.get(c.layer) : undefined;
      let pieces: Piece[] = own;
      if (perm && c.kind === 'per-expert') {
        const srcName = perExpertName(c.prefix, perm[c.expert], c.suffix);
        const src = where.get(srcName);
        if (!src) refuse(shard, t.name, `its source ${srcName} is missing from the checkpoint`);
        if (src!.t.dtype !== t.dtype || src!.t.shape.join(',') !== t.shape.join(',')) {
          throw new InputError(src!.shard.file, `key ${srcName}`, `is ${src!.t.dtype} [${src!.t.shape}] but ${t.name} is ${t.dtype} [${t.shape}]; experts of one layer must match`);
        }
        pieces = [{ file: src!.shard.file, start: src!.t.start, length: src!.t.end - src!.t.start }];
      } else if (perm && c.kind === 'fused') {
        if (t.shape[0] !== E) refuse(shard, t.name, `fused expert tensor has leading dimension ${t.shape[0]}, expected ${E} experts`);
        const row = (t.end - t.start) / E;
        pieces = mergeRanges(Array.from(perm, (old) => ({ file: shard.file, start: t.start + old * row, length: row })));
      } else if (perm && c.kind === 'router') {
        let how: ReturnType<typeof routerPermuter>;
        try {
          how = routerPermuter(t, c.role, E, routing.hiddenSize, routing.quant);
        } catch (e) {
          return refuse(shard, t.name, `router of layer ${c.layer}: ${(e as Error).message}; reorder will not guess`);
        }
        if (how !== 'copy') pieces = [{ data: how(readBytes(shard.file, t.start, t.end - t.start, fds), perm) }];
        const ref = routers.get(c.layer)!;
        noteRouter(ref, c.role, t.name);
      } else if (perm && c.kind === 'moe-other') {
        refuse(shard, t.name, `layer ${c.layer}'s MoE block holds a tensor reorder does not recognise (not an expert, router or shared-expert tensor); it may be indexed by expert, so reorder will not permute the layer`);
      } else if (perm && c.kind === 'hash-table') {
        refuse(shard, t.name, `layer ${c.layer} routes by a token-id table; its experts cannot move`);
      }
      const p0 = pieces[0];
      const same = pieces.length === 1 && !('data' in p0) && p0.file === shard.file && p0.start === t.start;
      if (same) copied++;
      else {
        permuted++;
        touched = true;
      }
      return { name: t.name, dtype: t.dtype, shape: t.shape, pieces };
    });
    return { shard, tensors, touched };
  });
  for (const r of routers.values()) {
    if (r.weight === undefined && !r.quantized) {
      throw new InputError(shards[0].file, `layer ${r.layer}`, `no router found in ${blockOf.get(r.layer)} (expected gate.weight, gate.wg.weight, router.weight or a quantized gate.qweight); the plan permutes this layer, so its router must be permuted too`);
    }
  }
  return { perShard, layers, permuted, copied, routers: [...routers.values()] };
}

function noteRouter(ref: RouterRefs, role: RouterRole, name: string): void {
  if (role === 'weight') ref.weight = name;
  else if (role === 'bias') ref.bias = name;
  else if (role === 'correction') ref.correction = name;
  else ref.packed[role] = name;
  if (role === 'qweight') ref.quantized = true;
}

function linkOrCopy(src: string, dst: string): void {
  try {
    linkSync(src, dst);
  } catch {
    copyFileSync(src, dst);
    fsyncPath(dst);
  }
}

function fsyncPath(p: string): void {
  const fd = openSync(p, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function writeDurable(path: string, text: string): void {
  const fd = openSync(path, 'w');
  try {
    const b = Buffer.from(text, 'utf8');
    let w = 0;
    while (w < b.length) w += writeSync(fd, b, w, b.length - w);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Is a process with this pid alive (or not ours to signal)? */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Temp dir name prefix of `out`, and the stale ones (dead pids) beside it, removed. */
export function removeStaleTemps(out: string): string[] {
  const dir = dirname(out);
  const prefix = `.${basename(out)}.tmp-`;
  const removed: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return removed;
  }
  for (const n of names) {
    if (!n.startsWith(prefix)) continue;
    const m = /^(\d+)-[0-9a-f]+$/.exec(n.slice(prefix.length));
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || pidAlive(pid)) continue;
    rmSync(join(dir, n), { recursive: true, force: true });
    removed.push(join(dir, n));
  }
  return removed;
}

function readRouter(refs: RouterRefs, file: (name: string) => { file: string; t: TensorInfo }, fds: FdCache, E: number, quant: ModelRouting['quant']): FloatRouter | undefined {
  const raw = (name: string) => {
    const { file: f, t } = file(name);
    return { bytes: readBytes(f, t.start, t.end - t.start, fds), shape: t.shape, dtype: t.dtype };
  };
  const get = (name: string | undefined) => {
    if (!name) return undefined;
    const r = raw(name);
    const v = decodeFloats(r.bytes, r.dtype);
    return v ? { v, t: r } : undefined;
  };
  let weight: Float64Array | undefined;
  if (refs.quantized) {
    const { qweight, qzeros, scales, g_idx: gIdx } = refs.packed;
    const method = quant?.method;
    if (!qweight || !qzeros || !scales || (method !== 'gptq' && method !== 'awq') || !quant?.bits) return undefined;
    weight = dequantRouter(method, quant.bits, E, raw(qweight), raw(qzeros), raw(scales), gIdx ? raw(gIdx) : undefined);
  } else {
    const w = get(refs.weight);
    if (w) weight = w.t.shape[0] === E ? w.v : transpose(w.v, w.t.shape[0], E);
  }
  if (!weight) return undefined;
  const bias = get(refs.bias);
  const corr = get(refs.correction);
  if ((refs.bias && !bias) || (refs.correction && !corr)) return undefined;
  return { weight, bias: bias?.v, correction: corr?.v };
}

/** Rewrite the checkpoint; see the module comment. */
export async function reorderCheckpoint(opts: ReorderOptions): Promise<ReorderResult> {
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
  const routing = readModelRouting(src);
  const staleRemoved = removeStaleTemps(out);
  for (const s of staleRemoved) warn(`removed ${s}, left by an earlier reorder that did not finish`);
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
  const fds = new FdCache();
  let planned;
  // Warnings are said only once the plan is accepted: a refusal is one line.
  const held: string[] = [];
  try {
    planned = planReorder(shards, opts.plan, routing, fds, (s) => held.push(s));
  } catch (e) {
    fds.closeAll();
    throw e;
  }
  for (const s of held) warn(s);
  const { perShard, layers, permuted, copied, routers } = planned;
  const tmp = join(dirname(out), `.${basename(out)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(tmp);
  const onSignal = (sig: NodeJS.Signals) => {
    fds.closeAll();
    rmSync(tmp, { recursive: true, force: true });
    process.stderr.write(`ballast: reorder interrupted (${sig}); removed ${tmp}, nothing written\n`);
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const shardsRewritten: string[] = [];
  const shardsLinked: string[] = [];
  let bytesWritten = 0;
  let tensorsVerified = 0;
  let layersRouteChecked = 0;
  const layersRouteUnchecked: number[] = [];
  const stallMs = Number(process.env.BALLAST_REORDER_TEST_STALL_MS ?? 0);
  try {
    for (const { shard, tensors, touched } of perShard) {
      const name = basename(shard.file);
      if (touched) {
        await writeSafetensorsAsync(join(tmp, name), tensors, shard.header.metadata, fds);
        bytesWritten += statSync(join(tmp, name)).size;
        shardsRewritten.push(name);
      } else {
        linkOrCopy(shard.file, join(tmp, name));
        shardsLinked.push(name);
      }
      if (stallMs > 0) {
        // Test hook (reorder.test.ts): hold the temp dir open so a test can signal or kill us.
        process.stderr.write(`reorder: writing in ${tmp}\n`);
        await new Promise((r) => setTimeout(r, stallMs));
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
    if (index) writeDurable(join(tmp, INDEX_FILE), `${JSON.stringify(index, null, 2)}\n`);
    const record = { format: 'ballast-reorder', version: 1, source: src, plan: opts.planPath ?? null, numExperts: opts.plan.numExperts, routing: routing.describe(), layers };
    writeDurable(join(tmp, REORDER_FILE), `${JSON.stringify(record, null, 1)}\n`);
    // Check the output: headers always; every tensor's bytes and every permuted router's choices with --verify.
    const buf = Buffer.allocUnsafe(8 * 1024 * 1024);
    const outHeaders = new Map<string, SafetensorsHeader>();
    for (const { shard, tensors, touched } of perShard) {
      const name = basename(shard.file);
      const outFile = join(tmp, name);
      const h = readSafetensorsHeader(outFile);
      outHeaders.set(name, h);
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
    if (opts.verify) {
      const E = opts.plan.numExperts;
      const inSrc = (n: string) => {
        for (const s of shards) {
          const t = s.header.byName.get(n);
          if (t) return { file: s.file, t };
        }
        throw new Error(`router tensor ${n} vanished`);
      };
      const inOut = (n: string) => {
        const s = inSrc(n);
        const name = basename(s.file);
        return { file: join(tmp, name), t: outHeaders.get(name)!.byName.get(n)! };
      };
      for (const r of routers) {
        const before = readRouter(r, inSrc, fds, E, routing.quant);
        const after = readRouter(r, inOut, fds, E, routing.quant);
        if (!before || !after) {
          layersRouteUnchecked.push(r.layer);
          continue;
        }
        const H = before.weight.length / E;
        const { problem, checked } = checkRouting(before, after, r.oldToNew, E, H, routing.scoring, routing.layer(r.layer));
        if (problem) throw new Error(`verification failed: layer ${r.layer} routes differently after the rewrite (${problem})`);
        if (checked === 0) layersRouteUnchecked.push(r.layer);
        else layersRouteChecked++;
      }
    }
    fds.closeAll();
    fsyncPath(tmp);
    renameSync(tmp, out);
    fsyncPath(dirname(out));
  } catch (e) {
    fds.closeAll();
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  return {
    routing: routing.describe(),
    layers,
    shardsRewritten,
    shardsLinked,
    tensorsPermuted: permuted,
    tensorsCopied: copied,
    bytesWritten,
    tensorsVerified,
    layersRouteChecked,
    layersRouteUnchecked,
    staleRemoved,
  };
}
