/**
 * Merging the windows of several agent processes (ranks) into one sequence of windows.
 *
 * Every incoming window is added to the open merged window (one accumulator per phase). The open
 * window is emitted as soon as every active sender has contributed to it, or when it has been open
 * for `graceMs` (a slow or dead rank never holds the others back). Counts are never dropped or
 * counted twice: a late window simply lands in the next merged window.
 *
 * Tensor-parallel replicas (tpRank > 0) route the same tokens as their tpRank-0 peer, so they are not
 * added (otherwise TP=8 would count every token 8 times); the collector still reports their per-rank totals.
 * Under sequence-parallel MoE (vLLM `use_sequence_parallel_moe`) each TP rank routes its own chunk of the
 * tokens, so every TP rank is added (`isReplica`). Data-parallel ranks route different tokens: all added.
 */
import type { Phase } from '../core/load-trace.ts';
import type { AgentWindow } from './protocol.ts';

export interface MergedWindow {
  /** 0, 1, 2, ... in emission order. */
  index: number;
  /** Largest step of the contributing windows. */
  step?: number;
  timeMs: number;
  phase?: Phase;
  /** Tokens (as seen by the first MoE layer) in the merged window. */
  tokens: number;
  /** Ranks that contributed. */
  ranks: number[];
  /** [L][E] row-major. */
  counts: Float64Array;
}

interface Acc {
  phase?: Phase;
  counts: Float64Array;
  tokens: number;
}

interface SenderState {
  lastSeenMs: number;
  flushMs: number;
  final: boolean;
}

/** True when the window repeats tp_rank 0's routing (plain TP), so adding it would count tokens twice. */
export function isReplica(w: AgentWindow): boolean {
  return w.tpRank !== null && w.tpRank > 0 && !w.sequenceParallel && !w.sumRanks;
}

/** Identity of one agent process. */
export function senderKey(w: AgentWindow): string {
  return `${w.host}/${w.pid}/${w.rank}`;
}

export class WindowMerger {
  private readonly onWindow: (w: MergedWindow) => void;
  private readonly now: () => number;
  private readonly size: number;
  private accs = new Map<string, Acc>();
  private contributors = new Set<string>();
  private ranks = new Set<number>();
  private step: number | undefined;
  private timeMs = 0;
  private openedAt: number | undefined;
  private senders = new Map<string, SenderState>();
  private nextIndex = 0;

  /** @param size L*E of every window. */
  constructor(size: number, onWindow: (w: MergedWindow) => void, now: () => number = Date.now) {
    this.size = size;
    this.onWindow = onWindow;
    this.now = now;
  }

  /** Add one agent window (already shape-checked). Emits when every active sender has contributed. */
  add(w: AgentWindow): void {
    const now = this.now();
    const key = senderKey(w);
    if (isReplica(w)) return;
    this.senders.set(key, { lastSeenMs: now, flushMs: w.flushMs, final: w.final });
    let any = false;
    for (const p of w.parts) {
      const pk = p.phase ?? '';
      let acc = this.accs.get(pk);
      if (!acc) {
        acc = { phase: p.phase, counts: new Float64Array(this.size), tokens: 0 };
        this.accs.set(pk, acc);
      }
      for (let i = 0; i < this.size; i++) acc.counts[i] += p.counts[i];
      acc.tokens += p.tokens;
      any = true;
    }
    if (any) {
      if (this.openedAt === undefined) this.openedAt = now;
      this.contributors.add(key);
      this.ranks.add(w.rank);
      if (w.step !== undefined) this.step = this.step === undefined ? w.step : Math.max(this.step, w.step);
      this.timeMs = Math.max(this.timeMs, w.timeMs);
    }
    if (this.openedAt !== undefined && this.allContributed(now)) this.flush();
  }

  /** Senders heard from recently that have not said they finished. */
  private activeSenders(now: number): string[] {
    const out: string[] = [];
    for (const [k, s] of this.senders) {
      if (s.final) continue;
      if (now - s.lastSeenMs > Math.max(5000, 3 * s.flushMs)) continue;
      out.push(k);
    }
    return out;
  }

  private allContributed(now: number): boolean {
    for (const k of this.activeSenders(now)) if (!this.contributors.has(k)) return false;
    return true;
  }

  /** Emit the open window when it has waited long enough (call periodically). */
  tick(graceMs?: number): void {
    if (this.openedAt === undefined) return;
    let flushMs = 0;
    for (const s of this.senders.values()) flushMs = Math.max(flushMs, s.flushMs);
    const grace = graceMs ?? Math.max(250, 1.5 * flushMs);
    if (this.now() - this.openedAt >= grace) this.flush();
  }

  /** The open (not yet emitted) window, per phase in emission order; undefined when none is open. For the collector's journal. */
  openWindow(): { step?: number; timeMs: number; ranks: number[]; parts: { phase?: Phase; tokens: number; counts: Float64Array }[] } | undefined {
    if (this.openedAt === undefined) return undefined;
    const parts = ['prefill', 'decode', 'mixed', ''].flatMap((pk) => {
      const a = this.accs.get(pk);
      return a ? [{ phase: a.phase, tokens: a.tokens, counts: a.counts }] : [];
    });
    return { step: this.step, timeMs: this.timeMs, ranks: [...this.ranks].sort((a, b) => a - b), parts };
  }

  /** Emit the open window now (one MergedWindow per phase present: prefill, decode, then unknown). */
  flush(): void {
    if (this.openedAt === undefined) return;
    const order = ['prefill', 'decode', 'mixed', ''];
    const ranks = [...this.ranks].sort((a, b) => a - b);
    for (const pk of order) {
      const acc = this.accs.get(pk);
      if (!acc) continue;
      this.onWindow({
        index: this.nextIndex++,
        step: this.step,
        timeMs: this.timeMs,
        phase: acc.phase,
        tokens: acc.tokens,
        ranks,
        counts: acc.counts,
      });
    }
    this.accs = new Map();
    this.contributors = new Set();
    this.ranks = new Set();
    this.step = undefined;
    this.timeMs = 0;
    this.openedAt = undefined;
  }
}
