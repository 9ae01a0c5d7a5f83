// Strict mode's bypass detector. The runtime can only keep device copies
// coherent if every host write goes through it (space.write, withView 'write');
// a write through a view kept past its callback silently leaves the device with
// old bytes. In strict mode a space keeps a 32-bit hash of each device-valid
// page's host bytes as they were when the page was last uploaded (or cleared,
// or written back), and before each dispatch rehashes those the dispatch may
// touch: a mismatch is a write that bypassed the runtime.
//
// Who calls what: migrate/ records pages as it finalizes them (upload, clear,
// write-back); the space's host-write path records pinned pages it writes
// through; fault/ scans before programming the device. Pages that are not
// device-valid are never scanned, so their stale hashes do no harm.
//
// Cost: 5 bytes a page, one hash of each page that moves, and before each
// dispatch one hash of each resident page it may touch (declared: its ranges;
// demand: the whole space) — bench/observability.ts measures it.

import type { HostMemory } from './host-memory.ts';
import { PageArray } from './page-array.ts';
import { HostBypassError, UnexpectedFaultError } from '../errors.ts';
import type { SpaceCore } from './state.ts';
import { NO_FRAME, pageRanges, PageState, type PageTable } from './page-table.ts';

/**
 * A 32-bit hash of `length` bytes (a multiple of 16) at a 4-aligned `offset`:
 * four interleaved FNV-1a lanes over 32-bit words, mixed at the end. Four
 * lanes run about twice as fast as one in V8 (independent multiplies), near
 * 5 GB/s on this project's CI machines; each lane is order-sensitive.
 */
export function hashBytes(host: Uint8Array, offset: number, length: number): number {
  const w = new Int32Array(host.buffer, host.byteOffset + offset, length >>> 2);
  let a = 0x811c9dc5 | 0;
  let b = 0x01000193;
  let c = length | 0;
  let d = 0x9e3779b9 | 0;
  for (let i = 0; i + 3 < w.length; i += 4) {
    a = Math.imul(a ^ w[i]!, 0x01000193);
    b = Math.imul(b ^ w[i + 1]!, 0x01000193);
    c = Math.imul(c ^ w[i + 2]!, 0x01000193);
    d = Math.imul(d ^ w[i + 3]!, 0x01000193);
  }
  return (Math.imul(a, 0x85ebca6b) ^ Math.imul(b, 0xc2b2ae35) ^ Math.imul(c, 0x27d4eb2f) ^ d) >>> 0;
}

export class BypassDetector {
  readonly #host: HostMemory;
  readonly #pageSize: number;
  readonly #sums: PageArray;
  /** 1 where #sums holds the hash of the page's last upload, clear or write-back. */
  readonly #known: PageArray;
  readonly #zeroSum: number;

  constructor(host: HostMemory, pageSize: number, pageCount: number) {
    this.#host = host;
    this.#pageSize = pageSize;
    this.#sums = new PageArray(Uint32Array, pageCount);
    this.#known = new PageArray(Uint8Array, pageCount);
    this.#zeroSum = hashBytes(new Uint8Array(pageSize), 0, pageSize);
  }

  /** The device copy of page p now equals its host bytes (uploaded, written back, written through). */
  record(p: number): void {
    this.#sums.set(p, hashBytes(this.#host.range(p * this.#pageSize, this.#pageSize), 0, this.#pageSize));
    this.#known.set(p, 1);
  }

  /** Page p got a zeroed frame: its host bytes should be zero too. */
  recordCleared(p: number): void {
    this.#sums.set(p, this.#zeroSum);
    this.#known.set(p, 1);
  }

  /** Device-valid pages (of `pages`, ascending, or of the whole space) whose host bytes changed since they were recorded. */
  scan(table: PageTable, pages?: Uint32Array): number[] {
    const out: number[] = [];
    const visit = (p: number): void => {
      const s = table.stateOf(p);
      if ((s !== PageState.Shared && s !== PageState.Device) || this.#known.get(p) === 0 || table.frameOf(p) === NO_FRAME) return;
      if (hashBytes(this.#host.range(p * this.#pageSize, this.#pageSize), 0, this.#pageSize) !== this.#sums.get(p)) out.push(p);
    };
    if (pages) for (const p of pages) visit(p);
    else table.forEachTouched(0, table.pageCount, (a, b) => {
      for (let p = a; p < b; p++) visit(p);
    });
    return out;
  }
}

/**
 * Before a dispatch programs the device (under the pool lock): find host writes
 * that bypassed the runtime in the pages it may touch — its declared pages
 * (`pages`), or every page for a demand-paged dispatch. A bypassed page no
 * dispatch touches does no harm yet; it is caught when one does. Pages valid
 * on both sides adopt their new host bytes, as if written through space.write
 * (device copy dropped, subscribers told); pages whose only valid copy is on
 * the device keep it. Then the
 * dispatch is refused with the ranges, so the user sees the bug once, where it
 * happened, and the space is coherent again.
 */
export function checkBypass(space: SpaceCore, kernel: string, pages?: Uint32Array): void {
  const d = space.bypass;
  if (!d) return;
  const changed = d.scan(space.table, pages);
  if (changed.length === 0) return;
  const t = space.table;
  const ps = space.pageSize;
  const conflicting = changed.filter((p) => t.stateOf(p) === PageState.Device);
  for (const r of pageRanges(changed.filter((p) => t.stateOf(p) === PageState.Shared), ps)) {
    space.hostWrite(r.addr, r.addr + r.byteLength, () => undefined);
  }
  for (const p of conflicting) d.record(p); // reported once; the device copy stays the truth
  const ranges = pageRanges(changed, ps);
  const bus = space.pool.events;
  if (bus.active) bus.emit({ type: 'bypass', time: performance.now(), space: space.label, spaceId: space.id, kernel, ranges });
  throw new HostBypassError(kernel, ranges, pageRanges(conflicting, ps));
}

/**
 * After a dispatch made with `expectNoFaults` completed: report the pages it
 * had to bring in. Always an event; in strict mode also an error (the
 * dispatch's results are valid either way).
 */
export function reportUnexpectedFaults(space: SpaceCore, kernel: string, pages: readonly number[]): void {
  if (pages.length === 0) return;
  const list = Uint32Array.from(pages).sort();
  const bus = space.pool.events;
  if (bus.active) bus.emit({ type: 'unexpected-fault', time: performance.now(), space: space.label, spaceId: space.id, kernel, pages: list.length, pageList: list });
  if (space.bypass) throw new UnexpectedFaultError(kernel, pageRanges(list, space.pageSize), list.length * space.pageSize);
}
