// The ledger (src/trace/ledger.ts): per-allocation figures that add up to what
// the event stream and the pool counters report, with shared pages split by
// bytes, freed allocations folded into one row, and residency read live.

import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { affine, inPlace, makeSpace } from '../helpers/space.ts';
import { createLedger, type LedgerEntry } from '../../src/index.ts';
import { MIGRATION_CAUSES } from '../../src/events.ts';

const sumCauses = (b: LedgerEntry['toDevice']) => MIGRATION_CAUSES.reduce((s, c) => s + b[c], 0);

testWithDevice('ledger: migrations, faults and evictions per allocation add up to the totals; shared pages split by bytes', async (ctx) => {
  // Density prefetch off: it would bring B and C's page along with A's faults, and this test counts what
  // one allocation's faults move.
  const { space, pool } = await makeSpace(ctx, { capacity: 64 * KiB, pageSize: 4 * KiB }, 512 * KiB, { densityPrefetch: false });
  const n = 65536; // A: 256 KiB streamed through a 64 KiB pool
  const A = space.alloc(n * 4, { align: 4 * KiB, label: 'A' });
  const B = space.alloc(128, { label: 'B' });
  const C = space.alloc(128, { label: 'C' });
  expect(Math.floor(B / 4096)).toBe(Math.floor(C / 4096)); // B and C share a page
  await space.write(A, new Uint32Array(n).fill(7));
  await space.write(B, new Uint32Array(32).fill(1));
  const before = pool.stats();
  const ledger = createLedger(space);

  const r = await space.dispatch(inPlace, { workgroups: n / 64, args: [A, n], demand: true });
  let a = ledger.entry(A)!;
  expect(a.label).toBe('A');
  // Every page the dispatch moved was A's: on a miss ('demand') or ahead of one (a slice's predicted
  // pages, 'prefetch').
  expect(a.toDevice.demand + a.toDevice.prefetch).toBe(r.bytesUploaded);
  expect(a.toDevice.demand + a.toDevice.prefetch).toBeGreaterThanOrEqual(n * 4);
  expect(a.toDevice.prefetch).toBe(r.demand!.pagesPredicted * 4 * KiB);
  expect(a.evictions).toBe(r.evictions);
  expect(a.toHost.eviction).toBe(r.writebacks * 4 * KiB);
  expect(a.faults).toBeGreaterThan(0);
  const res = space.residency(A, n * 4);
  expect(a.residentBytes).toBe(res.residentBytes);
  expect(a.deviceDirtyBytes).toBe(res.deviceDirtyBytes);
  expect(ledger.entry(B)!.toDevice.demand).toBe(0);

  // A declared write of B moves B's page: B and C get their 128 bytes each, the rest of the page is unallocated.
  await space.dispatch(affine, { workgroups: 1, write: [{ addr: B, byteLength: 128 }], args: [B, 32, 2, 1] });
  const b = ledger.entry(B)!;
  const c = ledger.entry(C)!;
  expect(b.toDevice.declared).toBe(128);
  expect(c.toDevice.declared).toBe(128);
  expect(b.deviceDirtyBytes).toBe(128);
  expect(c.residentBytes).toBe(128);
  const un = ledger.entries().find((e) => e.label === '(unallocated)')!;
  expect(un.toDevice.declared).toBe(4 * KiB - 256); // no other allocation in that page
  // The host reads B back: an explicit migration to the host.
  expect(new Uint32Array((await space.read(B, 128)).buffer)[0]).toBe(3);
  expect(ledger.entry(B)!.toHost.explicit).toBe(128);

  // Freeing C folds its figures into '(freed)'; the columns still add up.
  space.free(C);
  expect(ledger.entry(C)).toBeUndefined();
  const freed = ledger.entries().find((e) => e.label === '(freed)')!;
  expect(freed.toDevice.declared).toBe(128);
  const rows = ledger.entries();
  const total = ledger.total();
  const after = pool.stats();
  expect(sumCauses(total.toDevice)).toBe(after.bytesToDevice - before.bytesToDevice);
  expect(sumCauses(total.toHost)).toBe(after.bytesToHost - before.bytesToHost);
  expect(total.evictions).toBe(after.evictions - before.evictions);
  for (const k of ['toDevice', 'toHost'] as const) {
    for (const cause of MIGRATION_CAUSES) expect(rows.reduce((s, e) => s + e[k][cause], 0)).toBe(total[k][cause]);
  }
  expect(rows.reduce((s, e) => s + e.residentBytes, 0)).toBe(space.residency().residentBytes);
  expect(total.residentBytes).toBe(space.residency().residentBytes);

  const table = ledger.format();
  expect(table).toMatch(/^allocation/);
  expect(table).toContain(`A @0x${A.toString(16)}`);
  expect(table).toContain('(freed)');
  expect(table).toContain('(total)');

  // reset() zeroes the counts, not the residency; after close() nothing more is counted.
  ledger.reset();
  a = ledger.entry(A)!;
  expect(sumCauses(a.toDevice) + a.faults + a.evictions).toBe(0);
  expect(a.residentBytes).toBe(space.residency(A, n * 4).residentBytes);
  ledger.close();
  await space.dispatch(inPlace, { workgroups: n / 64, args: [A, n], demand: true });
  expect(sumCauses(ledger.entry(A)!.toDevice)).toBe(0);
  expect(() => createLedger({} as never)).toThrow(/createSpace/);
});
