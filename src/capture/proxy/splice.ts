/**
 * Cut the routed-experts values out of a JSON response body while it streams through the proxy.
 *
 * `RoutedSplicer.push(chunk)` returns the bytes to send to the client for that chunk, right away: the
 * chunk itself (as subarrays, no copy) except that the value of a routed-experts key at one of the
 * places the engine puts it is withheld and replaced by `null` once it has ended. The withheld bytes
 * are kept aside (`values`, views of the chunks: nothing is copied on the response's path), and so is
 * the rest of the body with a marker string in place of each value (`marked`, small: JSON.parse-able
 * after the response, see `unmark`). Nothing is decoded here. The chunks must not be reused by the
 * caller (Node's http streams emit a fresh buffer per chunk).
 *
 * The scanner is a small state machine over the JSON grammar: it tracks strings and their escapes
 * (so a key's text inside a string value never matches), the object/array nesting and each
 * container's key, which is enough to know the path of every key. Strings are skipped with
 * Buffer.indexOf (native), so a multi-megabyte base64 value costs a memchr, not a JS loop. Keys,
 * values and escapes may be split across chunks anywhere.
 *
 * Not JSON (a byte the grammar does not allow where it appears): from there on every byte goes to the
 * client unchanged, a value being withheld included (so a malformed body reaches the client byte for
 * byte), and `broken` is set: the response is not recorded. A bad literal (`tru`, `01`) is found
 * when it ends, so the rest of the body from there passes unchanged.
 *
 * `places` are paths: keys joined by "/", "*" for an array element, e.g. "choices/*\/routed_experts".
 * Pure apart from the caller-supplied `reserve` (memory accounting).
 */
export const MARK = '\u0000ballast:';
const NULL = Buffer.from('null');

/** Where vLLM puts them (vllm-project/vllm@006c49d485f9ca479bf4989cbb694d0ac02f44b5
 * vllm/entrypoints/openai/chat_completion/serving.py, completion/serving.py: choices[i].routed_experts;
 * releases around v0.21-0.23 also a top-level prompt_routed_experts). */
export const VLLM_PLACES: ReadonlySet<string> = new Set(['prompt_routed_experts', 'choices/*/routed_experts']);
/** Where SGLang puts them on /generate (one request or a batch): meta_info.routed_experts. */
export const SGLANG_PLACES: ReadonlySet<string> = new Set(['meta_info/routed_experts', '*/meta_info/routed_experts']);
const ROUTED_KEYS = new Set(['routed_experts', 'prompt_routed_experts']);

// Scanner states.
const VALUE = 0; // a value must start here
const VALUE_OR_END = 1; // after '['
const KEY_OR_END = 2; // after '{'
const KEY = 3; // after ',' in an object
const KEYSTR = 4;
const KEYESC = 5;
const COLON = 6;
const STR = 7;
const STRESC = 8;
const LIT = 9;
const AFTER = 10; // after a value inside a container
const DONE = 11; // the root value has ended
const PASS = 12; // not JSON: pass the rest through
const DV_START = 13; // after the colon of a matched key

// Diversion sub-states (a matched key's value).
const D_NONE = 0;
const D_STR = 1;
const D_STRESC = 2;
const D_NEST = 3;
const D_NEST_STR = 4;
const D_NEST_ESC = 5;

const LITERAL = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)$/;

const OBJ = 0;
const ARR = 1;

const isWs = (x: number) => x === 0x20 || x === 0x0a || x === 0x0d || x === 0x09;
/** Characters of numbers and true/false/null. */
const isLit = (x: number) => (x >= 0x30 && x <= 0x39) || (x >= 0x61 && x <= 0x7a) || x === 0x2d || x === 0x2b || x === 0x2e || x === 0x45;

export interface SplicerOptions {
  /** Paths of the keys whose values are cut (see VLLM_PLACES, SGLANG_PLACES). */
  places: ReadonlySet<string>;
  /** Send the values to the client as well (still copied aside): SGLang clients that asked for them. */
  keep?: boolean;
  /**
   * Called before bytes are held aside; false = over the memory cap: from then on nothing more is
   * held for this response (values are still cut for the client) and `over` is set.
   */
  reserve?: (bytes: number) => boolean;
}

export class RoutedSplicer {
  private state = VALUE;
  private stack: number[] = [];
  private labels: string[] = [];
  private key = '';
  private keyBad = false;
  private dv = D_NONE;
  private depth = 0;
  private held: Uint8Array[] = [];
  private heldStart = 0;
  private cStart = 0;
  private mStart = 0;
  private bsAt = -1;
  private lit = '';
  /** Each cut value's raw JSON bytes (in parts). */
  values: Uint8Array[][] = [];
  /** The body with a marker string in place of each cut value (in parts). */
  marked: Uint8Array[] = [];
  /** Bytes held aside (values + marked). */
  heldBytes = 0;
  /** Body bytes seen. */
  bytes = 0;
  /** Matched keys whose value was null already. */
  nulls = 0;
  /** The body was not JSON: passed through from the first bad byte on. */
  broken = false;
  /** The memory cap was reached: values cut but not all kept; do not record. */
  over = false;
  /** Path of a routed-experts key found where the engine does not put one (passed through). */
  unexpected?: string;

