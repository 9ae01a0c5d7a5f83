// The host side of one address space: sparse host memory. A space is cut into
// segments of `segmentSize` bytes (HOST_SEGMENT_SIZE by default), each an
// ArrayBuffer made on the first host write or write-back that lands in it, so
// untouched parts of a space cost no host memory and read as zero — as a
// 64-bit space with memory committed only where touched (UVM, HMM) needs.
//
// A space may have a backing store (a file: src/node/file-backing.ts): then a
// missing segment is read from it on first touch instead of reading as zero,
// pages written since they last reached it are dirty, and a budget bounds the
// segments held: past it, the least recently used ones go (dirty pages are
// stored first). flushDirty() stores every dirty page.
//
// Callers (the host-write path, migrate/, fault/, strict mode, the facade's
// read/write/withView) use it only through the operations below; offsets are
// plain numbers (exact up to 2^53). Pieces of a transfer never straddle a
// segment (migrate/ splits them with `splitPieces`), so `range` is a zero-copy
// view on the transfer paths. A host view (withView) that spans segments
// joins them: their bytes move into one buffer they then share as subarrays
// (a run), so that view and every later one of the range are zero-copy — as
// khugepaged collapses small pages under a range used as one. Runs exist only
// without a backing (a budget evicts segment by segment) and up to
// HOST_JOIN_MAX; a segment of a run is never dropped alone (its buffer would
// stay held by the others while no longer counted).
// The staging path fills its slots through `fill`: with a backing, bytes of
// segments not in memory are read from the store straight into the slot, off
// the JavaScript thread, and not kept (disk → device in one copy; the pages
// are clean and the store has them).

import { fail } from '../assert.ts';
import { HOST_JOIN_MAX, HOST_SEGMENT_SIZE } from '../options.ts';
import type { HostSource, Piece } from '../device/transfer.ts';

/** Where a backed space's bytes live when not in host memory (a file). Synchronous: it runs inside host operations. */
export interface HostBacking {
  /** Fill `dest` with the stored bytes at [offset, offset + dest.length); zeros past the store's end. */
  load(offset: number, dest: Uint8Array): void;
  /** Store `src` at `offset`. Throws a typed error (disk full) with nothing changed in memory. */
  store(offset: number, src: Uint8Array): void;
  /** load(), off the JavaScript thread (a read-ahead); rejects instead of throwing. Optional. */
  loadAsync?(offset: number, dest: Uint8Array): Promise<void>;
}

/** A segment read ahead of its first touch (see #readAhead). */
interface Ahead {
  readonly index: number;
  readonly bytes: Uint8Array;
  done: boolean;
  /** Settles when the read has ended (either way). */
  ended: Promise<void> | undefined;
  /** Given up (touched before its read finished, or the space released): its buffer goes to the spares when the read ends. */
  abandoned: boolean;
}

export interface HostMemoryOptions {
  /** Bytes per segment: a multiple of `pageSize`. Default HOST_SEGMENT_SIZE (clamped to the space size). */
  segmentSize?: number;
  /** The backing store: missing segments are loaded from it; dirty pages are stored to it. */
  backing?: HostBacking;
  /** With a backing: most bytes of segments held at once (at least two segments). Default: no limit. */
  budget?: number;
}

/** Byte counts of the host tier (for the ledger, the file demo and tests). */
export interface HostMemoryStats {
  /** Bytes of segments held now. */
  committedBytes: number;
  /** Most bytes held at once. */
  peakBytes: number;
  /** Bytes read from the backing store. */
  bytesLoaded: number;
  /** Bytes written to the backing store. */
  bytesStored: number;
  /** Segments dropped to stay within the budget. */
  segmentsEvicted: number;
  /** Segments read ahead of their first touch, and of those, the ones ready in time. */
  readAheads: number;
  readAheadHits: number;
  /** Evictions that could not store their dirty pages (memory went over the budget instead). */
  storeFailures: number;
  /** Runs made: host views that spanned segments joined them into one buffer (see join). */
  joins: number;
}

/** A writable view of host bytes: `commit()` after writing puts them in place (a no-op for a zero-copy view). */
export interface HostView {
  readonly view: Uint8Array;
  commit(): void;
}

