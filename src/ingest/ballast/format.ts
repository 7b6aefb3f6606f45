/**
 * ballast trace format, version 1 (`.ballast`). Specification: docs/trace-format.md.
 *
 *   file    = magic(8) record*
 *   magic   = "BALLAST" 0x01          (0x01 = format version)
 *   record  = tag(4 ASCII) headerLen(u32 LE) payloadLen(u64 LE) header(JSON, UTF-8) payload crc32(u32 LE)
 *   crc32   = CRC-32 (zlib) over header bytes then payload bytes
 *
 * Records are self-delimiting and appended one at a time, so a file being written by a live capture
 * is always readable up to its last complete record: a crash loses at most the record in flight.
 */
export const MAGIC = Buffer.from([0x42, 0x41, 0x4c, 0x4c, 0x41, 0x53, 0x54, 0x01]); // "BALLAST" v1
export const FORMAT_VERSION = 1;
export const RECORD_PREFIX_BYTES = 16;
export const CRC_BYTES = 4;

export const Tag = {
  META: 'META',
  LOAD: 'LOAD',
  ROUTES: 'RTES',
  END: 'END ',
} as const;
export type TagName = (typeof Tag)[keyof typeof Tag];

/** JSON header of the META record (first record of every file). */
export interface MetaHeader {
  format: 'ballast-trace';
  version: number;
  model?: string;
  layerIds: number[];
  numExperts: number;
  topK?: number;
  phase?: 'prefill' | 'decode' | 'mixed';
  /** 'ep' or 'tp': how the engine sharded the MoE layers, when the capture could tell. */
  moeParallel?: 'ep' | 'tp';
  attribution?: string;
  sources?: { path: string; format: string }[];
  extra?: Record<string, unknown>;
  createdMs?: number;
}

/** JSON header of a LOAD record: one window of [L][E] counts. */
export interface LoadHeader {
  /** 'u32' little-endian unsigned ints, or 'f64' little-endian doubles. */
  dtype: 'u32' | 'f64';
  layers: number;
  experts: number;
  step?: number;
  timeMs?: number;
  phase?: 'prefill' | 'decode' | 'mixed';
  rank?: number;
  tokens?: number;
}

/** JSON header of a ROUTES record: a chunk of consecutive tokens. */
export interface RoutesHeader {
  tokens: number;
  layers: number;
  topK: number;
  /** Expert id element type. */
  idType: 'u8' | 'u16';
  /** Payload also holds f32 gate weights after the ids. */
  hasWeights: boolean;
  /** Payload also holds one u8 phase per token (0 prefill, 1 decode) after ids/weights. */
  hasPhase: boolean;
  /** Token offsets within this chunk where a new sequence starts. A chunk whose list lacks 0
   *  continues the previous chunk's last sequence. */
  seqStarts: number[];
}
