// The record buffer a pass writes (binding 2, `vm_log` in shaders/prelude.wgsl)
// and its decoding: violations in every mode; page bitmaps (the faults among
// them) in demand mode. The layout is src/abi.ts's, which the prelude's
// constants are generated from:
//
//   words [0, REC_HEADER) violation count, ready (a probe by rounds), advanced (a replay of a
//                         resumable kernel), abort flag
//   [REC_HEADER, LOG_END)  VIOLATION_LOG_ENTRIES records of VIOLATION_STRIDE words
//   [BITMAP_BASE = LOG_END, …)  MAP_COUNT page bitmaps: accessed, written, miss-seen, spec-seen,
//                         write-seen, needed; the first two as one map of two bits a page
//                         over their words, the other four as one of four bits a page
//                         (src/abi.ts AW_PAGE_SHIFT, FAULT_PAGE_SHIFT)
//   then                  replay-mode completion: a word per invocation (RESUME_STRIDE words for a
//                         resumable kernel: word, marker, saved state), or a bit per workgroup
//                         for kernels that synchronize a workgroup (src/fault/pass.ts replayUnit)
//
// A declared pass with access counters reads back the header and violations,
// then — packed right after them in its read-back copy — the words of the
// accessed-written map that cover its declared pages (counterRegions / counterBit).

import {
  AW_PAGE_SHIFT, BITMAP_BASE, FAULT_PAGE_SHIFT, LOG_END, MAP_ACCESSED, MAP_COUNT, MAP_MISS_SEEN, MAP_SPEC_SEEN, MAP_WRITE_SEEN, MAP_WRITTEN,
  REC_ABORT, REC_HEADER, REC_VIOLATIONS, VIOLATION_ADDR, VIOLATION_ADDR_HI, VIOLATION_GID, VIOLATION_KIND, VIOLATION_KIND_WORD,
  VIOLATION_LOG_ENTRIES, VIOLATION_STRIDE,
} from '../abi.ts';
import { fail } from '../assert.ts';
import type { Violation, ViolationKind } from '../errors.ts';

/** Bytes a declared dispatch clears and reads back: the header and the violation records. */
export const VIOLATION_RECORD_BYTES = LOG_END * 4;

export function bitmapWords(pageCount: number): number {
  return Math.max(1, Math.ceil(pageCount / 32));
}

/** Bytes from the start of the record to the completion bitmap (what every demand pass clears). */
export function passClearBytes(pageCount: number): number {
  return (BITMAP_BASE + MAP_COUNT * bitmapWords(pageCount)) * 4;
}

/**
 * Bytes a demand pass reads back: the header, the violations and every page
 * bitmap — the faults are the bitmaps (miss-seen, speculative-seen,
 * write-seen), which never overflow: one pass reports every page it missed,
 * however many there are.
 */
export function passReadBytes(pageCount: number): number {
  return (BITMAP_BASE + MAP_COUNT * bitmapWords(pageCount)) * 4;
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
    // The high word is set in spaces over 4 GiB and for a VmPtr: addresses stay exact numbers below 2^53.
    const addr = rec[b + VIOLATION_ADDR]! + rec[b + VIOLATION_ADDR_HI]! * 2 ** 32;
    out.push({ addr, kind: KIND.get(rec[b + VIOLATION_KIND_WORD]!) ?? 'out-of-range', invocation: [rec[g]!, rec[g + 1]!, rec[g + 2]!] });
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
  /** COMMIT mode: a miss or a store outside the snapshot happened. */
  readonly aborted: boolean;
}

/**
 * The faults of a demand pass, from its bitmaps (the miss-seen, speculative-
 * seen and write-seen bits the prelude sets once per page and pass). Unlike
 * the bounded list of fault entries, they hold every page, so no fault is left
 * for another round.
 */
