// The page table's named transitions (src/space/page-table.ts): each moves a
// page between states as the header's table says, reports frame changes,
// releases frames it drops, keeps the pinned-page count, and refuses a
// transition from the wrong state with an internal error (development builds
// check every transition).

import { beforeEach, describe, expect, it } from 'vitest';
import { InternalError } from '../../src/assert.ts';
import { ADVICE_MASK, CHUNK_PAGES, DENSE_PAGES, MAX_PINS, NO_FRAME, PageFlag, PageState, PageTable, type PageTableOptions } from '../../src/space/page-table.ts';

/** The layout the tests below run with: dense (one chunk), and chunked with chunks of two pages (made on first change). */
let layout: PageTableOptions = {};
const LAYOUTS: [string, PageTableOptions][] = [['dense', {}], ['chunked', { densePages: 0, chunkPages: 2 }]];

function table(pages: number) {
  const released: number[] = [];
  const changed: number[] = [];
  const t = new PageTable(pages, 16, (f) => released.push(f), (p) => changed.push(p), layout);
  return { t, released, changed };
}

for (const [name, options] of LAYOUTS) describe(`PageTable (${name})`, () => {
  beforeEach(() => {
    layout = options;
  });

  it('starts unpopulated, no frames, no pins, and satisfies its invariants', () => {
    const { t } = table(8);
    expect(Array.from({ length: 8 }, (_, p) => t.state[p])).toEqual(new Array(8).fill(PageState.Unpopulated));
    expect(Array.from({ length: 8 }, (_, p) => t.frame[p])).toEqual(new Array(8).fill(NO_FRAME));
    expect(t.pinnedPages).toBe(0);
    expect(() => t.checkInvariants()).not.toThrow();
  });

  it('stays within the 16-bytes-per-page metadata budget', () => {
    expect(PageTable.BYTES_PER_PAGE).toBeLessThanOrEqual(16);
  });

  it('install: Unpopulated or Host → Shared with a frame; tells whether it was a clear', () => {
    const { t, changed } = table(4);
    expect(t.install(0, 5)).toBe(true);
    t.invalidate(1); // written by the host
    expect(t.install(1, 6)).toBe(false);
    expect([t.state[0], t.frame[0], t.state[1], t.frame[1]]).toEqual([PageState.Shared, 5, PageState.Shared, 6]);
    expect(changed).toEqual([0, 1]);
    expect(() => t.install(0, 7)).toThrow(InternalError); // already resident
    t.checkInvariants();
  });

  it('dirty and clean: markDeviceDirty stamps, markClean and revertDirty go back', () => {
    const { t } = table(4);
    t.install(0, 1);
    const stamp = t.newDirtyStamp();
    expect(t.markDeviceDirty(0, stamp)).toBe(true);
    expect(t.markDeviceDirty(0, stamp + 1)).toBe(false); // dirty already
    expect([t.state[0], t.dirtiedBy[0]]).toEqual([PageState.Device, stamp + 1]);
    t.markClean(0);
    expect(t.state[0]).toBe(PageState.Shared);
    expect(() => t.markClean(0)).toThrow(InternalError);
    expect(() => t.markDeviceDirty(2, stamp)).toThrow(InternalError); // no frame
    t.markDeviceDirty(0, stamp);
    t.revertDirty(0);
    expect(t.state[0]).toBe(PageState.Shared);
    t.checkInvariants();
  });

  it('eviction: a dirty page goes InFlight and lands Host; a clean one goes Host at once; frames are handed back, not released', () => {
    const { t, released } = table(4);
    t.install(0, 10);
    t.install(1, 11);
    t.markDeviceDirty(0, t.newDirtyStamp());
    expect(t.beginWriteBack(0)).toBe(10);
    expect(t.evictClean(1)).toBe(11);
    expect(released).toEqual([]);
    expect([t.state[0], t.isInFlight(0), t.isResident(0), t.needsWriteback(0)]).toEqual([PageState.Device, true, false, true]);
    expect(t.state[1]).toBe(PageState.Host);
    t.checkInvariants();
    expect(t.landWriteBack(0)).toBe(true);
    expect([t.state[0], t.isInFlight(0)]).toEqual([PageState.Host, false]);
    expect(t.landWriteBack(0)).toBe(false);
  });

  it('a host write supersedes a write-back in flight and releases a resident page\'s frame', () => {
    const { t, released } = table(4);
    t.install(0, 3);
    t.markDeviceDirty(0, 1);
    t.beginWriteBack(0);
    expect(t.invalidate(0)).toBe(false); // no frame to drop, but the copy in flight is superseded
    expect(t.landWriteBack(0)).toBe(false);
    t.install(1, 4);
    expect(t.invalidate(1)).toBe(true);
    expect(released).toEqual([4]);
    expect(t.state[1]).toBe(PageState.Host);
    t.checkInvariants();
  });

  it('dropCopy releases a clean page\'s frame; a dirty one must be written back first', () => {
    const { t, released } = table(2);
    t.install(0, 9);
    t.markDeviceDirty(0, 1);
    expect(() => t.dropCopy(0)).toThrow(InternalError);
    t.markClean(0);
    t.dropCopy(0);
    expect(released).toEqual([9]);
    expect(t.state[0]).toBe(PageState.Host);
  });

  it('pins: counted per page and in all; only resident pages; never below zero; a pinned page is never invalidated or evicted', () => {
    const { t } = table(4);
    expect(() => t.pin(0)).toThrow(InternalError); // I3: pinned ⇒ resident
    t.install(0, 0);
    t.install(1, 1);
    expect(t.pin(0)).toBe(true);
    expect(t.pin(0)).toBe(false);
    expect(t.pin(1)).toBe(true);
    expect(t.pinnedPages).toBe(2);
    expect(() => t.invalidate(0)).toThrow(InternalError);
    expect(() => t.evictClean(0)).toThrow(InternalError);
    expect(t.unpin(0)).toBe(false);
    expect(t.unpin(0)).toBe(true);
    expect(t.unpin(0)).toBe(false);
    expect(t.dropPins(1)).toBe(true);
    expect(t.pinnedPages).toBe(0);
    expect(MAX_PINS).toBe(0xffff);
    t.checkInvariants();
  });

  it('depopulate: only a host page without a copy anywhere', () => {
    const { t } = table(2);
    t.install(0, 0);
    expect(() => t.depopulate(0)).toThrow(InternalError);
    t.invalidate(0);
    t.depopulate(0);
    expect(t.state[0]).toBe(PageState.Unpopulated);
  });

  it('advice: only advice bits, never both preferred locations (I5)', () => {
    const { t } = table(2);
    t.setAdvice(0, PageFlag.PreferHost | PageFlag.ReadMostly, 0);
    expect(t.flags[0]).toBe(PageFlag.PreferHost | PageFlag.ReadMostly);
    t.setAdvice(0, PageFlag.PreferDevice, PageFlag.PreferHost);
    expect(t.flags[0]).toBe(PageFlag.PreferDevice | PageFlag.ReadMostly);
    expect(() => t.setAdvice(0, PageFlag.PreferHost, 0)).toThrow(/I5/);
    expect(() => t.setAdvice(0, PageFlag.Locked, 0)).toThrow(InternalError);
    t.setAdvice(0, 0, ADVICE_MASK);
    expect(t.flags[0]).toBe(0);
  });

  it('resetDevice drops every device copy without releasing (the frame table is new); releaseAll releases and unpins', () => {
    const { t, released } = table(4);
    t.install(0, 7);
    t.install(1, 8);
    t.pin(1);
    t.markDeviceDirty(0, 1);
    t.lock(0);
    t.resetDevice();
    expect([t.state[0], t.state[1], t.frame[0], t.isLocked(0), t.pins[1]]).toEqual([PageState.Host, PageState.Host, NO_FRAME, false, 1]);
    expect(released).toEqual([]);
    t.install(1, 2); // recover uploads the pinned page again
    t.checkInvariants();
    t.releaseAll();
    expect(released).toEqual([2]);
    expect(t.pinnedPages).toBe(0);
    t.checkInvariants();
  });

  it('countMigration saturates at 65535', () => {
    const { t } = table(1);
    for (let i = 0; i < 0x10002; i++) t.countMigration(0, 'to-host');
    expect(t.toHost[0]).toBe(0xffff);
    expect(t.toDevice[0]).toBe(0);
  });

  it('counts states and tells which pages need a write-back', () => {
    const { t } = table(4);
    t.invalidate(0);
    t.install(1, 0);
    t.markDeviceDirty(1, 1);
    t.install(2, 1);
    t.install(3, 2);
    t.markDeviceDirty(3, 1);
    t.beginWriteBack(3); // evicted, its write-back not landed yet
    t.checkInvariants();
    expect(t.countInState(PageState.Device)).toBe(2);
    expect(t.needsWriteback(1)).toBe(true);
    expect(t.needsWriteback(3)).toBe(true);
    expect(t.needsWriteback(2)).toBe(false);
    // Resident means "has a frame": an InFlight page is device-only data without one.
    expect(t.isResident(2)).toBe(true);
    expect(t.isResident(0)).toBe(false);
    expect(t.isResident(3)).toBe(false);
  });
});

