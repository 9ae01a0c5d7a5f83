// Lifetimes the platform's way, on Dawn: `using` and `await using` on pools,
// spaces, ledgers, trace recorders and the Node device (an async dispose waits
// for what was issued before it, then destroys; a sync one destroys now).

import { expect, test } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { inPlace, poolImpl, u32 } from '../helpers/space.ts';
import { requestNodeDevice } from '../../src/node.ts';
import {
  createLedger, createPool, createSpace, DestroyedError, recordTrace, type AddressSpace, type Pool,
} from '../../src/index.ts';

const PS = 4 * KiB;

testWithDevice('using: a space and a pool are destroyed at the end of the scope; a ledger and a trace recorder stop listening', async (ctx) => {
  const pool = ctx.track(await createPool(ctx.device, { capacity: 16 * PS, pageSize: PS }));
  const bus = poolImpl(pool).events;
  let space!: AddressSpace;
  {
    using s = createSpace(pool, { size: 16 * PS });
    using ledger = createLedger(s);
    using rec = recordTrace(pool);
    space = s;
    expect(bus.listenerCount).toBe(2);
    await s.write(0, new Uint32Array([1, 2]));
    await s.prefetch(0, PS, { to: 'device' });
    expect(ledger.total().residentBytes).toBe(PS);
    expect(rec.eventCount).toBeGreaterThan(0);
  }
  expect(bus.listenerCount).toBe(0);
  expect(() => space.pageState(0)).toThrow(DestroyedError);
  expect(pool.budget().used).toBe(0); // its frame went back with it

  let inner!: Pool;
  let pending!: Promise<unknown>;
  {
    using p = await createPool(ctx.device, { capacity: 16 * PS, pageSize: PS });
    inner = p;
    using s = createSpace(p, { size: 16 * PS });
    // Sync disposal destroys now: an operation still in flight fails, it is not waited for.
    pending = s.dispatch(inPlace, { workgroups: 1, args: [0, 64], demand: true });
    pending.catch(() => undefined);
  }
  await expect(pending).rejects.toThrow(DestroyedError);
  expect(() => inner.budget()).toThrow(DestroyedError);
});

testWithDevice('await using: the space and pool wait for every operation issued before the scope ended, then are destroyed', async (ctx) => {
  const n = 16 * 1024;
  let dispatch!: Promise<unknown>;
  let read!: Promise<Uint8Array>;
  let space!: AddressSpace;
  let pool!: Pool;
  {
    await using p = await createPool(ctx.device, { capacity: 8 * PS, pageSize: PS });
    await using s = createSpace(p, { size: 32 * PS });
    pool = p;
    space = s;
    await s.write(0, new Uint32Array(n).fill(1));
    // None awaited: a demand dispatch 2× the pool, and a read that follows it.
    dispatch = s.dispatch(inPlace, { workgroups: n / 64, args: [0, n], demand: true });
    read = s.read(0, n * 4);
  }
  await expect(dispatch).resolves.toMatchObject({ mode: 'transaction' });
  expect(u32(await read)).toEqual(new Uint32Array(n).map((_, i) => 3 + i));
  expect(() => space.pageState(0)).toThrow(DestroyedError);
  expect(() => pool.budget()).toThrow(DestroyedError);

  // An operation issued after the async dispose began comes after the destroy, in issue order.
  const p2 = ctx.track(await createPool(ctx.device, { capacity: 8 * PS, pageSize: PS }));
  const s2 = createSpace(p2, { size: 32 * PS });
  await s2.write(0, new Uint32Array(n).fill(1));
  const d2 = s2.dispatch(inPlace, { workgroups: n / 64, args: [0, n], demand: true });
  const disposing = s2[Symbol.asyncDispose]();
  await expect(s2.read(0, 4)).rejects.toThrow(DestroyedError);
  expect(() => s2.alloc(16)).toThrow(DestroyedError);
  await disposing;
  await expect(d2).resolves.toMatchObject({ mode: 'transaction' });
  expect(() => s2.pageState(0)).toThrow(DestroyedError);

  // The pool likewise: operations of all its spaces.
  const s3 = createSpace(p2, { size: 32 * PS });
  await s3.write(0, new Uint32Array(n).fill(1));
  const d3 = s3.dispatch(inPlace, { workgroups: n / 64, args: [0, n], demand: true });
  const poolDisposing = p2[Symbol.asyncDispose]();
  await expect(s3.read(0, 4)).rejects.toThrow(DestroyedError);
  await poolDisposing;
  await expect(d3).resolves.toMatchObject({ mode: 'transaction' });
  expect(() => p2.budget()).toThrow(DestroyedError);
});

test('await using a Node device: destroyed at the end of the scope, and Dawn has delivered the loss before it goes on', async () => {
  let lost: string | undefined;
  let device!: GPUDevice;
  {
    await using nd = await requestNodeDevice();
    device = nd.device;
    void device.lost.then((info) => (lost = info.reason));
  }
  expect(lost).toBe('destroyed');
  {
    using nd = await requestNodeDevice();
    device = nd.device;
  }
  expect((await device.lost).reason).toBe('destroyed');
});
