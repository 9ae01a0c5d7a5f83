// The record buffer a pass writes (binding 2, `vm_log` in shaders/prelude.wgsl)
// and its decoding: violations in every mode; fault entries and page bitmaps in
// demand mode. The layout is src/abi.ts's, which the prelude's constants are
// generated from:
//
//   words [0, REC_HEADER) violation count, fault entries claimed, reserved, abort flag
//   [REC_HEADER, FAULT_BASE)  VIOLATION_LOG_ENTRIES records of VIOLATION_STRIDE words
//   [FAULT_BASE, +FAULT_BATCH_ENTRIES)  fault entries: page | MISS | WRITE | SPEC
//   [BITMAP_BASE, …)      MAP_COUNT page bitmaps: accessed, written, miss-seen, spec-seen, write-seen
//   then                  replay-mode completion: a word per invocation, or a bit per workgroup
//                         for kernels that synchronize a workgroup (src/fault/pass.ts replayUnit)
//
// A declared pass with access counters reads back the header and violations,
// then — packed right after them in its read-back copy — the words of the
// accessed bitmap that cover its declared pages, then the same words of the
// written bitmap (counterRegions / counterBit).

import {
  BITMAP_BASE, FAULT_BASE, FAULT_BATCH_ENTRIES, FAULT_MISS, FAULT_PAGE, FAULT_SPEC, FAULT_WRITE, MAP_ACCESSED, MAP_COUNT, MAP_WRITTEN,
  REC_ABORT, REC_FAULTS, REC_HEADER, REC_VIOLATIONS, VIOLATION_ADDR, VIOLATION_GID, VIOLATION_KIND, VIOLATION_KIND_WORD,
  VIOLATION_LOG_ENTRIES, VIOLATION_STRIDE,
} from '../abi.ts';
import type { Violation, ViolationKind } from '../errors.ts';

/** Bytes a declared dispatch clears and reads back: the header and the violation records. */
export const VIOLATION_RECORD_BYTES = FAULT_BASE * 4;

export function bitmapWords(pageCount: number): number {
  return Math.max(1, Math.ceil(pageCount / 32));
}

/** Bytes from the start of the record to the completion bitmap (what every demand pass clears). */
export function passClearBytes(pageCount: number): number {
  return (BITMAP_BASE + MAP_COUNT * bitmapWords(pageCount)) * 4;
}

/** Bytes a demand pass reads back: up to and including the accessed and written bitmaps. */
export function passReadBytes(pageCount: number): number {
  return (BITMAP_BASE + (MAP_WRITTEN + 1) * bitmapWords(pageCount)) * 4;
}

export function recordBytes(pageCount: number, completionWords: number): number {
  return passClearBytes(pageCount) + completionWords * 4;
}

/** Violation kinds by their code in the record. */
const KIND = new Map(Object.entries(VIOLATION_KIND).map(([kind, code]) => [code as number, kind as ViolationKind]));

export function violationCount(rec: Uint32Array): number {
  return rec[REC_VIOLATIONS]!;
}

export function decodeViolations(rec: Uint32Array): Violation[] {
  const out: Violation[] = [];
  for (let i = 0; i < Math.min(rec[REC_VIOLATIONS]!, VIOLATION_LOG_ENTRIES); i++) {
    const b = REC_HEADER + i * VIOLATION_STRIDE;
    const g = b + VIOLATION_GID;
    out.push({ addr: rec[b + VIOLATION_ADDR]!, kind: KIND.get(rec[b + VIOLATION_KIND_WORD]!) ?? 'out-of-range', invocation: [rec[g]!, rec[g + 1]!, rec[g + 2]!] });
  }
  return out;
}

/** What one demand pass reported. Page lists are ascending and unique. */
export interface FaultBatch {
  /** Pages an invocation needed and found without a frame: it stalled there. */
  readonly misses: number[];
  /** Pages missed by invocations that had already stalled: hints, maybe garbage. */
  readonly speculative: number[];
  /** Pages a store or atomic wanted to write without WRITE permission. */
  readonly writes: number[];
  /** More distinct faults than the batch holds: some were not recorded, run another round. */
  readonly overflow: boolean;
  /** COMMIT mode: a miss or a store outside the snapshot happened. */
  readonly aborted: boolean;
}

export function decodeFaults(rec: Uint32Array): FaultBatch {
  const claimed = rec[REC_FAULTS]!;
  const n = Math.min(claimed, FAULT_BATCH_ENTRIES);
  const misses = new Set<number>();
  const spec = new Set<number>();
  const writes = new Set<number>();
  for (let i = 0; i < n; i++) {
    const e = rec[FAULT_BASE + i]!;
    const page = e & FAULT_PAGE;
    if (e & FAULT_MISS) (e & FAULT_SPEC ? spec : misses).add(page);
    if (e & FAULT_WRITE) writes.add(page);
  }
  for (const p of misses) spec.delete(p);
  const sorted = (s: Set<number>) => [...s].sort((a, b) => a - b);
  return { misses: sorted(misses), speculative: sorted(spec), writes: sorted(writes), overflow: claimed > FAULT_BATCH_ENTRIES, aborted: rec[REC_ABORT]! !== 0 };
}

/** Is bit `page` of bitmap `map` set? */
export function testBit(rec: Uint32Array, pageCount: number, map: number, page: number): boolean {
  const w = rec[BITMAP_BASE + map * bitmapWords(pageCount) + (page >>> 5)]!;
  return (w & (1 << (page & 31))) !== 0;
}

/** The pages set in bitmap `map`, ascending. */
export function bitmapPages(rec: Uint32Array, pageCount: number, map: number): number[] {
  const out: number[] = [];
  const words = bitmapWords(pageCount);
  const base = BITMAP_BASE + map * words;
  for (let i = 0; i < words; i++) {
    let w = rec[base + i]!;
    while (w !== 0) {
      const bit = 31 - Math.clz32(w & -w);
      out.push(i * 32 + bit);
      w &= w - 1;
    }
  }
  return out;
}

/** A byte range of the record buffer a pass clears before it runs and copies out after it. */
export interface RecordRegion {
  readonly offset: number;
  readonly bytes: number;
}

/**
 * The accessed and written bitmap words covering pages [firstPage, lastPage]:
 * all a declared pass can set, since it can reach only its declared pages.
 */
export function counterRegions(pageCount: number, firstPage: number, lastPage: number): RecordRegion[] {
  const w0 = firstPage >>> 5;
  const words = (lastPage >>> 5) - w0 + 1;
  const bw = bitmapWords(pageCount);
  return [MAP_ACCESSED, MAP_WRITTEN].map((m) => ({ offset: (BITMAP_BASE + m * bw + w0) * 4, bytes: words * 4 }));
}

/** In a declared pass's read-back (see counterRegions): is bit `page` of `map` (MAP_ACCESSED or MAP_WRITTEN) set? */
export function counterBit(rec: Uint32Array, firstPage: number, lastPage: number, map: number, page: number): boolean {
  const w0 = firstPage >>> 5;
  const words = (lastPage >>> 5) - w0 + 1;
  const w = rec[FAULT_BASE + map * words + (page >>> 5) - w0]!;
  return (w & (1 << (page & 31))) !== 0;
}
