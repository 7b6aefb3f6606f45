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
