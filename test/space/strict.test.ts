// Strict mode's detector without a GPU: the hash sees any changed word, and
// the scan reports exactly the device-valid pages whose host bytes changed.

import { createHostMemory } from '../../src/space/host-memory.ts';
import { expect, test } from 'vitest';
import fc from 'fast-check';
import { BypassDetector, hashBytes } from '../../src/space/strict.ts';
import { pageRanges, PageState, PageTable } from '../../src/space/page-table.ts';

const PS = 4096;

test('hashBytes changes when any one word of a page changes, and depends on position', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: PS / 4 - 1 }), fc.integer({ min: 1, max: 0xffffffff }), (i, delta) => {
      const page = new Uint32Array(PS / 4).map((_, k) => Math.imul(k, 2654435761));
      const bytes = new Uint8Array(page.buffer);
      const before = hashBytes(bytes, 0, PS);
      page[i] = (page[i]! + delta) >>> 0;
      return hashBytes(bytes, 0, PS) !== before;
    }),
  );
  const a = new Uint32Array(PS / 4);
  const b = new Uint32Array(PS / 4);
  a[0] = 1;
  b[1] = 1;
  expect(hashBytes(new Uint8Array(a.buffer), 0, PS)).not.toBe(hashBytes(new Uint8Array(b.buffer), 0, PS));
});

test('scan reports changed device-valid pages only; recorded, cleared and host-only pages stay quiet', () => {
  const pages = 8;
  const mem = createHostMemory(pages * PS, PS);
  const host = mem.view(0, pages * PS).view; // one segment: a view straight into it, as a bypassing writer would keep
  const table = new PageTable(pages, 12);
  const d = new BypassDetector(mem, PS, pages);
  host.fill(5, 1 * PS, 2 * PS);
  for (const p of [0, 1, 2, 3]) {
    table.install(p, p);
    if (p === 3) table.markDeviceDirty(p, table.newDirtyStamp());
  }
  d.recordCleared(0); // page 0 is zero: its clear hash matches
  d.record(1);
  d.record(2);
  d.record(3);
  expect(d.scan(table)).toEqual([]);
  host[2 * PS + 100] = 1; // shared page 2 changed behind the runtime's back
  host[3 * PS] = 9; // device page 3's stale host copy scribbled on
  host[5 * PS] = 7; // page 5 lives on the host only: not the detector's business
  expect(d.scan(table)).toEqual([2, 3]);
  d.record(2);
  expect(d.scan(table)).toEqual([3]);
  host[0] = 1; // a cleared page's host bytes must stay zero
  expect(d.scan(table)).toEqual([0, 3]);
});

test('pageRanges merges runs of consecutive pages', () => {
  expect(pageRanges([1, 2, 3, 7, 9, 10], PS)).toEqual([
    { addr: PS, byteLength: 3 * PS }, { addr: 7 * PS, byteLength: PS }, { addr: 9 * PS, byteLength: 2 * PS },
  ]);
  expect(pageRanges([], PS)).toEqual([]);
});