  constructor(readonly o: SplicerOptions) {}

  /** Whether the body was one complete JSON value. */
  get complete(): boolean {
    return this.state === DONE;
  }

  private hold(part: Uint8Array): void {
    if (this.over || part.length === 0) return;
    if (this.o.reserve && !this.o.reserve(part.length)) {
      this.over = true;
      this.values = [];
      this.held = [];
      this.marked = [];
      return;
    }
    this.heldBytes += part.length;
    // No copy on the response's path: a view of the upstream chunk (Node does not reuse the
    // buffers it emits), copied into one transferable buffer after the response (pack()).
    if (this.dv !== D_NONE) this.held.push(part);
    else this.marked.push(part);
  }

  private push_(): void {
    this.labels.push(this.stack.length === 0 ? '' : this.stack[this.stack.length - 1] === OBJ ? this.key : '*');
  }

  /** The literal just read is a JSON number, true, false or null (very long ones are not checked). */
  private litOk(): boolean {
    return this.lit.length >= 1024 || LITERAL.test(this.lit);
  }

  private afterValue(): void {
    this.state = this.stack.length === 0 ? DONE : AFTER;
  }

  /** The bytes to send to the client for one chunk of the body (in order). */
  push(c: Buffer): Buffer[] {
    const out: Buffer[] = [];
    this.bytes += c.length;
    if (this.state === PASS) {
      out.push(c);
      return out;
    }
    const n = c.length;
    const keep = this.o.keep === true;
    this.bsAt = -1;
    const diverting = this.dv !== D_NONE;
    this.cStart = diverting && !keep ? -1 : 0;
    this.mStart = diverting ? -1 : 0;
    this.heldStart = 0;
    let i = 0;
    while (i < n) {
      if (this.dv !== D_NONE) {
        i = this.divert(c, i, out);
        continue;
      }
      const x = c[i];
      switch (this.state) {
        case VALUE_OR_END:
          if (isWs(x)) {
            i++;
            break;
          }
          if (x === 0x5d) {
            this.stack.pop();
            this.labels.pop();
            i++;
            this.afterValue();
            break;
          }
          this.state = VALUE;
          break;
        case VALUE:
          if (isWs(x)) i++;
          else if (x === 0x7b) {
            this.push_();
            this.stack.push(OBJ);
            this.state = KEY_OR_END;
            i++;
          } else if (x === 0x5b) {
            this.push_();
            this.stack.push(ARR);
            this.state = VALUE_OR_END;
            i++;
          } else if (x === 0x22) {
            this.state = STR;
            i++;
          } else if (isLit(x)) {
            this.state = LIT;
            this.lit = '';
          } else return this.fail(c, out);
          break;
        case KEY_OR_END:
        case KEY:
          if (isWs(x)) i++;
          else if (x === 0x22) {
            this.state = KEYSTR;
            this.key = '';
            this.keyBad = false;
            i++;
          } else if (x === 0x7d && this.state === KEY_OR_END) {
            this.stack.pop();
            this.labels.pop();
            i++;
            this.afterValue();
          } else return this.fail(c, out);
          break;
        case KEYSTR:
        case STR: {
          const q = c.indexOf(0x22, i);
          const stop = q < 0 ? n : q;
          if (this.bsAt < i) {
            this.bsAt = c.indexOf(0x5c, i);
            if (this.bsAt < 0) this.bsAt = n;
          }
          if (this.bsAt < stop) {
            if (this.state === KEYSTR) this.keyBad = true;
            i = this.bsAt + 1;
            if (i < n) i++;
            else this.state = this.state === KEYSTR ? KEYESC : STRESC;
            break;
          }
          if (this.state === KEYSTR && !this.keyBad) {
            if (this.key.length + stop - i <= 64) this.key += c.toString('latin1', i, stop);
            else this.keyBad = true;
          }
          if (q < 0) {
            i = n;
            break;
          }
          i = q + 1;
          if (this.state === KEYSTR) this.state = COLON;
          else this.afterValue();
          break;
        }
        case KEYESC:
          this.state = KEYSTR;
          i++;
          break;
        case STRESC:
          this.state = STR;
          i++;
          break;
        case LIT: {
          const from = i;
          while (i < n && isLit(c[i])) i++;
          if (this.lit.length < 1024) this.lit += c.toString('latin1', from, i);
          if (i < n) {
            if (!this.litOk()) return this.fail(c, out);
            this.afterValue();
          }
          break;
        }
        case COLON:
          if (isWs(x)) i++;
          else if (x === 0x3a) {
            i++;
            this.state = VALUE;
            if (!this.keyBad && ROUTED_KEYS.has(this.key)) {
              const path = [...this.labels.slice(1), this.key].join('/');
              if (this.o.places.has(path)) this.state = DV_START;
              else this.unexpected ??= path;
            }
          } else return this.fail(c, out);
          break;
        case DV_START:
          if (isWs(x)) i++;
          else if (x === 0x22 || x === 0x5b || x === 0x7b) {
            // The value starts here: what came before goes out, the value is withheld.
            if (!keep) {
              if (i > this.cStart) out.push(c.subarray(this.cStart, i));
              this.cStart = -1;
            }
            this.hold(c.subarray(this.mStart, i));
            this.hold(Buffer.from(JSON.stringify(`${MARK}${this.values.length}`)));
            this.mStart = -1;
            this.dv = x === 0x22 ? D_STR : D_NEST;
            this.depth = 1;
            this.heldStart = i;
            i++;
          } else if (isLit(x)) {
            if (x === 0x6e) this.nulls++;
            this.state = LIT;
            this.lit = '';
          } else return this.fail(c, out);
          break;
        case AFTER:
          if (isWs(x)) i++;
          else if (x === 0x2c) {
            this.state = this.stack[this.stack.length - 1] === OBJ ? KEY : VALUE;
            i++;
          } else if ((x === 0x7d && this.stack[this.stack.length - 1] === OBJ) || (x === 0x5d && this.stack[this.stack.length - 1] === ARR)) {
            this.stack.pop();
            this.labels.pop();
            i++;
            this.afterValue();
          } else return this.fail(c, out);
          break;
        case DONE:
          if (isWs(x)) i++;
          else return this.fail(c, out);
          break;
      }
    }
    // End of the chunk.
    if (this.dv !== D_NONE) this.hold(c.subarray(this.heldStart, n));
    if (this.cStart >= 0 && this.cStart < n) out.push(this.cStart === 0 ? c : c.subarray(this.cStart, n));
    if (this.mStart >= 0) this.hold(c.subarray(this.mStart, n));
    return out;
  }