export interface HostMemory extends HostSource {
  readonly size: number;
  readonly pageSize: number;
  readonly segmentSize: number;
  readonly backed: boolean;
  readonly stats: Readonly<HostMemoryStats>;
  /** Copy [offset, offset + dest.length) into `dest`. */
  readInto(offset: number, dest: Uint8Array): void;
  /** A copy of [offset, offset + length). */
  slice(offset: number, length: number): Uint8Array;
  /** Copy `src` to `offset`. */
  write(offset: number, src: Uint8Array): void;
  /** Zero [offset, end). Segments the range covers whole are dropped (unbacked) rather than filled. */
  zero(offset: number, end: number): void;
  /**
   * Bytes of [offset, offset + length) to read now (an upload, a hash): a
   * view into the segment when the range lies in one (zeros when it is
   * missing and unbacked; never write through it), else a copy.
   */
  range(offset: number, length: number): Uint8Array;
  /** A view to write [offset, offset + length) through; commit() after. Zero-copy when the range lies in one segment or joined ones. */
  view(offset: number, length: number): HostView;
  /**
   * Make the segments under [offset, offset + length) share one buffer (see
   * join below), so that `range` and `view` of the range are views from now
   * on. `create`: segments not held yet are made (zeros); else a missing one
   * refuses. Returns whether the range is contiguous now.
   */
  join(offset: number, length: number, create: boolean): boolean;
  /** A read ahead of part of [offset, offset + length) still running: its end (HostSource.ready). */
  ready(offset: number, length: number): Promise<void> | undefined;
  /** Pieces cut where they cross a segment boundary, so that `range` of each is a view. */
  splitPieces(pieces: readonly Piece[]): Piece[];
  /** With a backing: pages (ascending) written in host memory since they last reached it. */
  dirtyPages(): number[];
  /** With a backing: store every dirty page (coalesced runs). Returns the bytes stored. */
  flushDirty(): number;
  /** Is the segment holding `offset` in memory now (no load, no zeros stand-in)? */
  isHeld(offset: number): boolean;
  /** Drop every segment (the space is destroyed). */
  release(): void;
}

/** Shared zeros that `range` hands out for missing unbacked segments, grown on demand. */
let zeros = new Uint8Array(0);
function zeroView(length: number): Uint8Array {
  if (zeros.length < length) zeros = new Uint8Array(Math.max(length, 64 * 1024));
  return zeros.subarray(0, length);
}

/**
 * Segment buffers of backed spaces, dropped by evictions and by destroyed
 * spaces, for the next segment of that length made anywhere: a stream through
 * a budget drops one segment per segment it reads, and a fresh buffer costs
 * its zeroing and page faults (measured: reading a file into fresh 8 MiB
 * buffers took 2.5× as long as into a reused one). At most SPARE_SEGMENTS.
 */
const spares: Uint8Array[] = [];
const SPARE_SEGMENTS = 4;

function takeSpare(length: number): Uint8Array | undefined {
  const k = spares.findIndex((b) => b.length === length);
  return k < 0 ? undefined : spares.splice(k, 1)[0];
}

function giveSpare(bytes: Uint8Array): void {
  if (spares.length >= SPARE_SEGMENTS) spares.shift();
  spares.push(bytes);
}

/** Is the segment part of a run (its bytes a part of a larger buffer)? */
function inRun(s: Segment): boolean {
  return s.bytes.byteLength !== s.bytes.buffer.byteLength;
}

interface Segment {
  readonly bytes: Uint8Array;
  /** With a backing: 1 per page written since it was last stored. */
  readonly dirty: Uint8Array | undefined;
  dirtyCount: number;
}

class SparseHostMemory implements HostMemory {
  readonly size: number;
  readonly pageSize: number;
  readonly segmentSize: number;
  readonly #shift: number;
  readonly #pageShift: number;
  readonly #backing: HostBacking | undefined;
  readonly #budget: number;
  /** Segments by index; a Map keeps them in least-recently-used order when backed (touch = delete + set). */
  readonly #segments = new Map<number, Segment>();
  readonly stats: HostMemoryStats = { committedBytes: 0, peakBytes: 0, bytesLoaded: 0, bytesStored: 0, segmentsEvicted: 0, storeFailures: 0, readAheads: 0, readAheadHits: 0, joins: 0 };
  /** The segment being read ahead (counted in committedBytes while not abandoned). */
  #ahead: Ahead | undefined;
  /** The segment last loaded from the backing, and whether it came right after the one before (a sequential stream). */
  #lastLoaded = -2;
  #sequential = false;
  /** The error of the last store an eviction could not make (the next flushDirty() retries the pages). */
  lastStoreError: unknown = undefined;
  /** The segment last looked up (the common case: consecutive operations on one segment). */
  #lastIndex = -1;
  #last: Segment | undefined;

