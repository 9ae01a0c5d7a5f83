// The internal state of one address space, shared by the mechanisms that act
// on it (migrate/, fault/, the public facade in address-space.ts): host
// backing, page table, device page table, notifier, allocator. The host-write
// path lives here because it is the notifier's main client: it is the one
// place where device copies are dropped for coherence.

import { DestroyedError, InvalidArgumentError, OutOfRangeError, type LostRange } from '../errors.ts';
import { GpuPageTable } from '../device/gpu-page-table.ts';
import { PoolImpl, type PoolMember } from '../device/pool.ts';
import { IntervalNotifier } from '../notify/notifier.ts';
import { NULL_GUARD } from '../options.ts';
import { VirtualAllocator } from './allocator.ts';
import { pageRanges, PageState, PageTable } from './page-table.ts';
import { BypassDetector } from './strict.ts';
import { createHostMemory, type HostMemory, type HostMemoryOptions } from './host-memory.ts';
import type { Piece } from '../device/transfer.ts';

/**
 * What the mechanisms ask of a space's policies and tell them (src/policy/hub.ts
 * implements it; the facade makes it, so that space/ does not depend on policy/).
 * Policies decide; they never change state themselves.
 */
export interface PolicyPort {
  /** Some page may be in an eviction tier other than normal (advice, thrashing holds). */
  readonly tiered: boolean;
  /** Advice with a preferred location was given: eviction must ask for tiers from now on. */
  noteTiers(): void;
  /** Each page's eviction tier, with the clock read once. */
  tiers(): (p: number) => number;
  /** A host write to resident, unpinned page p: write the bytes through instead of dropping the copy? */
  writeThrough(p: number): boolean;
  /** Pages to fetch with a demand fault batch (ascending; none present; at most `room`). */
  prefetchFor(faulted: readonly number[], lockSet: ReadonlySet<number>, room: number): number[];
  /** Pages to fetch before the demand slice [lo, hi) runs, predicted from the slices before it (ascending; none present). */
  predictSlice(history: readonly { readonly lo: number; readonly hi: number; readonly pages: Uint32Array; readonly predicted?: Uint32Array | undefined }[], lo: number, hi: number): number[];
  /** Pages most of a demand dispatch's slices touched so far, to hold for the next (`heat` a SliceHeat of src/policy; most often touched first). */
  hotPages(heat: { hot(): number[] }): number[];
  /** Pages a demand transaction's commit may also write: the page after each run of `writes` (ascending). */
  writeAhead(writes: ReadonlySet<number>): number[];
  /** Pages of a demand dispatch's last slices it may evict before the current slice's pass (ascending). */
  retiring(history: readonly { readonly lo: number; readonly hi: number; readonly pages: Uint32Array; readonly predicted?: Uint32Array | undefined }[]): number[];
  /** A finished migration (src/migrate/record.ts). */
  heard(r: { readonly direction: 'to-device' | 'to-host'; readonly cause: string; readonly pages: readonly number[]; readonly cleared: readonly number[] }): void;
  /** Device copies dropped because the host wrote the pages. */
  invalidated(pages: ArrayLike<number>): void;
  /** Pages [first, end) were freed. */
  forget(first: number, end: number): void;
}

/**
 * What a space backed by a store (a file: src/node/file-space.ts) sets up
 * besides its options: its host memory's backing, segment size and budget,
 * and the state of untouched pages (Host: their bytes are in the store).
 */
export interface SpaceBacking {
  readonly host?: HostMemoryOptions;
  readonly initial?: PageState;
}

/** A pool whose members are address spaces (the pool itself knows them only as PoolMembers). */
export type SpacePool = PoolImpl<SpaceCore>;

export class SpaceCore implements PoolMember {
  readonly id: number;
  readonly pool: SpacePool;
  readonly size: number;
  readonly pageSize: number;
  readonly pageShift: number;
  readonly pageCount: number;
  /** The host side: sparse segments made where touched (src/space/host-memory.ts). */
  readonly host: HostMemory;
  readonly table: PageTable;
  /** The device page table: made anew on a new device by rebind(). (The passes' own buffers: src/fault/pass-resources.ts.) */
  gpt: GpuPageTable;
  readonly notifier = new IntervalNotifier();
  readonly allocator: VirtualAllocator;
  readonly label: string;
  /** Pages of this space with pins > 0 (its share of pool.pinnedPages; groups sum it): the page table's count. */
  get pinnedPages(): number {
    return this.table.pinnedPages;
  }
  /** Strict mode only: hashes of device-valid pages' host bytes (src/space/strict.ts). */
  readonly bypass: BypassDetector | undefined;
  /** The space's policies (density prefetch, thrashing) and the decisions applied from them: src/policy/hub.ts. */
  readonly policies: PolicyPort;
  #detached = false;
  #destroyed = false;
  /** destroy() was called from inside an invalidation of this space (a subscriber or a writable view): done when it ends. */
  #destroyAfterInvalidation = false;
  /** What the modules that own resources of this space (fault/pass-resources.ts) give back when it is destroyed. */
  readonly #disposers: (() => void)[] = [];

