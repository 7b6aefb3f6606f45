/**
 * Pipeline-parallel capture: every stage's agent sees only its own MoE layers (vLLM/SGLang put the other
 * stages' layers on other processes). The trace holds the union of all stages' layers, merged by layer id.
 *
 * StageGate sits in front of the collector's shape check. Windows without pipeline parallelism pass
 * through untouched. Windows of a pipeline-parallel run (ppSize > 1) are held until every stage has
 * reported its layers (or `waitMs` has passed: then the layout is fixed with the stages seen and one line
 * says which stages are missing); from then on each window is widened to the union layout:
 *   widen(w): counts [Ls][E] of the stage -> [L][E] of the union (zeros elsewhere); tokens kept only for the
 *   stage that holds the first MoE layer (every stage routes the same tokens); sampled routes dropped
 *   (they cover one stage's layers only).
 * Every stage reads the same model config, so stages that send num_hidden_layers must send the same value
 * (else the later stage is refused); a stage without it takes the others' (the largest value seen wins).
 * A stage whose layers overlap another stage's, or that changes its layers, or that arrives with new
 * layers after the layout is fixed, is refused with a reason (the collector answers 409).
 */
import type { AgentWindow } from './protocol.ts';

export type Admit = { windows: AgentWindow[] } | { refuse: string };

export class StageGate {
  private readonly waitMs: number;
  private readonly release: (ws: AgentWindow[]) => void;
  private readonly log: (line: string) => void;
  private stages = new Map<number, number[]>();
  /** num_hidden_layers per stage that sent one. */
  private decoderLayers = new Map<number, number>();
  private held: AgentWindow[] = [];
  private timer: NodeJS.Timeout | undefined;
  private union: number[] | undefined;
  private firstStage = 0;
  private ppSize = 0;

  /**
   * @param waitMs how long to wait for every stage's first window
   * @param release receives held windows once the layout is fixed by the timeout
   */
  constructor(waitMs: number, release: (ws: AgentWindow[]) => void, log: (line: string) => void) {
    this.waitMs = waitMs;
    this.release = release;
    this.log = log;
  }

  /** The union layer ids once fixed (undefined before, and for runs without pipeline parallelism). */
  get layerIds(): number[] | undefined {
    return this.union;
  }

  admit(w: AgentWindow): Admit {
    if (w.ppSize === undefined || w.ppRank === undefined) return { windows: [w] };
    const rank = w.ppRank;
    const known = this.stages.get(rank);
    if (known && !sameIds(known, w.layerIds)) {
      return { refuse: `pipeline stage ${rank} sent layers ${fmtIds(w.layerIds)}, earlier ${fmtIds(known)}` };
    }
    if (this.union) {
      if (!known) {
        return { refuse: `pipeline stage ${rank} (layers ${fmtIds(w.layerIds)}) arrived after the trace layout was fixed to layers ${fmtIds(this.union)}; its counts are not in the trace` };
      }
      return { windows: [this.widen(w)] };
    }
    const nhlProblem = this.noteDecoderLayers(rank, w.numHiddenLayers);
    if (nhlProblem) return { refuse: nhlProblem };
    if (!known) {
      for (const [r, ids] of this.stages) {
        const overlap = w.layerIds.filter((x) => ids.includes(x));
        if (overlap.length > 0) return { refuse: `pipeline stages ${r} and ${rank} both report layers ${fmtIds(overlap)}` };
      }
      this.stages.set(rank, [...w.layerIds]);
      this.ppSize = Math.max(this.ppSize, w.ppSize);
    }
    this.held.push(w);
    if (this.stages.size >= this.ppSize) return { windows: this.fix() };
    if (!this.timer) {
      this.timer = setTimeout(() => {
        if (this.union) return;
        const missing = [...Array(this.ppSize).keys()].filter((r) => !this.stages.has(r));
        this.log(`pipeline parallel: stage(s) ${missing.join(', ')} of ${this.ppSize} sent nothing within ${this.waitMs} ms; the trace holds the layers of stages ${[...this.stages.keys()].sort((a, b) => a - b).join(', ')} only`);
        this.release(this.fix());
      }, this.waitMs);
      this.timer.unref();
    }
    return { windows: [] };
  }

  /** Record a stage's num_hidden_layers; a reason when it contradicts another stage's. */
  private noteDecoderLayers(rank: number, n: number | undefined): string | undefined {
    if (n === undefined) return undefined;
    for (const [r, m] of this.decoderLayers) {
      if (m !== n) return `pipeline stages ${r} and ${rank} report num_hidden_layers ${m} and ${n}; every stage reads the same model config`;
    }
    if (!this.union) this.decoderLayers.set(rank, n);
    return undefined;
  }

  /** The stages' num_hidden_layers (the largest; they agree), or undefined when none sent it. */
  private get numHiddenLayers(): number | undefined {
    return this.decoderLayers.size > 0 ? Math.max(...this.decoderLayers.values()) : undefined;
  }

  /** Fix the layout now and hand back what was held (collector stop). */
  drain(): AgentWindow[] {
    return this.union || this.held.length === 0 ? [] : this.fix();
  }

  private fix(): AgentWindow[] {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const all = [...this.stages.values()].flat().sort((a, b) => a - b);
    this.union = all;
    let first = Infinity;
    for (const [r, ids] of this.stages) {
      const m = Math.min(...ids);
      if (m < first) {
        first = m;
        this.firstStage = r;
      }
    }
    const out = this.held.map((w) => this.widen(w));
    this.held = [];
    return out;
  }

  /** [Ls][E] stage counts -> [L][E] union counts (see the module comment). */
  private widen(w: AgentWindow): AgentWindow {
    const union = this.union!;
    const E = w.experts;
    const rows = w.layerIds.map((id) => union.indexOf(id));
    const parts = w.parts.map((p) => {
      const counts = new Float64Array(union.length * E);
      rows.forEach((r, l) => counts.set(p.counts.subarray(l * E, (l + 1) * E), r * E));
      return { ...p, tokens: w.ppRank === this.firstStage ? p.tokens : 0, counts };
    });
    const out: AgentWindow = { ...w, layerIds: union, parts, routes: undefined };
    const n = this.numHiddenLayers;
    if (n !== undefined) out.numHiddenLayers = n;
    return out;
  }
}

function sameIds(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function fmtIds(ids: number[]): string {
  return ids.length <= 6 ? `[${ids.join(', ')}]` : `[${ids.slice(0, 3).join(', ')}, ..., ${ids[ids.length - 1]}] (${ids.length})`;
}
