// The migration record (src/migrate/record.ts): every finished migration is
// noted once, and the pool's counters, the event stream and the ledger all
// hear the same record — so summed per cause, the events add up to the
// counters exactly, for every cause the runtime has (issue 14 step 2). Before
// the record, `restore` counted bytes but not pages, and an eviction's event
// counted pages a host write had superseded.

import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { affine, inPlace, makeSpace } from '../helpers/space.ts';
import { createKernel, createLedger, createSpace, type MigrationCause } from '../../src/index.ts';
import { MIGRATION_CAUSES } from '../../src/events.ts';

const P = 4 * KiB;

testWithDevice('summed per cause, the migration events add up to the pool counters and the ledger', async (ctx) => {
  const { pool, space } = await makeSpace(ctx, { capacity: 16 * P, pageSize: P }, 64 * P, { durable: false, densityPrefetch: { blockSize: 8 * P } });
  const durable = ctx.track(createSpace(pool, { size: 16 * P, durable: true, label: 'durable' }));
  const ledger = createLedger(space);
  const perCause = new Map<string, { pages: number; bytes: number; cleared: number }>();
  const add = (k: string, pages: number, bytes: number, cleared: number) => {
    const v = perCause.get(k) ?? { pages: 0, bytes: 0, cleared: 0 };
    perCause.set(k, { pages: v.pages + pages, bytes: v.bytes + bytes, cleared: v.cleared + cleared });
  };
  pool.on((e) => {
    if (e.type === 'migration') add(`${e.direction}:${e.cause}`, e.pages, e.bytes, e.cleared);
  });
  const before = pool.stats();

  // declared (with clears), explicit (host reads), eviction (a pool of 16 frames under 40 pages), demand
  // (a transaction, density prefetch alongside), snapshot and restore (tickets make commits abort),
  // durable, prefetch both ways.
  await space.write(0, new Uint32Array((32 * P) / 4).fill(1));
  await space.dispatch(affine, { workgroups: 128, write: [{ addr: 0, byteLength: 8 * P }, { addr: 48 * P, byteLength: 2 * P }], args: [0, (8 * P) / 4, 2, 1] });
  await space.read(0, P);
  await space.dispatch(inPlace, { workgroups: (32 * P) / 4 / 64, args: [0, (32 * P) / 4], demand: true });
  const tickets = createKernel({
    label: 'tickets', workgroupSize: 64,
    code: `fn kernel(inv: VmInvocation) { let i = inv.global_id.x; if (i >= vm_arg_u32(2u)) { return; }
      let t = vm_atomic_add_u32(vm_arg_u32(0u), 1u); vm_store_u32(vm_arg_u32(1u) + (t % 8u) * ${P}u, 1u); }`,
  });
  const r = await space.dispatch(tickets, { workgroups: 4, args: [40 * P, 41 * P, 256], demand: true });
  expect(r.demand!.aborts).toBeGreaterThan(0);
  await space.prefetch(0, 8 * P, { to: 'device' });
  await space.prefetch(0, 8 * P, { to: 'host' });
  await durable.dispatch(affine, { workgroups: 16, write: [{ addr: 0, byteLength: P }], args: [0, P / 4, 1, 1] });
  await space.read(0, 64 * P);

  const after = pool.stats();
  const sum = (dir: string, f: 'pages' | 'bytes' | 'cleared') => [...perCause].filter(([k]) => k.startsWith(dir)).reduce((n, [, v]) => n + v[f], 0);
  expect(sum('to-device', 'pages')).toBe(after.pagesToDevice - before.pagesToDevice);
  expect(sum('to-device', 'bytes')).toBe(after.bytesToDevice - before.bytesToDevice); // no pinned or kept page was written through
  expect(sum('to-device', 'cleared')).toBe(after.pagesCleared - before.pagesCleared);
  expect(sum('to-host', 'pages')).toBe(after.pagesToHost - before.pagesToHost);
  expect(sum('to-host', 'bytes')).toBe(after.bytesToHost - before.bytesToHost);
  // Each cause counts pages and bytes together (restore used to count only bytes).
  for (const [k, v] of perCause) expect(v.bytes, k).toBe(v.pages * P);
  // Every cause the runtime has showed up in this run.
  const seen = new Set([...perCause.keys()].map((k) => k.split(':')[1]));
  for (const c of MIGRATION_CAUSES) expect(seen.has(c), c).toBe(true);
  // The ledger (a listener of the same stream) agrees per cause for its space.
  const total = ledger.total();
  for (const c of MIGRATION_CAUSES) {
    if (c === 'durable') continue; // the durable space is another space
    expect(total.toDevice[c as MigrationCause], `ledger to-device ${c}`).toBe(perCause.get(`to-device:${c}`)?.bytes ?? 0);
    expect(total.toHost[c as MigrationCause], `ledger to-host ${c}`).toBe(perCause.get(`to-host:${c}`)?.bytes ?? 0);
  }
  ledger.close();
  space.checkInvariants();
});