  constructor(
    id: number, pool: SpacePool, size: number, label: string, strict: boolean, policies: (space: SpaceCore) => PolicyPort,
    backing: SpaceBacking = {},
  ) {
    this.id = id;
    this.pool = pool;
    this.size = size;
    this.pageSize = pool.pageSize;
    this.pageShift = pool.options.pageShift;
    this.pageCount = size / this.pageSize;
    this.label = label;
    this.host = createHostMemory(size, this.pageSize, backing.host ?? {});
    // Frames go back to the pool's frame table (replaced by recover(): read it at each release), and
    // every frame change marks the device page table's entry for the next flush.
    this.table = new PageTable(this.pageCount, this.pageShift, (f) => this.pool.frames.release(f), (p) => this.gpt.changed(p), { initial: backing.initial ?? PageState.Unpopulated });
    this.bypass = strict ? new BypassDetector(this.host, this.pageSize, this.pageCount) : undefined;
    this.allocator = new VirtualAllocator(size, Math.min(NULL_GUARD, size));
    this.policies = policies(this);
    const device = pool.device;
    this.gpt = new GpuPageTable(device, this.table.frame, label, { frameOf: (p) => this.table.frameOf(p) });
  }

  /** Run `fn` when the space is destroyed (resources other modules made for it). */
  onDestroy(fn: () => void): void {
    this.#disposers.push(fn);
  }

  get destroyed(): boolean {
    return this.#destroyed || this.#destroyAfterInvalidation;
  }

  /**
   * A host write of this space is running its invalidation (subscribers are
   * being called, or a writable view's callback runs): host operations called
   * now must wait until it has finished (address-space.ts queues them).
   */
  get invalidating(): boolean {
    return this.notifier.busy;
  }

  check(): void {
    if (this.destroyed) throw new DestroyedError('this address space');
    if (this.#detached) {
      this.pool.check(this);
      throw new DestroyedError('the pool of this address space');
    }
    this.pool.check(this);
  }

  /** Validate a byte range [addr, addr + byteLength) of this space; throws a typed error naming the fix. */
  checkRange(what: string, addr: unknown, byteLength: unknown, allowZero = false): void {
    if (typeof addr !== 'number' || !Number.isInteger(addr) || addr < 0) {
      throw new InvalidArgumentError(`${what}: address must be a non-negative whole number, got ${String(addr)}`);
    }
    if (typeof byteLength !== 'number' || !Number.isInteger(byteLength) || byteLength < 0 || (!allowZero && byteLength === 0)) {
      throw new InvalidArgumentError(`${what}: byteLength must be a ${allowZero ? 'non-negative' : 'positive'} whole number, got ${String(byteLength)}`);
    }
    if (addr + byteLength > this.size || (byteLength === 0 && addr > this.size)) {
      throw new OutOfRangeError(what, addr, byteLength, this.size);
    }
  }

  isPinned(p: number): boolean {
    return this.table.pinsOf(p) > 0;
  }

  frameOf(p: number): number {
    return this.table.frameOf(p);
  }

  pageOf(addr: number): number {
    return Math.floor(addr / this.pageSize);
  }

