/**
 * Colour scales readable for colour-blind viewers.
 *   viridis(t)      sequential, t in [0,1] -> '#rrggbb' (perceptually uniform, no red/green cue).
 *   divergingPuOr   diverging purple-white-orange for signed changes, t in [-1,1].
 *   SERIES_COLORS   Okabe-Ito categorical palette; series 0/1 are blue/orange (the safe pair).
 */

/** Matplotlib viridis sampled at 10 evenly spaced points (0, 1/9, ..., 1). */
const VIRIDIS_STOPS = ['#440154', '#482878', '#3e4989', '#31688e', '#26828e', '#1f9e89', '#35b779', '#6ece58', '#b5de2b', '#fde725'];

/** ColorBrewer PuOr (orange for negative... reversed so +1 = orange, -1 = purple), 7 stops. */
const PUOR_STOPS = ['#542788', '#998ec3', '#d8daeb', '#f7f7f7', '#fee0b6', '#f1a340', '#b35806'];

/** Okabe-Ito: blue, orange, bluish green, reddish purple, sky blue, vermillion, yellow, black-ish grey. */
export const SERIES_COLORS = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#7f7f7f'];

export type Rgb = [number, number, number];

export function hexToRgb(hex: string): Rgb {
  const n = Number.parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

export function rgbToHex([r, g, b]: Rgb): string {
  return `#${((1 << 24) | (r << 16) | (g << 8) | b).toString(16).slice(1)}`;
}

function interpolateStops(stops: Rgb[], t: number): Rgb {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const a = stops[i];
  const b = stops[i + 1];
  return [Math.round(a[0] + (b[0] - a[0]) * f), Math.round(a[1] + (b[1] - a[1]) * f), Math.round(a[2] + (b[2] - a[2]) * f)];
}

const VIRIDIS_RGB = VIRIDIS_STOPS.map(hexToRgb);
const PUOR_RGB = PUOR_STOPS.map(hexToRgb);

/** Viridis colour at t in [0,1] (clamped) as [r,g,b] 0..255. */
export function viridisRgb(t: number): Rgb {
  return interpolateStops(VIRIDIS_RGB, t);
}

export function viridis(t: number): string {
  return rgbToHex(viridisRgb(t));
}

/** Diverging colour at t in [-1,1]: -1 purple, 0 near-white, +1 orange. */
export function divergingRgb(t: number): Rgb {
  return interpolateStops(PUOR_RGB, (Math.min(1, Math.max(-1, Number.isFinite(t) ? t : 0)) + 1) / 2);
}

export function diverging(t: number): string {
  return rgbToHex(divergingRgb(t));
}

export function seriesColor(i: number): string {
  return SERIES_COLORS[i % SERIES_COLORS.length];
}
