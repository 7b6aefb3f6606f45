/**
 * Cut the values of `"routed_experts"` / `"prompt_routed_experts"` keys out of a raw JSON response
 * without parsing the whole body (they are most of its bytes). Pure.
 *
 * Returns `client` (each value replaced by `null`, every other byte as the engine sent it), `marked`
 * (each value replaced by the string "\u0000ballast:<i>", small enough to JSON.parse cheaply) and the
 * raw JSON text of each value. A key can only match outside strings: inside a JSON string its quotes
 * would be escaped (\"), which the pattern does not match. Returns undefined when a value is not a
 * well-formed JSON value (the caller then falls back to a full parse).
 */
const KEYS = [Buffer.from('"routed_experts"'), Buffer.from('"prompt_routed_experts"')];
const NULL = Buffer.from('null');
export const MARK = '\u0000ballast:';

const WS = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/** End (exclusive) of the JSON value starting at `i`, or -1. */
function valueEnd(b: Buffer, i: number): number {
  const c = b[i];
  if (c === 0x6e) return b.subarray(i, i + 4).equals(NULL) ? i + 4 : -1; // null
  if (c === 0x22) {
    // Fast path: base64 holds no backslash, so the next quote ends the string.
    const q = b.indexOf(0x22, i + 1);
    if (q < 0) return -1;
    const bs = b.subarray(i + 1, q).indexOf(0x5c);
    if (bs < 0) return q + 1;
    for (let j = i + 1; j < b.length; j++) {
      if (b[j] === 0x5c) j++;
      else if (b[j] === 0x22) return j + 1;
    }
    return -1;
  }
  if (c !== 0x5b && c !== 0x7b) return -1;
  let depth = 0;
  for (let j = i; j < b.length; j++) {
    const x = b[j];
    if (x === 0x22) {
      for (j++; j < b.length && b[j] !== 0x22; j++) if (b[j] === 0x5c) j++;
    } else if (x === 0x5b || x === 0x7b) depth++;
    else if (x === 0x5d || x === 0x7d) {
      depth--;
      if (depth === 0) return j + 1;
    }
  }
  return -1;
}

export interface Spliced {
  /** Keys whose value was already null. */
  nulls: number;
  client: Buffer;
  marked: Buffer;
  values: string[];
}

export function spliceRouted(b: Buffer): Spliced | undefined {
  const hits: { start: number; end: number }[] = [];
  for (const key of KEYS) {
    let from = 0;
    for (;;) {
      const k = b.indexOf(key, from);
      if (k < 0) break;
      let i = k + key.length;
      while (i < b.length && WS(b[i])) i++;
      if (b[i] !== 0x3a) {
        from = k + 1;
        continue;
      }
      i++;
      while (i < b.length && WS(b[i])) i++;
      const end = valueEnd(b, i);
      if (end < 0) return undefined;
      hits.push({ start: i, end });
      from = end;
    }
  }
  hits.sort((x, y) => x.start - y.start);
  const client: Buffer[] = [];
  const marked: Buffer[] = [];
  const values: string[] = [];
  let nulls = 0;
  let at = 0;
  for (const h of hits) {
    if (h.start < at) return undefined;
    client.push(b.subarray(at, h.start), NULL);
    const raw = b.toString('latin1', h.start, h.end);
    if (raw === 'null') {
      nulls++;
      marked.push(b.subarray(at, h.start), NULL);
    }
    else {
      marked.push(b.subarray(at, h.start), Buffer.from(JSON.stringify(`${MARK}${values.length}`)));
      values.push(raw);
    }
    at = h.end;
  }
  client.push(b.subarray(at));
  marked.push(b.subarray(at));
  return { nulls, client: Buffer.concat(client), marked: Buffer.concat(marked), values };
}

/** The value behind a marker string (parsed), or the value itself when it is not a marker. */
export function unmark(v: unknown, values: readonly string[]): unknown {
  if (typeof v !== 'string' || !v.startsWith(MARK)) return v;
  const raw = values[Number(v.slice(MARK.length))];
  if (raw === undefined) return v;
  // A base64 string has no escapes: strip the quotes instead of parsing megabytes.
  if (raw.startsWith('"') && !raw.includes('\\')) return raw.slice(1, -1);
  return JSON.parse(raw);
}
