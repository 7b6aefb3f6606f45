/**
 * Which capture point, engine and engine version produced a trace, as the collector records it in the
 * trace META `extra` (capturePath, engine, engineVersion; docs/capture.md).
 *
 * captureInfo(meta) -> CaptureInfo | undefined (undefined for traces not written by the capture agent).
 * captureLabel(info) -> "vllm-capture-fn (vllm 0.11.0)".
 */
import type { TraceMeta } from './load-trace.ts';

export interface CaptureInfo {
  path: string;
  engine?: string;
  engineVersion?: string;
}

export function captureInfo(meta: TraceMeta): CaptureInfo | undefined {
  const x = meta.extra;
  if (!x || typeof x.capturePath !== 'string' || x.capturePath === '') return undefined;
  const s = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  return { path: x.capturePath, engine: s(x.engine), engineVersion: s(x.engineVersion) };
}

export function captureLabel(c: CaptureInfo): string {
  const eng = [c.engine, c.engineVersion].filter(Boolean).join(' ');
  return eng ? `${c.path} (${eng})` : c.path;
}