export function decodeFaults(rec: Uint32Array, pageCount: number): FaultBatch {
  const misses = bitmapPages(rec, pageCount, MAP_MISS_SEEN);
  const missed = new Set(misses);
  const speculative = bitmapPages(rec, pageCount, MAP_SPEC_SEEN).filter((p) => !missed.has(p));
  return { misses, speculative, writes: bitmapPages(rec, pageCount, MAP_WRITE_SEEN), aborted: rec[REC_ABORT]! !== 0 };
}

/**
 * Where map `map`'s bit of a page lies: the accessed and written maps are one
 * map of two bits a page, the four fault maps one of four bits a page
 * (src/abi.ts AW_PAGE_SHIFT, FAULT_PAGE_SHIFT). `words` from the record's
 * start (in units of bitmap words), `shift`: log2 of the pages a word, `slot`:
 * the map's bit within a page's bits.
 */
interface MapGroup {
  readonly words: number;
  readonly shift: number;
  readonly slot: number;
}
/** Each map's group, made once: counterBit runs per page of every declared dispatch. */
const MAP_GROUPS: readonly MapGroup[] = Array.from({ length: MAP_COUNT }, (_, map) => map <= MAP_WRITTEN
  ? { words: 0, shift: AW_PAGE_SHIFT, slot: map - MAP_ACCESSED }
  : { words: MAP_MISS_SEEN, shift: FAULT_PAGE_SHIFT, slot: map - MAP_MISS_SEEN });
function mapGroup(map: number): MapGroup {
  return MAP_GROUPS[map] ?? fail(`no page bitmap ${map}`);
}

/** The bit of `page` in its word of map group `g`: its page's bits, then the map's slot among them. */
function bitIn(g: MapGroup, page: number): number {
  return (page & ((1 << g.shift) - 1)) * (32 >>> g.shift) + g.slot;
}

/** Is bit `page` of bitmap `map` set? */
export function testBit(rec: Uint32Array, pageCount: number, map: number, page: number): boolean {
  const g = mapGroup(map);
  const w = rec[BITMAP_BASE + g.words * bitmapWords(pageCount) + (page >>> g.shift)]!;
  return (w & (1 << bitIn(g, page))) !== 0;
}

/** The pages set in bitmap `map`, ascending. */
export function bitmapPages(rec: Uint32Array, pageCount: number, map: number): number[] {
  const out: number[] = [];
  const g = mapGroup(map);
  const bitsPerPage = 32 >>> g.shift;
  const perPage = Math.log2(bitsPerPage);
  // This map's bit of each page's bits: 0x55555555 for two bits a page, 0x11111111 for four.
  let keep = 0;
  for (let b = 0; b < 32; b += bitsPerPage) keep |= 1 << b;
  keep = (keep << g.slot) >>> 0;
  const base = BITMAP_BASE + g.words * bitmapWords(pageCount);
  const words = bitsPerPage * bitmapWords(pageCount);
  for (let i = 0; i < words; i++) {
    let w = (rec[base + i]! & keep) >>> 0;
    while (w !== 0) {
      const bit = 31 - Math.clz32(w & -w);
      out.push((i << g.shift) + (bit >>> perPage));
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
 * The words of the accessed-written map covering pages [firstPage, lastPage]:
 * all a declared pass can set, since it can reach only its declared pages.
 */
export function counterRegions(firstPage: number, lastPage: number): RecordRegion[] {
  const w0 = firstPage >>> AW_PAGE_SHIFT;
  const words = (lastPage >>> AW_PAGE_SHIFT) - w0 + 1;
  return [{ offset: (BITMAP_BASE + w0) * 4, bytes: words * 4 }];
}

/** In a declared pass's read-back (see counterRegions): is bit `page` of `map` (MAP_ACCESSED or MAP_WRITTEN) set? */
export function counterBit(rec: Uint32Array, firstPage: number, map: number, page: number): boolean {
  const g = mapGroup(map);
  const w = rec[LOG_END + (page >>> g.shift) - (firstPage >>> g.shift)]!;
  return (w & (1 << bitIn(g, page))) !== 0;
}