describe('PageTable of a 2^40-byte space (4 KiB pages: 2^28 pages)', () => {
  const PAGES = 2 ** 28;
  const far = [0, 12345, 2 ** 20 + 7, 2 ** 27, PAGES - 1];

  it('makes metadata only for the chunks touched: memory bounded by the directory plus 16 B per page of touched chunks', () => {
    const released: number[] = [];
    const t = new PageTable(PAGES, 12, (f) => released.push(f));
    const empty = t.byteSize();
    expect(empty).toBeLessThanOrEqual((PAGES / CHUNK_PAGES) * 8); // the directory alone: 2 MiB
    expect(t.chunkCount).toBe(0);
    far.forEach((p, f) => t.install(p, f));
    t.markDeviceDirty(far[2]!, t.newDirtyStamp());
    t.pin(far[4]!);
    expect(t.chunkCount).toBe(far.length);
    expect(t.byteSize() - empty).toBe(far.length * CHUNK_PAGES * PageTable.BYTES_PER_PAGE);
    // Reads of untouched pages make nothing.
    expect([t.stateOf(2 ** 26), t.frameOf(2 ** 26), t.pinsOf(2 ** 26), t.flagsOf(2 ** 26)]).toEqual([PageState.Unpopulated, NO_FRAME, 0, 0]);
    expect(t.chunkCount).toBe(far.length);
    expect(far.map((p) => t.frameOf(p))).toEqual([0, 1, 2, 3, 4]);
    expect(t.pagesWhere(0, PAGES, (p) => t.isResident(p))).toEqual(far);
    expect(t.countInState(PageState.Shared)).toBe(4);
    expect(t.countInState(PageState.Device)).toBe(1);
    expect(t.countInState(PageState.Unpopulated)).toBe(PAGES - 5);
    expect(t.frame[PAGES - 1]).toBe(4); // the read-only view (a proxy for a chunked table) reads the same
    t.checkInvariants();
    t.releaseAll();
    expect(released.sort()).toEqual([0, 1, 2, 3, 4]);
    expect(t.pinnedPages).toBe(0);
    t.checkInvariants();
  });

  it('a dense table is one chunk made at once; a table one page over DENSE_PAGES is chunked', () => {
    expect(new PageTable(DENSE_PAGES, 12).chunkCount).toBe(1);
    const t = new PageTable(DENSE_PAGES + 1, 12);
    expect(t.chunkCount).toBe(0);
    t.install(DENSE_PAGES, 9);
    expect([t.chunkCount, t.frameOf(DENSE_PAGES)]).toEqual([1, 9]);
  });

  it('a file-backed table starts every page in the Host state', () => {
    const t = new PageTable(PAGES, 12, undefined, undefined, { initial: PageState.Host });
    expect(t.stateOf(2 ** 27)).toBe(PageState.Host);
    expect(t.countInState(PageState.Host)).toBe(PAGES);
    expect(t.install(5, 0)).toBe(false); // copied from the host, not cleared
  });
});
