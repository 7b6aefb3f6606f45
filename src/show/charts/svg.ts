/**
 * Escaping for text placed in SVG/HTML markup. Every string that comes from a trace, a plan or a
 * file name goes through `esc` before it reaches markup, so `<script>` in a model name is text.
 */

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escape `& < > " '` for element text and attribute values. */
export function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

/**
 * JSON for embedding inside `<script type="application/json">`: `<`, `>`, `&`, U+2028/2029 become
 * \u escapes, so no string in the data can close the script element.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** Round to `digits` decimals for coordinates (keeps SVG small). */
export function r2(v: number, digits = 1): string {
  const m = 10 ** digits;
  return String(Math.round(v * m) / m);
}
