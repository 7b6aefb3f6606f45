/**
 * Minimal PNG encoder: 8-bit RGB, no interlace, filter 0 on every row, zlib via fflate.
 * Used for heatmaps too large to draw as SVG rects (60 layers x 384 experts = 23K cells):
 * one pixel per cell, scaled up by the SVG <image> with pixelated rendering.
 *
 * encodePngRgb(width, height, rgb[height*width*3]) -> Uint8Array (the PNG file bytes)
 */
import { zlibSync } from 'fflate';
import { crc32 } from 'node:zlib';

const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)) >>> 0);
  return out;
}

export function encodePngRgb(width: number, height: number, rgb: Uint8Array): Uint8Array {
  if (!(width >= 1 && height >= 1) || rgb.length !== width * height * 3) {
    throw new RangeError(`encodePngRgb: expected ${width}x${height}x3 = ${width * height * 3} bytes, got ${rgb.length}`);
  }
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  const stride = width * 3;
  const raw = new Uint8Array(height * (stride + 1));
  for (let y = 0; y < height; y++) raw.set(rgb.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  const parts = [SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', zlibSync(raw, { level: 9 })), chunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