  constructor(size: number, pageSize: number, options: HostMemoryOptions) {
    if (!(Number.isSafeInteger(size) && size >= 0 && size % pageSize === 0)) fail(`host memory: bad size ${size}`);
    let seg = options.segmentSize ?? HOST_SEGMENT_SIZE;
    if (!((seg & (seg - 1)) === 0 && seg >= pageSize)) fail(`host memory: segment size ${seg} is not a power of two ≥ the page size ${pageSize}`);
    // A small space is one segment of its own size (no 64 MiB buffer for a 1 MiB space).
    while (seg > pageSize && seg / 2 >= size) seg /= 2;
    this.size = size;
    this.pageSize = pageSize;
    this.segmentSize = seg;
    this.#shift = Math.log2(seg);
    this.#pageShift = Math.log2(pageSize);
    this.#backing = options.backing;
    this.#budget = options.budget ?? Infinity;
    if (!(this.#budget >= 2 * seg)) fail(`host memory: budget ${this.#budget} is under two segments of ${seg}`);
  }

  get backed(): boolean {
    return this.#backing !== undefined;
  }

  #index(offset: number): number {
    return Math.floor(offset / this.segmentSize);
  }

  #segLength(i: number): number {
    return Math.min(this.segmentSize, this.size - i * this.segmentSize);
  }

  /** Segment i if held (touching it in the LRU order when backed). */
  #peek(i: number): Segment | undefined {
    if (i === this.#lastIndex) return this.#last;
    const s = this.#segments.get(i);
    if (s && this.#backing) {
      this.#segments.delete(i);
      this.#segments.set(i, s);
    }
    if (s) {
      this.#lastIndex = i;
      this.#last = s;
    }
    return s;
  }