  /**
   * The host-write path. Invalidates [start, end) through the notifier — every
   * overlapping subscriber hears of it, and device copies of the pages are
   * dropped (pinned pages keep their frame and get the new bytes written
   * through, and so do resident pages whose advice or thrashing hold says to
   * keep the device copy: policies.writeThrough) — then runs `write`, which
   * puts the bytes in host memory.
   *
   * The caller guarantees that no page in the range that `write` only partly
   * overwrites is still device-only (address-space.ts migrates those back
   * first); a device-only page fully overwritten needs no migration.
   */
  hostWrite(start: number, end: number, write: () => void): void {
    const first = this.pageOf(start);
    const last = this.pageOf(end - 1);
    const t = this.table;
    const writeThrough: number[] = [];
    const droppedPages: number[] = [];
    let dropped = 0;
    // A subscriber that throws does not stop the write: the notifier still runs `apply`, and the
    // write-through below still refreshes the device copies it keeps, so both copies agree; the
    // error is reported after (issue 13: a throwing subscriber had left pinned pages stale).
    let failure: { error: unknown } | undefined;
    try {
      this.notifier.invalidate(start, end, () => {
        for (let p = first; p <= last; p++) {
          if (t.pinsOf(p) > 0 || (t.isResident(p) && this.policies.writeThrough(p))) {
            // Pinned ⇒ resident (and a kept page is resident): keep the frame, refresh it after the bytes land.
            writeThrough.push(p);
            continue;
          }
          // A copy on its way home (an eviction's) is superseded too: the host bytes we write win.
          if (t.invalidate(p)) {
            this.pool.counters.invalidations++;
            dropped++;
            droppedPages.push(p);
          }
        }
        write();
      });
    } catch (e) {
      failure = { error: e };
    }
    if (writeThrough.length > 0 && !this.pool.destroyed) {
      const ps = this.pageSize;
      const wfr = this.pool.frames.windowFrames;
      const pieces: Piece[] = [];
      for (const p of writeThrough) {
        const f = t.frameOf(p);
        // writeBuffer moves whole 4-byte words (an offset or size that is not a multiple of 4
        // throws): widen to the words the write touches. They stay inside the page, whose host
        // copy is valid — a partly written device-only page came home first (found by the
        // differential fuzzer: a 1-byte write to a pinned page threw OperationError).
        const lo0 = Math.max(start, p * ps);
        const lo = lo0 - (lo0 % 4);
        const hi = Math.ceil(Math.min(end, (p + 1) * ps) / 4) * 4;
        pieces.push({ hostOffset: lo, window: Math.floor(f / wfr), windowOffset: (f % wfr) * ps + (lo - p * ps), byteLength: hi - lo });
        t.writtenThrough(p);
        this.bypass?.record(p);
        this.pool.counters.bytesToDevice += hi - lo;
      }
      this.pool.transfer.writeBuffer(this.host, pieces);
    }
    const bus = this.pool.events;
    if (bus.active && dropped + writeThrough.length > 0) {
      bus.emit({
        type: 'invalidation', time: performance.now(), space: this.label, spaceId: this.id, addr: start, byteLength: end - start,
        pagesDropped: dropped, pagesWrittenThrough: writeThrough.length,
      });
    }
    this.policies.invalidated(droppedPages);
    if (this.#destroyAfterInvalidation) this.destroy();
    if (failure) throw failure.error;
  }

  /** Ranges whose only valid copy is on the device (for DeviceLostError). */
  deviceOnlyRanges(): LostRange[] {
    const t = this.table;
    const pages = t.pagesWhere(0, this.pageCount, (p) => t.stateOf(p) === PageState.Device);
    return pageRanges(pages, this.pageSize);
  }

  /**
   * pool.recover() moved the pool to a new device (src/device/loss.ts): every
   * page drops its device copy — the frame table is new — and keeps its host
   * bytes (device-only pages' bytes are stale: the loss reported them); the
   * GPU buffers are made on the new device. Pins stay: the pool uploads the
   * pinned pages again.
   */
  rebind(): void {
    this.gpt.destroy();
    this.gpt = new GpuPageTable(this.pool.device, this.table.frame, this.label, { frameOf: (p) => this.table.frameOf(p) });
    this.table.resetDevice(); // after the new device page table exists: it hears the change
  }

  detachFromPool(): void {
    this.#detached = true;
  }

  destroy(): void {
    if (this.#destroyed) return;
    if (this.notifier.busy) {
      // Called from a subscriber or a writable view: the running host write still uses the page
      // table and frames; hostWrite() destroys the space when the invalidation has finished.
      this.#destroyAfterInvalidation = true;
      return;
    }
    if (!this.#detached) {
      this.table.releaseAll();
      this.pool.unregisterSpace(this.id);
    }
    this.#destroyed = true;
    this.gpt.destroy();
    for (const fn of this.#disposers.splice(0)) fn();
    this.host.release(); // a backed space's unflushed changes go with it (close() flushes first)
  }
}

/** The public objects (pools from createPool, spaces from createSpace) and what is behind them. */
const facades = new WeakMap<object, SpaceCore>();

/** The facade of a space (src/api/address-space.ts) registers its core, for the observers that take a public space. */
export function registerFacade(facade: object, core: SpaceCore): void {
  facades.set(facade, core);
}

/** The state behind a space from createSpace() (for the ledger, the trace, benchmarks); a typed error for anything else. */
export function spaceCore(space: unknown, what: string): SpaceCore {
  const c = typeof space === 'object' && space !== null ? facades.get(space) : undefined;
  if (!c) throw new InvalidArgumentError(`${what}: pass an AddressSpace from createSpace()`);
  return c;
}

/** The pool behind a Pool from createPool(), or undefined for anything else. */
export function spacePool(pool: unknown): SpacePool | undefined {
  return pool instanceof PoolImpl ? (pool as SpacePool) : undefined;
}