  /** Inside a cut value from `i`; returns where scanning goes on. */
  private divert(c: Buffer, i: number, out: Buffer[]): number {
    const n = c.length;
    for (;;) {
      switch (this.dv) {
        case D_STR:
        case D_NEST_STR: {
          const q = c.indexOf(0x22, i);
          const stop = q < 0 ? n : q;
          if (this.bsAt < i) {
            this.bsAt = c.indexOf(0x5c, i);
            if (this.bsAt < 0) this.bsAt = n;
          }
          if (this.bsAt < stop) {
            i = this.bsAt + 1;
            if (i < n) i++;
            else this.dv = this.dv === D_STR ? D_STRESC : D_NEST_ESC;
            if (i >= n) return n;
            continue;
          }
          if (q < 0) return n;
          i = q + 1;
          if (this.dv === D_STR) return this.valueEnd(c, i, out);
          this.dv = D_NEST;
          continue;
        }
        case D_STRESC:
        case D_NEST_ESC:
          this.dv = this.dv === D_STRESC ? D_STR : D_NEST_STR;
          i++;
          if (i >= n) return n;
          continue;
        case D_NEST:
          for (; i < n; i++) {
            const x = c[i];
            if (x === 0x22) {
              this.dv = D_NEST_STR;
              i++;
              break;
            }
            if (x === 0x5b || x === 0x7b) this.depth++;
            else if ((x === 0x5d || x === 0x7d) && --this.depth === 0) return this.valueEnd(c, i + 1, out);
          }
          if (i >= n) return n;
          continue;
        default:
          return i;
      }
    }
  }

  /** The cut value ended just before `e`. */
  private valueEnd(c: Buffer, e: number, out: Buffer[]): number {
    this.hold(c.subarray(this.heldStart, e));
    if (!this.over) this.values.push(this.held);
    this.held = [];
    this.dv = D_NONE;
    if (this.o.keep !== true) {
      out.push(NULL);
      this.cStart = e;
    }
    this.mStart = e;
    this.afterValue();
    return e;
  }

  /** Not JSON at `i`: the rest of the body (a withheld value included) goes out unchanged. */
  private fail(c: Buffer, out: Buffer[]): Buffer[] {
    const withheld = this.dv !== D_NONE && this.o.keep !== true;
    this.state = PASS;
    this.broken = true;
    if (withheld) {
      // Earlier chunks of the value were held aside; this chunk's part starts at heldStart.
      for (const p of this.held) out.push(Buffer.from(p.buffer, p.byteOffset, p.byteLength));
      this.cStart = this.heldStart;
    }
    this.dv = D_NONE;
    if (this.cStart >= 0 && this.cStart < c.length) out.push(c.subarray(this.cStart));
    this.release();
    return out;
  }

  /** End of the body: bytes still owed to the client (a value cut short: sent unchanged). */
  end(): Buffer[] {
    const out: Buffer[] = [];
    if (this.state === LIT && this.stack.length === 0 && this.litOk()) this.state = DONE;
    if (this.dv !== D_NONE) {
      if (this.o.keep !== true) for (const p of this.held) out.push(Buffer.from(p.buffer, p.byteOffset, p.byteLength));
      this.dv = D_NONE;
      this.broken = true;
    }
    if (this.state !== DONE && this.bytes > 0) this.broken = true;
    if (this.broken) this.release();
    return out;
  }

  /** Drop what is held (not recorded). */
  release(): void {
    this.values = [];
    this.held = [];
    this.marked = [];
  }
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
