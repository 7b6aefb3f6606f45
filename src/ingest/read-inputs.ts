/**
 * Several inputs given together (`ballast analyze a.csv b.csv`): read each, check their shapes agree,
 * and optionally merge them into one trace.
 */
import { InputError } from '../core/errors.ts';
import { makeLoadTrace, type LoadTrace, type WindowInfo } from '../core/load-trace.ts';
import type { ReadOptions } from './reader.ts';
import { type InputData, readInput } from './readers.ts';

/**
 * Read every path (format auto-detected unless `opts.format`), in order. Throws
 * InputError(laterFile, '', 'shape 26x64 differs from <first> 27x64') when a later input's
 * layers x experts differ from the first one's. Returns one InputData per path.
 */
export async function readInputs(paths: string[], opts: ReadOptions & { format?: string } = {}): Promise<InputData[]> {
  if (paths.length === 0) throw new InputError('', '', 'no input given; expected at least one trace file');
  const out: InputData[] = [];
  for (const p of paths) {
    const d = await readInput(p, opts);
    const first = out[0];
    if (first && (d.load.numLayers !== first.load.numLayers || d.load.numExperts !== first.load.numExperts)) {
      throw new InputError(
        p,
        '',
        `shape ${d.load.numLayers}x${d.load.numExperts} differs from ${first.path} ${first.load.numLayers}x${first.load.numExperts}`,
      );
    }
    out.push(d);
  }
  return out;
}

/**
 * Concatenate the windows of same-shape inputs, in input order: [W1+W2+...][L][E]. Meta comes from
 * the first input, with `sources` listing every input's sources and `model`/`topK`/`phase` kept only
 * when all inputs agree. Layer ids must agree too. Token routes are not merged (returns load only).
 */
export function mergeInputs(inputs: InputData[]): LoadTrace {
  if (inputs.length === 0) throw new InputError('', '', 'no input to merge');
  const first = inputs[0].load;
  const per = first.numLayers * first.numExperts;
  let W = 0;
  for (const d of inputs) {
    const t = d.load;
    if (t.numLayers !== first.numLayers || t.numExperts !== first.numExperts) {
      throw new InputError(d.path, '', `shape ${t.numLayers}x${t.numExperts} differs from ${inputs[0].path} ${first.numLayers}x${first.numExperts}`);
    }
    if (t.meta.layerIds.some((id, i) => id !== first.meta.layerIds[i])) {
      throw new InputError(d.path, '', `layer ids [${t.meta.layerIds.join(',')}] differ from ${inputs[0].path} [${first.meta.layerIds.join(',')}]`);
    }
    W += t.numWindows;
  }
  const counts = new Float64Array(W * per);
  const windows: WindowInfo[] = [];
  let off = 0;
  for (const d of inputs) {
    counts.set(d.load.counts, off);
    off += d.load.counts.length;
    windows.push(...d.load.windows);
  }
  const same = <K extends 'model' | 'topK' | 'phase'>(k: K) => {
    const v = first.meta[k];
    return inputs.every((d) => d.load.meta[k] === v) ? v : undefined;
  };
  const meta = {
    ...first.meta,
    model: same('model'),
    topK: same('topK'),
    phase: same('phase'),
    sources: inputs.flatMap((d) => d.load.meta.sources),
  };
  return makeLoadTrace(meta, first.numLayers, first.numExperts, counts, windows);
}
