// The virtual allocator of one address space: hands out byte ranges of
// [NULL_GUARD, size) with an alignment, first fit over a sorted, coalesced free
// list. It knows nothing of pages or residency; the space drops the pages a
// free() releases. O(free blocks) per call, which stays small for the
// allocation patterns this runtime serves (few, large arrays and arenas).

import { DoubleFreeError, InvalidArgumentError, OutOfVirtualMemoryError, UnknownAllocationError } from '../errors.ts';
import { checkByteCount, isPowerOfTwo } from '../options.ts';

export interface Block {
  readonly addr: number;
  readonly byteLength: number;
}

export interface Allocation extends Block {
  /** The label given to alloc(), or '' for none. */
  readonly label: string;
}

export class VirtualAllocator {
  readonly #size: number;
  /** Free blocks as parallel sorted arrays of [start, end). */
  #starts: number[];
  #ends: number[];
  /** Live allocations: start → byte length. */
  readonly #live = new Map<number, number>();
  /** Starts of freed blocks not handed out again, to tell a double free from a foreign address. */
  readonly #freed = new Set<number>();
  /** Labels of live allocations that were given one. */
  readonly #labels = new Map<number, string>();
  #used = 0;
  #version = 0;

  constructor(size: number, reservedLow: number) {
    this.#size = size;
    this.#starts = reservedLow < size ? [reservedLow] : [];
    this.#ends = reservedLow < size ? [size] : [];
  }

  get usedBytes(): number {
    return this.#used;
  }

  get liveCount(): number {
    return this.#live.size;
  }

  /** Bumped by every alloc and free: a cache of live() is current while this is unchanged. */
  get version(): number {
    return this.#version;
  }

  /** Live allocations in address order. */
  live(): Allocation[] {
    return [...this.#live].sort((a, b) => a[0] - b[0]).map(([addr, byteLength]) => ({ addr, byteLength, label: this.#labels.get(addr) ?? '' }));
  }

  largestFree(): number {
    let m = 0;
    for (let i = 0; i < this.#starts.length; i++) m = Math.max(m, this.#ends[i]! - this.#starts[i]!);
    return m;
  }

  sizeOf(addr: number): number | undefined {
    return this.#live.get(addr);
  }

  alloc(byteLength: number, align: number, label = ''): number {
    checkByteCount('alloc size', byteLength);
    if (!isPowerOfTwo(align)) throw new InvalidArgumentError(`alloc alignment must be a power of two, got ${String(align)}`);
    for (let i = 0; i < this.#starts.length; i++) {
      const start = this.#starts[i]!;
      const end = this.#ends[i]!;
      const addr = Math.ceil(start / align) * align;
      if (addr + byteLength > end) continue;
      // Split [start, end) into [start, addr) + allocation + [addr+len, end).
      const tail = addr + byteLength;
      const pieces: [number, number][] = [];
      if (addr > start) pieces.push([start, addr]);
      if (tail < end) pieces.push([tail, end]);
      this.#starts.splice(i, 1, ...pieces.map((p) => p[0]));
      this.#ends.splice(i, 1, ...pieces.map((p) => p[1]));
      this.#live.set(addr, byteLength);
      if (label !== '') this.#labels.set(addr, label);
      this.#freed.delete(addr);
      this.#used += byteLength;
      this.#version++;
      return addr;
    }
    throw new OutOfVirtualMemoryError(byteLength, this.largestFree(), this.#size);
  }

  free(addr: number): Block {
    const byteLength = this.#live.get(addr);
    if (byteLength === undefined) {
      if (this.#freed.has(addr)) throw new DoubleFreeError(addr);
      throw new UnknownAllocationError(addr);
    }
    this.#live.delete(addr);
    this.#labels.delete(addr);
    this.#freed.add(addr);
    this.#version++;
    this.#used -= byteLength;
    const end = addr + byteLength;
    // Insert [addr, end) keeping order, merging with neighbours.
    let lo = 0;
    let hi = this.#starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#starts[mid]! < addr) lo = mid + 1;
      else hi = mid;
    }
    const mergePrev = lo > 0 && this.#ends[lo - 1] === addr;
    const mergeNext = lo < this.#starts.length && this.#starts[lo] === end;
    if (mergePrev && mergeNext) {
      this.#ends[lo - 1] = this.#ends[lo]!;
      this.#starts.splice(lo, 1);
      this.#ends.splice(lo, 1);
    } else if (mergePrev) {
      this.#ends[lo - 1] = end;
    } else if (mergeNext) {
      this.#starts[lo] = addr;
    } else {
      this.#starts.splice(lo, 0, addr);
      this.#ends.splice(lo, 0, end);
    }
    return { addr, byteLength };
  }

  /** Free blocks, for tests and diagnostics. */
  freeBlocks(): Block[] {
    return this.#starts.map((s, i) => ({ addr: s, byteLength: this.#ends[i]! - s }));
  }
}