  /** Segment i, made (and loaded from the backing) if missing. */
  #get(i: number): Segment {
    const held = this.#peek(i);
    if (held) return held;
    const len = this.#segLength(i);
    let bytes: Uint8Array | undefined;
    const a = this.#ahead;
    if (a && a.index === i) {
      this.#ahead = undefined;
      if (a.done) {
        bytes = a.bytes; // read ahead in time, and counted in committedBytes since
        this.stats.committedBytes -= len;
        this.stats.readAheadHits++;
      } else {
        this.#abandon(a); // still being read into: load it here instead
      }
    }
    if (this.#backing && this.stats.committedBytes + len > this.#budget) this.#evict(this.stats.committedBytes + len - this.#budget);
    if (!bytes) {
      // A backed segment is overwritten whole by load(): a dropped one's buffer serves (unbacked ones must start zero).
      bytes = (this.#backing ? takeSpare(len) : undefined) ?? new Uint8Array(len);
      if (this.#backing) {
        this.#backing.load(i * this.segmentSize, bytes);
        this.stats.bytesLoaded += len;
      }
    }
    const s: Segment = { bytes, dirty: this.#backing ? new Uint8Array(len >> this.#pageShift) : undefined, dirtyCount: 0 };
    this.#segments.set(i, s);
    this.#lastIndex = i;
    this.#last = s;
    this.stats.committedBytes += len;
    if (this.stats.committedBytes > this.stats.peakBytes) this.stats.peakBytes = this.stats.committedBytes;
    if (this.#backing) {
      this.#sequential = i === this.#lastLoaded + 1;
      this.#lastLoaded = i;
    }
    return s;
  }

  /**
   * A sequential stream (the last two segments loaded were consecutive, and
   * the staging path is on the second, i − 1: ready()): read segment i off
   * the JavaScript thread while the caller works on the one before it — its
   * uploads and the GPU's copies overlap the read. Within the
   * budget: the least recently used segment makes room, as for a load. The
   * file cannot change under it: only held segments are stored, and i is not
   * held until #get adopts (or abandons) the read.
   */
  #readAhead(i: number): void {
    const b = this.#backing!;
    if (!b.loadAsync || this.#ahead || i * this.segmentSize >= this.size || this.#segments.has(i)) return;
    const len = this.#segLength(i);
    if (this.#budget < 3 * this.segmentSize) return; // room for the one in use, the one before it and the next
    if (this.stats.committedBytes + len > this.#budget) this.#evict(this.stats.committedBytes + len - this.#budget);
    if (this.stats.committedBytes + len > this.#budget) return; // could not make room (a failed store)
    const a: Ahead = { index: i, bytes: takeSpare(len) ?? new Uint8Array(len), done: false, ended: undefined, abandoned: false };
    this.#ahead = a;
    this.stats.committedBytes += len;
    if (this.stats.committedBytes > this.stats.peakBytes) this.stats.peakBytes = this.stats.committedBytes;
    this.stats.readAheads++;
    this.stats.bytesLoaded += len;
    a.ended = b.loadAsync(i * this.segmentSize, a.bytes).then(
      () => {
        a.done = true;
        if (a.abandoned) giveSpare(a.bytes);
      },
      () => {
        if (this.#ahead === a) this.#abandon(a); // a failed read: the next touch loads it (and reports the error)
      },
    );
  }

  /** Give up a read ahead: no longer counted; its buffer is the spares' once its read has ended. */
  #abandon(a: Ahead): void {
    if (this.#ahead === a) this.#ahead = undefined;
    if (a.abandoned) return;
    a.abandoned = true;
    this.stats.committedBytes -= a.bytes.length;
    if (a.done) giveSpare(a.bytes);
  }

  /**
   * Drop least recently used segments until `bytes` are free (dirty pages
   * stored first). A store that fails (disk full, a read-only file) stops it:
   * memory goes over the budget rather than lose the pages, which stay dirty;
   * the next flushDirty() stores them or throws the error to its caller.
   */
  #evict(bytes: number): void {
    for (const [i, s] of this.#segments) {
      if (bytes <= 0) break;
      try {
        this.#store(i, s);
      } catch (e) {
        this.stats.storeFailures++;
        this.lastStoreError = e;
        return;
      }
      this.#drop(i, s);
      giveSpare(s.bytes); // no view of it outlives the operation that evicts it (range()/view() are used at once)
      this.stats.segmentsEvicted++;
      bytes -= s.bytes.length;
    }
  }

  #drop(i: number, s: Segment): void {
    this.#segments.delete(i);
    this.stats.committedBytes -= s.bytes.length;
    if (this.#lastIndex === i) {
      this.#lastIndex = -1;
      this.#last = undefined;
    }
  }

  /** Store segment i's dirty pages as coalesced runs. A failed store leaves the pages dirty. */
  #store(i: number, s: Segment): number {
    if (!s.dirty || s.dirtyCount === 0) return 0;
    const ps = this.pageSize;
    const base = i * this.segmentSize;
    let stored = 0;
    for (let k = 0; k < s.dirty.length;) {
      if (s.dirty[k] === 0) {
        k++;
        continue;
      }
      let e = k + 1;
      while (e < s.dirty.length && s.dirty[e] !== 0) e++;
      this.#backing!.store(base + k * ps, s.bytes.subarray(k * ps, e * ps));
      s.dirty.fill(0, k, e);
      s.dirtyCount -= e - k;
      stored += (e - k) * ps;
      k = e;
    }
    this.stats.bytesStored += stored;
    return stored;
  }

  #markDirty(s: Segment, lo: number, hi: number): void {
    const d = s.dirty;
    if (!d) return;
    for (let k = lo >> this.#pageShift, e = (hi - 1) >> this.#pageShift; k <= e; k++) {
      if (d[k] === 0) {
        d[k] = 1;
        s.dirtyCount++;
      }
    }
  }

  /** Visit the parts of [offset, end) that lie in one segment each: (segment index, offset in it, length, offset in the range). */
  #each(offset: number, end: number, fn: (i: number, lo: number, n: number, at: number) => void): void {
    for (let at = offset; at < end;) {
      const i = this.#index(at);
      const lo = at - i * this.segmentSize;
      const n = Math.min(end - at, this.segmentSize - lo);
      fn(i, lo, n, at - offset);
      at += n;
    }
  }

  readInto(offset: number, dest: Uint8Array): void {
    this.#each(offset, offset + dest.length, (i, lo, n, at) => {
      const s = this.#backing ? this.#get(i) : this.#peek(i);
      if (s) dest.set(s.bytes.subarray(lo, lo + n), at);
      else dest.fill(0, at, at + n);
    });
  }

  fill(offset: number, dest: Uint8Array): Promise<void> | undefined {
    const b = this.#backing;
    if (!b?.loadAsync) {
      this.readInto(offset, dest);
      return undefined;
    }
    // Segments in memory (their pages may be dirty) are copied; a segment being read ahead is taken
    // as #get takes it; the others are read from the store straight into dest, off the JavaScript
    // thread, and not kept: their pages are clean, and the store keeps their bytes.
    let reads: Promise<void>[] | undefined;
    this.#each(offset, offset + dest.length, (i, lo, n, at) => {
      const part = dest.subarray(at, at + n);
      const s = this.#peek(i) ?? (this.#ahead?.index === i ? this.#get(i) : undefined);
      if (s) {
        part.set(s.bytes.subarray(lo, lo + n));
        return;
      }
      this.stats.bytesLoaded += n;
      (reads ??= []).push(b.loadAsync!(i * this.segmentSize + lo, part));
    });
    if (!reads) return undefined;
    return reads.length === 1 ? reads[0] : Promise.all(reads).then(() => undefined);
  }

  slice(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.readInto(offset, out);
    return out;
  }

  write(offset: number, src: Uint8Array): void {
    this.#each(offset, offset + src.length, (i, lo, n, at) => {
      const s = this.#get(i);
      s.bytes.set(at === 0 && n === src.length ? src : src.subarray(at, at + n), lo);
      this.#markDirty(s, lo, lo + n);
    });
  }

  zero(offset: number, end: number): void {
    this.#each(offset, end, (i, lo, n) => {
      if (!this.#backing && lo === 0 && n === this.#segLength(i)) {
        const s = this.#segments.get(i);
        if (!s) return;
        if (!inRun(s)) {
          this.#drop(i, s);
          return;
        }
      }
      const s = this.#backing ? this.#get(i) : this.#peek(i);
      if (!s) return; // reads as zero already
      s.bytes.fill(0, lo, lo + n);
      this.#markDirty(s, lo, lo + n);
    });
  }

  range(offset: number, length: number): Uint8Array {
    const i = this.#index(offset);
    const lo = offset - i * this.segmentSize;
    if (lo + length <= this.segmentSize) {
      const s = this.#backing ? this.#get(i) : this.#peek(i);
      return s ? s.bytes.subarray(lo, lo + length) : zeroView(length);
    }
    return this.#joined(offset, length) ?? this.slice(offset, length);
  }

  view(offset: number, length: number): HostView {
    const i = this.#index(offset);
    const lo = offset - i * this.segmentSize;
    if (lo + length <= this.segmentSize) {
      const s = this.#get(i);
      this.#markDirty(s, lo, lo + length);
      return { view: s.bytes.subarray(lo, lo + length), commit: () => undefined };
    }
    const joined = this.#joined(offset, length);
    if (joined) return { view: joined, commit: () => undefined }; // unbacked: nothing to mark dirty
    // Spans segments: copy in, and out when the writer is done.
    const copy = this.slice(offset, length);
    return { view: copy, commit: () => this.write(offset, copy) };
  }

  /** A view of [offset, offset + length) when the segments under it are held and consecutive in one buffer (a run). */
  #joined(offset: number, length: number): Uint8Array | undefined {
    if (this.#backing) return undefined;
    const i = this.#index(offset);
    const first = this.#segments.get(i);
    if (!first || !inRun(first)) return undefined;
    const j = this.#index(offset + length - 1);
    const buffer = first.bytes.buffer;
    let at = first.bytes.byteOffset;
    for (let k = i; k <= j; k++) {
      const s = this.#segments.get(k);
      if (!s || s.bytes.buffer !== buffer || s.bytes.byteOffset !== at) return undefined;
      at += s.bytes.byteLength;
    }
    return new Uint8Array(buffer, first.bytes.byteOffset + (offset - i * this.segmentSize), length);
  }

  join(offset: number, length: number, create: boolean): boolean {
    if (this.#backing || length === 0) return false;
    let i = this.#index(offset);
    let j = this.#index(offset + length - 1);
    if (i === j || this.#joined(offset, length)) return true;
    // Whole runs only: a run left in part would keep its buffer alive through the segments left.
    const sameRun = (a: number, b: number): boolean => {
      const x = this.#segments.get(a);
      const y = this.#segments.get(b);
      return x !== undefined && y !== undefined && inRun(x) && x.bytes.buffer === y.bytes.buffer;
    };
    while (i > 0 && sameRun(i, i - 1)) i--;
    while ((j + 1) * this.segmentSize < this.size && sameRun(j, j + 1)) j++;
    const base = i * this.segmentSize;
    const total = Math.min(this.size, (j + 1) * this.segmentSize) - base;
    if (total > HOST_JOIN_MAX) return false;
    if (!create) for (let k = i; k <= j; k++) if (!this.#segments.has(k)) return false;
    let buffer: Uint8Array;
    try {
      buffer = new Uint8Array(total);
    } catch {
      return false; // no memory for it: the view copies, as without runs
    }
    for (let k = i; k <= j; k++) {
      const at = k * this.segmentSize - base;
      const len = this.#segLength(k);
      const s = this.#segments.get(k);
      if (s) buffer.set(s.bytes, at);
      else this.stats.committedBytes += len;
      this.#segments.set(k, { bytes: buffer.subarray(at, at + len), dirty: undefined, dirtyCount: 0 });
    }
    if (this.stats.committedBytes > this.stats.peakBytes) this.stats.peakBytes = this.stats.committedBytes;
    this.stats.joins++;
    this.#lastIndex = -1;
    this.#last = undefined;
    return true;
  }

  ready(offset: number, length: number): Promise<void> | undefined {
    if (!this.#backing || length === 0) return undefined;
    const lo = this.#index(offset);
    const hi = this.#index(offset + length - 1);
    const a = this.#ahead;
    if (a && !a.done && a.index >= lo && a.index <= hi) return a.ended;
    // Only a caller that awaits (the staging path) starts a read ahead: a synchronous loop over
    // segments (a host read) would touch the next one before its read ended, and read it twice.
    // On the last segment loaded, or on the next (about to be loaded): read the one after it.
    if (this.#sequential && (hi === this.#lastLoaded || hi === this.#lastLoaded + 1)) this.#readAhead(hi + 1);
    return undefined;
  }

  splitPieces(pieces: readonly Piece[]): Piece[] {
    const seg = this.segmentSize;
    let crosses = false;
    for (const p of pieces) if (this.#index(p.hostOffset) !== this.#index(p.hostOffset + p.byteLength - 1)) crosses = true;
    if (!crosses) return pieces as Piece[];
    const out: Piece[] = [];
    for (const p of pieces) {
      for (let off = 0; off < p.byteLength;) {
        const at = p.hostOffset + off;
        const n = Math.min(p.byteLength - off, seg - (at % seg));
        out.push({ hostOffset: at, window: p.window, windowOffset: p.windowOffset + off, byteLength: n });
        off += n;
      }
    }
    return out;
  }

  dirtyPages(): number[] {
    const out: number[] = [];
    const perSeg = this.segmentSize / this.pageSize;
    for (const i of [...this.#segments.keys()].sort((a, b) => a - b)) {
      const s = this.#segments.get(i)!;
      if (!s.dirty || s.dirtyCount === 0) continue;
      for (let k = 0; k < s.dirty.length; k++) if (s.dirty[k] !== 0) out.push(i * perSeg + k);
    }
    return out;
  }

  flushDirty(): number {
    let n = 0;
    for (const i of [...this.#segments.keys()].sort((a, b) => a - b)) n += this.#store(i, this.#segments.get(i)!);
    return n;
  }

  isHeld(offset: number): boolean {
    return this.#segments.has(this.#index(offset));
  }

  release(): void {
    if (this.#ahead) this.#abandon(this.#ahead);
    if (this.#backing) for (const s of this.#segments.values()) giveSpare(s.bytes);
    this.#segments.clear();
    this.#lastIndex = -1;
    this.#last = undefined;
    this.stats.committedBytes = 0;
  }
}

/** Sparse host memory for a space of `size` bytes (a multiple of `pageSize`). */
export function createHostMemory(size: number, pageSize: number, options: HostMemoryOptions = {}): HostMemory {
  return new SparseHostMemory(size, pageSize, options);
}
