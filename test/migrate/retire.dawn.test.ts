// retire (src/migrate/migrate.ts): a demand dispatch evicts the pages a stream
// has moved past before a pass, to fetch the next slice's pages into free
// frames while the pass runs. Device-dirty pages go home as any eviction's do,
// clean ones are dropped; pinned, Locked and non-resident pages are left alone;
// the frames come free.

import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { affine, coreOf, makeSpace, u32 } from '../helpers/space.ts';
import { emptyReport, retire } from '../../src/migrate/migrate.ts';

const P = 4 * KiB;

testWithDevice('retire: dirty pages written home, clean ones dropped, pinned, locked and absent ones kept; their frames come free', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 16 * P, pageSize: P }, 16 * P);
  const core = coreOf(space);
  const t = core.table;
  const words = (8 * P) / 4;
  await space.write(0, new Uint32Array(words).map((_, i) => i));
  // Pages 0-3 dirty on the device (a[i] = 3a[i] + 1), 4-7 resident and clean.
  await space.dispatch(affine, { workgroups: Math.ceil(words / 2 / 64), write: [{ addr: 0, byteLength: 4 * P }], args: [0, words / 2, 3, 1] });
  await space.prefetch(4 * P, 4 * P, { to: 'device' });
  await space.pin(3 * P, P); // page 3: pinned
  expect(space.pageState(0)).toBe('device');
  expect(space.pageState(4 * P)).toBe('shared');
  const free0 = core.pool.frames.freeCount;
  const report = emptyReport();
  const gone = await core.pool.withLock(async () => {
    t.lock(2); // page 2: Locked (a migration holds it)
    try {
      return await retire(core, [0, 1, 2, 3, 4, 5, 9], report); // page 9 was never resident
    } finally {
      t.unlock(2);
    }
  });
  expect(gone).toBe(4); // 0, 1 (dirty), 4, 5 (clean)
  expect(report.evictions).toBe(4);
  expect(report.writebacks).toBe(2);
  expect(core.pool.frames.freeCount).toBe(free0 + 4);
  await core.pool.settleWriteBacks();
  for (const p of [0, 1, 4, 5]) expect(t.isResident(p)).toBe(false);
  for (const p of [2, 3, 6, 7]) expect(t.isResident(p)).toBe(true);
  // The device's values came home with the write-back.
  const got = u32(await space.read(0, 8 * P));
  for (let i = 0; i < words; i++) expect(got[i]).toBe(i < words / 2 ? (3 * i + 1) >>> 0 : i);
  space.unpin(3 * P, P);
  space.checkInvariants();
});
