/**
 * Live terminal view of a capture session: per-layer imbalance bars from a collector snapshot.
 * `renderWatch` is pure (snapshot -> text); `ballast watch` refreshes it.
 */
import { type CollectorSnapshot, rowImbalance } from '../capture/collector.ts';
import { bar, colors, fmt } from './term.ts';

export interface WatchOptions {
  /** Columns available (default 100). */
  width?: number;
  color?: boolean;
  /** Now in ms since epoch (for the "updated N s ago" line). */
  now?: number;
  /** Show at most this many layers (the most imbalanced first when cut). Default all. */
  maxLayers?: number;
}

/** Which ranks' agents reported, as a count and the ids: "1 agent (rank 0)", "2 agents (ranks 0,1)". */
export function agentRanks(ranks: (number | null)[]): string {
  if (ranks.length === 0) return 'no agents yet';
  const ids = ranks.map((r) => (r === null ? '?' : String(r))).join(',');
  return ranks.length === 1 ? `1 agent (rank ${ids})` : `${ranks.length} agents (ranks ${ids})`;
}

/** Render one frame. Returns text ending in a newline. */
export function renderWatch(s: CollectorSnapshot, opts: WatchOptions = {}): string {
  const c = colors();
  const paint = opts.color ?? false;
  const bold = (t: string) => (paint ? c.bold(t) : t);
  const tone = (v: number, t: string) => (!paint ? t : v >= 2 ? c.red(t) : v >= 1.3 ? c.yellow(t) : c.green(t));
  const width = Math.max(40, opts.width ?? 100);
  const now = opts.now ?? Date.now();
  const lines: string[] = [];
  const age = s.lastUpdateMs !== null ? `${Math.max(0, (now - s.lastUpdateMs) / 1000).toFixed(1)} s ago` : 'never';
  lines.push(bold(`ballast session ${s.session || '-'}`) + `  model ${s.model ?? '-'}  ${s.layers} layers x ${s.experts} experts${s.topK ? `, top-${s.topK}` : ''}`);
  lines.push(
    `windows ${s.windowsMerged} (${s.windowsReceived} from agents, ${s.droppedWindows} dropped)  tokens ${s.tokens}  ${agentRanks(s.ranks.map((r) => r.rank))}  updated ${age}` +
      (s.writeError ? `  TRACE NOT WRITTEN: ${s.writeError}` : ''),
  );
  if (s.layers === 0) {
    lines.push('', 'waiting for the first window...');
    return lines.join('\n') + '\n';
  }
  const total = s.totals.map(rowImbalance);
  const last = s.lastWindow?.layerImbalance ?? [];
  let idx = s.layerIds.map((_, i) => i);
  if (opts.maxLayers !== undefined && idx.length > opts.maxLayers) {
    idx = [...idx].sort((a, b) => total[b] - total[a]).slice(0, opts.maxLayers).sort((a, b) => a - b);
  }
  const maxV = Math.max(1, ...total, ...last);
  const label = Math.max(5, ...s.layerIds.map((id) => `L${id}`.length));
  const barW = Math.max(10, width - label - 26);
  lines.push('', `${'layer'.padEnd(label)}  max/mean  last win  ${'(bar: max/mean since start, 1.0 = balanced)'}`);
  for (const i of idx) {
    const v = total[i];
    const lv = last[i];
    lines.push(`${`L${s.layerIds[i]}`.padEnd(label)}  ${tone(v, fmt(v).padStart(8))}  ${fmt(lv).padStart(8)}  ${tone(v, bar(v, maxV, barW))}`);
  }
  if (idx.length < s.layerIds.length) lines.push(`(${s.layerIds.length - idx.length} more layers; the ${idx.length} most imbalanced shown)`);
  return lines.join('\n') + '\n';
}
