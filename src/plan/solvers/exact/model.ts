/**
 * The exact placement model for one layer, as a MILP in CPLEX LP text (what HiGHS reads).
 *
 * Minimise T subject to (G ranks, S = P/G slots per rank, speeds s_r):
 *   x[e][r] in {0,1}         a replica of expert e on rank r (at most one per rank: no colocation)
 *   sum_e x[e][r] = S        exactly S slots per rank
 * Without replicas (P = E):
 *   sum_r x[e][r] = 1 ;  sum_e w_e x[e][r] <= s_r T
 * With replicas (P > E), K = min(G, P - E + 1) possible replica counts:
 *   y[e][k] in {0,1}, sum_k y[e][k] = 1                          (e has exactly k replicas)
 *   u[e][k][r] in {0,1}, sum_r u[e][k][r] = k y[e][k]            (its k replicas, on k distinct ranks)
 *   x[e][r] = sum_k u[e][k][r]
 *   sum_e sum_k (w_e / k) u[e][k][r] <= s_r T
 * The optimum T is the least possible max over ranks of load / speed. Optional bounds on T (a lower
 * bound and a known feasible max) only prune the search; with equal speeds and no replicas, expert 0 is
 * fixed to rank 0 (ranks are interchangeable).
 */

/** Shapes: w [E], P slots, G ranks, speeds [G] -> LP text. */
export function layerModel(
  w: ArrayLike<number>,
  P: number,
  G: number,
  speeds?: ArrayLike<number>,
  bounds: { lower?: number; upper?: number } = {},
): string {
  const E = w.length;
  const S = P / G;
  const R = P - E;
  const K = Math.min(G, R + 1);
  const lines: string[] = ['Minimize', ' obj: T', 'Subject To'];
  const num = (v: number) => (Number.isInteger(v) ? String(v) : v.toPrecision(15));
  for (let r = 0; r < G; r++) {
    const terms: string[] = [];
    for (let e = 0; e < E; e++) terms.push(`x_${e}_${r}`);
    lines.push(` card_${r}: ${terms.join(' + ')} = ${S}`);
  }
  if (R === 0) {
    for (let e = 0; e < E; e++) {
      const terms: string[] = [];
      for (let r = 0; r < G; r++) terms.push(`x_${e}_${r}`);
      lines.push(` one_${e}: ${terms.join(' + ')} = 1`);
    }
    for (let r = 0; r < G; r++) {
      const terms: string[] = [];
      for (let e = 0; e < E; e++) if (w[e] !== 0) terms.push(`${num(w[e])} x_${e}_${r}`);
      const s = speeds ? speeds[r] : 1;
      terms.push(`- ${num(s)} T`);
      lines.push(` load_${r}: ${terms.join(' + ').replace(/\+ -/g, '-')} <= 0`);
    }
  } else {
    // u[e][k][r] = 1: e has exactly k replicas and one of them is on r (tight, no AND-linearisation).
    for (let e = 0; e < E; e++) {
      const ys: string[] = [];
      for (let k = 1; k <= K; k++) ys.push(`y_${e}_${k}`);
      lines.push(` pick_${e}: ${ys.join(' + ')} = 1`);
      for (let k = 1; k <= K; k++) {
        const us: string[] = [];
        for (let r = 0; r < G; r++) us.push(`u_${e}_${k}_${r}`);
        lines.push(` spread_${e}_${k}: ${us.join(' + ')} - ${k} y_${e}_${k} = 0`);
      }
      for (let r = 0; r < G; r++) {
        const us: string[] = [];
        for (let k = 1; k <= K; k++) us.push(`u_${e}_${k}_${r}`);
        lines.push(` link_${e}_${r}: x_${e}_${r} ${us.map((u) => `- ${u}`).join(' ')} = 0`);
      }
    }
    for (let r = 0; r < G; r++) {
      const terms: string[] = [];
      for (let e = 0; e < E; e++) {
        if (w[e] === 0) continue;
        for (let k = 1; k <= K; k++) terms.push(`${num(w[e] / k)} u_${e}_${k}_${r}`);
      }
      const s = speeds ? speeds[r] : 1;
      lines.push(` load_${r}: ${terms.length ? `${terms.join(' + ')} ` : ''}- ${num(s)} T <= 0`);
    }
  }
  const lo = bounds.lower ?? 0;
  lines.push('Bounds', bounds.upper !== undefined ? ` ${num(lo)} <= T <= ${num(bounds.upper)}` : ` T >= ${num(lo)}`);
  if (!speeds && R === 0) lines.push(' x_0_0 = 1'); // symmetry: equal ranks, expert 0 on rank 0
  lines.push('Binary');
  for (let e = 0; e < E; e++) for (let r = 0; r < G; r++) lines.push(` x_${e}_${r}`);
  if (R > 0) {
    for (let e = 0; e < E; e++) for (let k = 1; k <= K; k++) lines.push(` y_${e}_${k}`);
    for (let e = 0; e < E; e++) for (let k = 1; k <= K; k++) for (let r = 0; r < G; r++) lines.push(` u_${e}_${k}_${r}`);
  }
  lines.push('End');
  return lines.join('\n');
}

/** Read the phy2log row from a solution's column values. Shapes: E, G, P -> Int32Array[P]. */
export function rowFromSolution(columns: Record<string, { Primal: number }>, E: number, G: number, P: number): Int32Array {
  const S = P / G;
  const row = new Int32Array(P);
  for (let r = 0; r < G; r++) {
    let k = 0;
    for (let e = 0; e < E; e++) {
      const c = columns[`x_${e}_${r}`];
      if (c && c.Primal > 0.5) {
        if (k >= S) throw new Error(`exact: rank ${r} got more than ${S} experts`);
        row[r * S + k++] = e;
      }
    }
    if (k !== S) throw new Error(`exact: rank ${r} got ${k} experts, expected ${S}`);
  }
  return row;
}
