/**
 * Parts of the multi kernel: gather a block of layers' ids and count them by token index mod 8.
 */

/**
 * Copy the ids of lb consecutive layers of n consecutive tokens (token t's first at src + t * stride,
 * layer after layer, k per layer) into ids[lb][n * k] and count them by token index mod 8 into
 * countMod8[(li * 8 + (iBase + t) % 8) * E + e] (zeroed by the caller). Uint8 ids (one copy per id array
 * type keeps the loop monomorphic).
 */
export function gatherLayers8(experts: Uint8Array, src: number, stride: number, n: number, k: number, lb: number, E: number, ids: Int32Array, countMod8: Int32Array, iBase: number): void {
  const nk = n * k;
  for (let li = 0; li < lb; li++) {
    const cl = li * 8 * E;
    let s = src + li * k;
    let d = li * nk;
    if (k === 8) {
      for (let off = 0; off < n; off++, s += stride, d += 8) {
        const c = cl + ((iBase + off) & 7) * E;
        const e0 = experts[s], e1 = experts[s + 1], e2 = experts[s + 2], e3 = experts[s + 3];
        const e4 = experts[s + 4], e5 = experts[s + 5], e6 = experts[s + 6], e7 = experts[s + 7];
        ids[d] = e0; ids[d + 1] = e1; ids[d + 2] = e2; ids[d + 3] = e3;
        ids[d + 4] = e4; ids[d + 5] = e5; ids[d + 6] = e6; ids[d + 7] = e7;
        countMod8[c + e0]++; countMod8[c + e1]++; countMod8[c + e2]++; countMod8[c + e3]++;
        countMod8[c + e4]++; countMod8[c + e5]++; countMod8[c + e6]++; countMod8[c + e7]++;
      }
    } else {
      for (let off = 0; off < n; off++, s += stride) {
        const c = cl + ((iBase + off) & 7) * E;
        for (let j = 0; j < k; j++) {
          const e = experts[s + j];
          ids[d++] = e;
          countMod8[c + e]++;
        }
      }
    }
  }
}

/** gatherLayers8's counting alone (k = 8), for when the ids are read from the trace afterwards. */
export function countLayers8(experts: Uint8Array, src: number, stride: number, n: number, lb: number, E: number, countMod8: Int32Array, iBase: number): void {
  for (let li = 0; li < lb; li++) {
    const cl = li * 8 * E;
    let s = src + li * 8;
    for (let off = 0; off < n; off++, s += stride) {
      const c = cl + ((iBase + off) & 7) * E;
      countMod8[c + experts[s]]++; countMod8[c + experts[s + 1]]++; countMod8[c + experts[s + 2]]++; countMod8[c + experts[s + 3]]++;
      countMod8[c + experts[s + 4]]++; countMod8[c + experts[s + 5]]++; countMod8[c + experts[s + 6]]++; countMod8[c + experts[s + 7]]++;
    }
  }
}

/** gatherLayers8 for Uint16 ids. */
export function gatherLayers16(experts: Uint16Array, src: number, stride: number, n: number, k: number, lb: number, E: number, ids: Int32Array, countMod8: Int32Array, iBase: number): void {
  const nk = n * k;
  for (let li = 0; li < lb; li++) {
    const cl = li * 8 * E;
    let s = src + li * k;
    let d = li * nk;
    for (let off = 0; off < n; off++, s += stride) {
      const c = cl + ((iBase + off) & 7) * E;
      for (let j = 0; j < k; j++) {
        const e = experts[s + j];
        ids[d++] = e;
        countMod8[c + e]++;
      }
    }
  }
}

/** expertCount[lE + li * E + e] = sum over q < 8 of countMod8[(li * 8 + q) * E + e], for li < lb. */
export function sumCountMod8(countMod8: Int32Array, lb: number, E: number, expertCount: Int32Array, lE: number): void {
  for (let li = 0; li < lb; li++) {
    const c = li * 8 * E;
    const d = lE + li * E;
    for (let e = 0; e < E; e++) {
      const a = c + e;
      expertCount[d + e] =
        countMod8[a] + countMod8[a + E] + countMod8[a + 2 * E] + countMod8[a + 3 * E] +
        countMod8[a + 4 * E] + countMod8[a + 5 * E] + countMod8[a + 6 * E] + countMod8[a + 7 * E];
    }
  }
}
