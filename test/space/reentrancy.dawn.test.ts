// Callbacks that call back into the runtime, or throw (issue 13 items 2–4,
// 7): a subscriber's throw never leaves the host and device copies different;
// host operations called from a subscriber or a writable view run after the
// host write that is invalidating, in issue order, and a freed block always
// reads zero; view callbacks must be synchronous.

import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { affine, copyKernel, makeSpace, u32 } from '../helpers/space.ts';
import { InvalidArgumentError } from '../../src/index.ts';

const P = 4 * KiB;

testWithDevice('a throwing subscriber: the write rejects with its error, and the pinned device copy gets the new bytes', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 8 * P, pageSize: P }, 8 * P);
  await space.write(0, new Uint32Array(P / 4).fill(1));
  await space.pin(0, P);
  const boom = new Error('subscriber failed');
  const sub = space.subscribe(0, P, () => {
    throw boom;
  });
  await expect(space.write(0, new Uint32Array([5, 6]))).rejects.toBe(boom);
  sub.remove();
  // The next dispatch reads the device copy: it must hold the new bytes (it held the old ones before the fix).
  await space.dispatch(copyKernel, { workgroups: 1, read: [{ addr: 0, byteLength: 8 }], write: [{ addr: 4 * P, byteLength: 8 }], args: [0, 4 * P, 2] });
  expect(Array.from(u32(await space.read(4 * P, 8)))).toEqual([5, 6]);
  expect(Array.from(u32(await space.read(0, 12)))).toEqual([5, 6, 1]);
  space.checkInvariants();
});

testWithDevice('a throwing subscriber on a resident, unpinned page: the device copy is dropped all the same', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 8 * P, pageSize: P }, 8 * P);
  await space.dispatch(affine, { workgroups: 16, write: [{ addr: 0, byteLength: P }], args: [0, P / 4, 0, 3] });
  const sub = space.subscribe(0, 4, () => {
    throw new Error('no');
  });
  await expect(space.write(0, new Uint32Array(P / 4).fill(9))).rejects.toThrow('no');
  sub.remove();
  expect(space.pageState(0)).toBe('host');
  await space.dispatch(affine, { workgroups: 16, write: [{ addr: 0, byteLength: P }], args: [0, P / 4, 1, 1] });
  expect(u32(await space.read(0, P)).every((x) => x === 10)).toBe(true);
});

testWithDevice('free() and write() from inside a writable view run after it, in issue order; the freed block reads zero', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 8 * P, pageSize: P }, 16 * P);
  const a = space.alloc(2 * P, { align: P });
  const b = space.alloc(P, { align: P });
  await space.write(a, new Uint32Array((2 * P) / 4).fill(3));
  let inner: Promise<void> | undefined;
  await space.withView(b, P, 'write', (v) => {
    v.fill(1);
    space.free(a); // was: InternalError "nested invalidation"
    inner = space.write(b, new Uint32Array([77]));
  });
  await inner;
  expect(u32(await space.read(b, 8))[0]).toBe(77);
  expect(u32(await space.read(b, 8))[1]).toBe(0x01010101);
  // The block alloc hands out again reads zero (it read the old 3s before the fix).
  const again = space.alloc(2 * P, { align: P });
  expect(again).toBe(a);
  expect(u32(await space.read(again, 2 * P)).every((x) => x === 0)).toBe(true);
  space.checkInvariants();
});

testWithDevice('host operations from inside a subscriber run after the write that invalidated', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 8 * P, pageSize: P }, 16 * P);
  const a = space.alloc(P, { align: P });
  const b = space.alloc(P, { align: P });
  await space.write(b, new Uint32Array(P / 4).fill(4));
  const seen: Promise<Uint8Array>[] = [];
  const writes: Promise<void>[] = [];
  const sub = space.subscribe(a, P, () => {
    seen.push(space.read(a, 4)); // after the write that is invalidating: sees its bytes
    writes.push(space.write(a + 4, new Uint32Array([8])));
    space.free(b);
  });
  await space.write(a, new Uint32Array([5]));
  sub.remove();
  await Promise.all(writes);
  expect(u32(await seen[0]!)[0]).toBe(5);
  expect(Array.from(u32(await space.read(a, 8)))).toEqual([5, 8]);
  expect(u32(await space.read(b, P)).every((x) => x === 0)).toBe(true);
  space.checkInvariants();
});

testWithDevice('destroy() from inside a subscriber takes effect after the invalidation, with no internal error', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 8 * P, pageSize: P }, 8 * P);
  await space.dispatch(affine, { workgroups: 16, write: [{ addr: 0, byteLength: P }], args: [0, P / 4, 0, 3] });
  space.subscribe(0, P, () => space.destroy());
  await space.write(0, new Uint32Array([1]));
  await expect(space.read(0, 4)).rejects.toMatchObject({ code: 'DESTROYED' });
});

testWithDevice('a withView write callback that returns a promise: refused after, with its synchronous writes landed coherently', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 8 * P, pageSize: P }, 8 * P);
  await space.dispatch(affine, { workgroups: 16, write: [{ addr: 0, byteLength: P }], args: [0, P / 4, 0, 3] });
  const err = await space.withView(0, P, 'write', (v) => {
    v.fill(0);
    return Promise.resolve(1);
  }).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(InvalidArgumentError);
  expect((err as Error).message).toMatch(/It returned a promise; the bytes it wrote before returning have landed/);
  // The device copy was dropped before the callback ran: a dispatch sees the zeros.
  await space.dispatch(affine, { workgroups: 16, write: [{ addr: 0, byteLength: P }], args: [0, P / 4, 1, 2] });
  expect(u32(await space.read(0, P)).every((x) => x === 2)).toBe(true);
});

testWithDevice('an async withView callback is refused before it runs: nothing changes', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 8 * P, pageSize: P }, 8 * P);
  await space.write(0, new Uint32Array([1, 2]));
  let ran = false;
  await expect(space.withView(0, P, 'write', async (v) => {
    ran = true;
    v[0] = 9;
  })).rejects.toBeInstanceOf(InvalidArgumentError);
  expect(ran).toBe(false);
  expect(Array.from(u32(await space.read(0, 8)))).toEqual([1, 2]);
});

testWithDevice('write-through bytes count in the pool\'s upload counters; a raw SharedArrayBuffer is accepted', async (ctx) => {
  const { pool, space } = await makeSpace(ctx, { capacity: 8 * P, pageSize: P, uploadPath: 'writeBuffer' }, 8 * P);
  await space.write(0, new Uint32Array(P / 4).fill(1));
  await space.pin(0, P);
  const before = pool.stats().uploadWriteBufferBytes;
  const sab = new SharedArrayBuffer(16);
  new Uint32Array(sab).set([4, 3, 2, 1]);
  await space.write(64, sab);
  expect(pool.stats().uploadWriteBufferBytes - before).toBe(16);
  expect(Array.from(u32(await space.read(64, 16)))).toEqual([4, 3, 2, 1]);
  await space.dispatch(copyKernel, { workgroups: 1, read: [{ addr: 0, byteLength: P }], write: [{ addr: 4 * P, byteLength: 16 }], args: [64, 4 * P, 4] });
  expect(Array.from(u32(await space.read(4 * P, 16)))).toEqual([4, 3, 2, 1]);
});
