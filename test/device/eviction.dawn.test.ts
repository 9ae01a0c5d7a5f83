import { expect } from 'vitest';
import { testWithDevice, KiB, MiB } from '../helpers/gpu.ts';
import { affine, copyKernel, makeSpace, readWord, u32 } from '../helpers/space.ts';
import { PinLimitError, WorkingSetTooLargeError, NotPinnedError } from '../../src/index.ts';

const P = 4 * KiB;

testWithDevice('eviction drops clean pages without a copy and writes dirty pages back first', async (ctx) => {
  const { pool, space } = await makeSpace(ctx, { capacity: 4 * P, pageSize: P }, 64 * P);
  const words = (pages: number) => (pages * P) / 4;
  await space.write(0, new Uint32Array(words(16)).map((_, i) => i));
  // Pages 0–3 read only: they become shared (clean).
  await space.dispatch(copyKernel, { workgroups: 64, read: [{ addr: 0, byteLength: 4 * P }], write: [], args: [0, 0, 0] });
  expect(space.residency(0, 4 * P).shared).toBe(4);
  let s0 = pool.stats();
  // Pages 4–7 need the whole pool: the four clean pages are dropped, nothing copied home.
  await space.dispatch(copyKernel, { workgroups: 64, read: [{ addr: 4 * P, byteLength: 4 * P }], args: [4 * P, 4 * P, 0] });
  let s1 = pool.stats();
  expect(s1.evictions - s0.evictions).toBe(4);
  expect(s1.evictionDrops - s0.evictionDrops).toBe(4);
  expect(s1.bytesToHost - s0.bytesToHost).toBe(0);
  // Pages 8–11 written by the device (dirty), then pushed out by pages 12–15: four write-backs.
  await space.dispatch(affine, { workgroups: 64, write: [{ addr: 8 * P, byteLength: 4 * P }], args: [8 * P, words(4), 2, 0] });
  s0 = pool.stats();
  await space.dispatch(affine, { workgroups: 64, write: [{ addr: 12 * P, byteLength: 4 * P }], args: [12 * P, words(4), 1, 1] });
  s1 = pool.stats();
  expect(s1.evictionWritebacks - s0.evictionWritebacks).toBe(4);
  expect(s1.bytesToHost - s0.bytesToHost).toBe(4 * P);
  expect(space.residency(8 * P, 4 * P).host).toBe(4);
  const out = u32(await space.read(0, 16 * P));
  for (let i = words(8); i < words(12); i++) expect(out[i]).toBe(i * 2);
  for (let i = words(12); i < words(16); i++) expect(out[i]).toBe(i + 1);
  space.checkInvariants();
});

testWithDevice('CLOCK gives recently used pages a second chance', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 4 * P, pageSize: P }, 64 * P);
  // The kernel must really read the page: with access counters (the default) only what the GPU touched is referenced.
  const touch = (page: number) => space.dispatch(readWord, { workgroups: 1, read: [{ addr: page * P, byteLength: 4 }], args: [page * P] });
  for (const p of [0, 1, 2, 3]) await touch(p); // pool full, all referenced
  await touch(4); // sweeps: clears every bit, takes frame of page 0
  expect(space.pageState(0 * P)).toBe('host');
  await touch(1); // page 1 referenced again
  await touch(5); // the hand is past 0; page 1 gets its second chance, page 2 goes
  expect(space.pageState(1 * P)).toBe('shared');
  expect(space.pageState(2 * P)).toBe('host');
  expect(space.pageState(4 * P)).toBe('shared');
});

