/**
 * `loadCluster(spec)`: a preset name (see presets.ts), `discover` (this host, via nvidia-smi or rocm-smi), or a path
 * to a cluster JSON file (cluster-json.ts). Returns a validated Cluster.
 */
import { readFileSync } from 'node:fs';
import type { Cluster } from '../../core/cluster.ts';
import { InputError } from '../../core/errors.ts';
import { parseClusterJson } from './cluster-json.ts';
import { discoverCluster } from './discover.ts';
import { CLUSTER_PRESETS, PRESET_NAMES } from './presets.ts';

/** The named preset as a Cluster, or undefined when there is no such preset. */
export function presetCluster(name: string): Cluster | undefined {
  const spec = CLUSTER_PRESETS[name];
  return spec ? parseClusterJson(spec, `preset ${name}`) : undefined;
}

export function loadCluster(spec: string): Cluster {
  const preset = presetCluster(spec);
  if (preset) return preset;
  if (spec === 'discover') {
    const c = discoverCluster();
    if (!c) throw new InputError('--cluster discover', '', 'neither nvidia-smi nor rocm-smi is available on this host (or they list no GPUs); pass a preset or a cluster JSON file');
    return c;
  }
  let text: string;
  try {
    text = readFileSync(spec, 'utf8');
  } catch {
    throw new InputError('--cluster', '', `"${spec}" is neither a preset (${PRESET_NAMES.join(', ')}), "discover", nor a readable cluster JSON file`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new InputError(spec, '', `not valid JSON (${(e as Error).message}); expected a cluster description`);
  }
  return parseClusterJson(json, spec);
}
