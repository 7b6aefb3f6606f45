/**
 * Scales and tick marks for the SVG charts.
 *   linearScale([d0,d1],[r0,r1]) -> v => r
 *   niceTicks(min, max, count)   -> ticks at 1/2/5 x 10^k steps covering [min, max]
 *   formatNumber(v)              -> short label: 1234 -> '1.23K', 0.0123 -> '0.0123'
 */

export type Scale = (v: number) => number;

export function linearScale(domain: [number, number], range: [number, number]): Scale {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  const span = d1 - d0;
  if (span === 0) return () => (r0 + r1) / 2;
  return (v) => r0 + ((v - d0) / span) * (r1 - r0);
}

/** Step between ticks: 1, 2 or 5 times a power of ten, giving about `count` ticks over [min,max]. */
export function tickStep(min: number, max: number, count: number): number {
  const span = max - min;
  if (!(span > 0) || !(count > 0)) return 0;
  const raw = span / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const m = raw / pow;
  const mult = m >= 7.5 ? 10 : m >= 3.5 ? 5 : m >= 1.5 ? 2 : 1;
  return mult * pow;
}

/** Ticks k*step with min <= k*step <= max (a single tick when min == max). */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (min === max) return [min];
  const step = tickStep(min, max, count);
  const first = Math.ceil(min / step - 1e-9);
  const last = Math.floor(max / step + 1e-9);
  const out: number[] = [];
  for (let k = first; k <= last; k++) out.push(Number((k * step).toPrecision(12)));
  return out;
}

/** Extend [min,max] outward to whole tick steps (a max of 0 becomes 1). */
export function niceDomain(min: number, max: number, count = 5): [number, number] {
  if (!(max > min)) return [Math.min(min, 0), min > 0 ? min * 1.1 : min + 1];
  const step = tickStep(min, max, count);
  return [Math.floor(min / step) * step, Math.ceil(max / step) * step];
}

/** Short number label with up to 3 significant digits and K/M/G suffixes above 10^4. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e9) return `${trim((v / 1e9).toPrecision(3))}G`;
  if (a >= 1e6) return `${trim((v / 1e6).toPrecision(3))}M`;
  if (a >= 1e4) return `${trim((v / 1e3).toPrecision(3))}K`;
  if (a >= 1) return trim(v.toFixed(a >= 100 ? 0 : a >= 10 ? 1 : 2));
  return trim(v.toPrecision(3));
}

function trim(s: string): string {
  return s.includes('.') && !s.includes('e') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
}