testWithDevice('pin limit: pinning up to the limit works, one page more is refused with the numbers', async (ctx) => {
  const { pool, space } = await makeSpace(ctx, { capacity: 8 * P, pageSize: P, pinLimit: 4 * P }, 64 * P);
  await space.pin(0, 3 * P);
  await space.pin(3 * P, P); // exactly at the limit
  expect(pool.stats().pinnedBytes).toBe(4 * P);
  await space.pin(0, P); // pinning a pinned page again costs nothing more
  const err = await space.pin(4 * P, P).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(PinLimitError);
  expect((err as PinLimitError).message).toContain(`${4 * P}`);
  expect(space.residency(4 * P, P).unpopulated).toBe(1); // nothing moved
  space.unpin(0, P);
  space.unpin(0, P);
  expect(() => space.unpin(0, P)).toThrow(NotPinnedError);
  await space.pin(4 * P, P);
  expect(pool.stats().pinnedBytes).toBe(4 * P);
  space.checkInvariants();
});

testWithDevice('pinned pages are never evicted; host writes to them are written through', async (ctx) => {
  const { pool, space } = await makeSpace(ctx, { capacity: 6 * P, pageSize: P, pinLimit: 2 * P }, 64 * P);
  await space.write(0, new Uint32Array((2 * P) / 4).fill(7));
  await space.pin(0, 2 * P);
  for (let round = 0; round < 3; round++) {
    await space.dispatch(affine, { workgroups: 64, write: [{ addr: (8 + round * 4) * P, byteLength: 4 * P }], args: [(8 + round * 4) * P, P, 1, 1] });
  }
  expect(pool.stats().evictions).toBeGreaterThan(0);
  expect(space.residency(0, 2 * P).pinned).toBe(2);
  expect(space.residency(0, 2 * P).residentBytes).toBe(2 * P);
  await space.write(4, new Uint32Array([100]));
  expect(space.pageState(0)).toBe('shared'); // still resident, device copy refreshed
  await space.dispatch(affine, { workgroups: 32, write: [{ addr: 0, byteLength: 2 * P }], args: [0, (2 * P) / 4, 1, 1] });
  const out = u32(await space.read(0, 8));
  expect([out[0], out[1]]).toEqual([8, 101]);
  space.checkInvariants();
});

testWithDevice('a dispatch that cannot fit beside the pinned pages fails fast, moving nothing', async (ctx) => {
  const { pool, space } = await makeSpace(ctx, { capacity: 4 * P, pageSize: P, pinLimit: 2 * P }, 64 * P);
  await space.pin(0, 2 * P);
  const before = pool.stats();
  const err = await space.dispatch(affine, { workgroups: 1, write: [{ addr: 8 * P, byteLength: 3 * P }], args: [8 * P, 1, 1, 1] }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkingSetTooLargeError);
  expect((err as WorkingSetTooLargeError).neededBytes).toBe(3 * P);
  expect((err as WorkingSetTooLargeError).availableBytes).toBe(2 * P);
  const after = pool.stats();
  expect([after.bytesToDevice, after.pagesCleared, after.evictions]).toEqual([before.bytesToDevice, before.pagesCleared, before.evictions]);
  // Two pages fit beside the pins.
  await space.dispatch(affine, { workgroups: 1, write: [{ addr: 8 * P, byteLength: 2 * P }], args: [8 * P, 1, 1, 1] });
  space.checkInvariants();
});

testWithDevice('a 64 MiB pool keeps serving a space 8× its size, any order of ranges', async (ctx) => {
  const { pool, space } = await makeSpace(ctx, { capacity: 8 * MiB, pageSize: 64 * KiB }, 64 * MiB);
  const n = (64 * MiB) / 4;
  await space.write(0, new Uint32Array(n).map((_, i) => i));
  const chunk = (2 * MiB) / 4;
  const order = [...Array(n / chunk).keys()].sort((a, b) => ((a * 37) % 32) - ((b * 37) % 32));
  for (const c of order) {
    await space.dispatch(affine, { workgroups: chunk / 64, write: [{ addr: c * chunk * 4, byteLength: chunk * 4 }], args: [c * chunk * 4, chunk, 1, c] });
  }
  const out = u32(await space.read(0, 64 * MiB));
  let bad = 0;
  for (let i = 0; i < n; i++) if (out[i] !== i + Math.floor(i / chunk)) bad++;
  expect(bad).toBe(0);
  expect(pool.stats().framesUsed).toBe(pool.frameCount);
  space.checkInvariants();
});
