/**
 * Terminal helpers: colour only when the stream is a TTY (and NO_COLOR is unset).
 */
import pc from 'picocolors';

export function useColor(stream: NodeJS.WriteStream = process.stdout): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false;
  if (process.env.FORCE_COLOR) return true;
  return Boolean(stream.isTTY);
}

export function colors(stream: NodeJS.WriteStream = process.stdout) {
  return pc.createColors(useColor(stream));
}

/** Unicode bar of `value` on a 0..`max` scale, `width` cells wide. */
export function bar(value: number, max: number, width: number): string {
  if (!(max > 0) || !(value > 0)) return '';
  const cells = Math.max(0, Math.min(width, (value / max) * width));
  // Round to whole eighths first, so that a fraction rounding up to 8/8 becomes a full cell.
  const eighths = Math.round(cells * 8);
  const full = Math.floor(eighths / 8);
  const parts = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
  const frac = eighths % 8;
  return '█'.repeat(full) + (frac > 0 && full < width ? parts[frac] : '');
}

/** Fixed decimals, '-' for undefined/NaN. */
export function fmt(v: number | undefined, digits = 2): string {
  return v === undefined || Number.isNaN(v) ? '-' : v.toFixed(digits);
}

/** Terminal width ballast's text output fits (an 80-column terminal wraps only tables and bars). */
export const OUTPUT_COLUMNS = 100;

const BOX = /^[\s]*[│┌└├┬┴┼─╭╰|]/;
const ANSI = /\x1b\[[0-9;]*m/g;

/** Columns a string takes (code points, ANSI colour codes not counted). */
export function columns(s: string): number {
  return [...s.replace(ANSI, '')].length;
}

/**
 * Wrap every line of `text` longer than `width` columns at spaces. Continuation lines hang under
 * the text after the line's label column (`  gate       ...`), its bullet (`  - `, `  ! `), or its
 * indentation + 2. Table and bar lines (box drawing, or no space to break at) are left as they are.
 */
export function wrapText(text: string, width = OUTPUT_COLUMNS): string {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (columns(line) <= width || BOX.test(line)) {
      out.push(line);
      continue;
    }
    const plain = line.replace(ANSI, '');
    const indent = /^\s*/.exec(plain)![0].length;
    const bullet = /^\s*(?:[-!*•]|\d+\.)\s+/.exec(plain);
    const label = /^(\s*\S+(?: \S+)?\s{2,})\S/.exec(plain);
    let hang = bullet ? bullet[0].length : label && label[1].length <= 24 ? label[1].length : indent + 2;
    if (hang > width / 2) hang = indent + 2;
    // Break the coloured line by words; colour codes stay attached to their words.
    const words = line.slice(indent).split(' ');
    let cur = line.slice(0, indent);
    let curCols = indent;
    let first = true;
    for (const w of words) {
      const wc = columns(w);
      const sep = curCols > (first ? indent : hang) ? 1 : 0;
      if (curCols + sep + wc > width && curCols > (first ? indent : hang)) {
        out.push(cur.replace(/\s+$/, ''));
        cur = ' '.repeat(hang) + w;
        curCols = hang + wc;
        first = false;
      } else {
        cur += (sep ? ' ' : '') + w;
        curCols += sep + wc;
      }
    }
    out.push(cur);
  }
  return out.join('\n');
}
