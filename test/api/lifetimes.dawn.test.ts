// Lifetimes and events the platform's way, on Dawn: `using` and `await using`
// on pools, spaces, ledgers, trace recorders and the Node device (an async
// dispose waits for what was issued before it, then destroys; a sync one
// destroys now), and pools and spaces as EventTargets that hear the same
// records as pool.on — a space only its own — and cost nothing once nobody
// listens.

import { expect, test } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { inPlace, poolImpl, u32 } from '../helpers/space.ts';
import { requestNodeDevice } from '../../src/node.ts';
import {
  createLedger, createPool, createSpace, DestroyedError, recordTrace, type AddressSpace, type HmmEvent, type Pool,
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

testWithDevice('pools and spaces are EventTargets: CustomEvents whose detail is the record pool.on hears; a space hears only its own', async (ctx) => {
  const pool = ctx.track(await createPool(ctx.device, { capacity: 16 * PS, pageSize: PS }));
  const a = ctx.track(createSpace(pool, { size: 16 * PS, label: 'a' }));
  const b = ctx.track(createSpace(pool, { size: 16 * PS, label: 'b' }));
  expect(pool).toBeInstanceOf(EventTarget);
  expect(a).toBeInstanceOf(EventTarget);
  const bus = poolImpl(pool).events;
  expect(bus.active).toBe(false);

  const fromOn: HmmEvent[] = [];
  const off = pool.on((e) => fromOn.push(e));
  const onPool: HmmEvent[] = [];
  const onA: HmmEvent[] = [];
  const types = new Set<string>();
  const poolListener = (e: CustomEvent<HmmEvent>): void => {
    expect(e).toBeInstanceOf(CustomEvent);
    types.add(e.type);
    onPool.push(e.detail);
  };
  for (const t of ['migration', 'host', 'eviction', 'pressure'] as const) pool.addEventListener(t, poolListener);
  const aListener = { handleEvent: (e: CustomEvent<HmmEvent>) => void onA.push(e.detail) };
  for (const t of ['migration', 'host', 'eviction', 'invalidation'] as const) a.addEventListener(t, aListener);

  await a.write(0, new Uint32Array(2 * 1024).fill(1));
  await a.prefetch(0, 12 * PS, { to: 'device' }); // 12 of 16 frames: 75 %
  await b.prefetch(0, 8 * PS, { to: 'device' }); // evicts some of a's pages; high water
  const resident = Array.from({ length: 12 }, (_, p) => p).find((p) => ['shared', 'device'].includes(a.pageState(p * PS)))!;
  await a.write(resident * PS, new Uint32Array([9])); // invalidates a device copy of a

  // The pool's target: exactly the records of those types that pool.on heard, the same objects, in order.
  expect(onPool).toEqual(fromOn.filter((e) => ['migration', 'host', 'eviction', 'pressure'].includes(e.type)));
  for (let i = 0; i < onPool.length; i++) expect(onPool[i]).toBe(fromOn.filter((e) => types.has(e.type))[i]);
  expect(types).toEqual(new Set(['migration', 'host', 'eviction', 'pressure']));
  // A space's target: its own records only — b's prefetch migrated b's pages and evicted a's.
  const aId = onA[0]!.spaceId;
  expect(onA.every((e) => e.space === 'a' && e.spaceId === aId)).toBe(true);
  expect(onA.filter((e) => e.type === 'eviction').length).toBeGreaterThan(0);
  expect(onA.some((e) => e.type === 'invalidation')).toBe(true);
  expect(onA).toEqual(fromOn.filter((e) => e.spaceId === aId && ['migration', 'host', 'eviction', 'invalidation'].includes(e.type)));

  // Nobody listening: the bus is idle again (no record is built).
  off();
  for (const t of ['migration', 'host', 'eviction', 'pressure'] as const) pool.removeEventListener(t, poolListener);
  expect(bus.active).toBe(true);
  const ac = new AbortController();
  a.addEventListener('migration', aListener, { signal: ac.signal }); // already there: ignored
  for (const t of ['migration', 'host', 'eviction', 'invalidation'] as const) a.removeEventListener(t, aListener);
  expect(bus.active).toBe(false);
  a.addEventListener('dispatch', () => undefined, { signal: ac.signal });
  expect(bus.active).toBe(true);
  ac.abort();
  expect(bus.active).toBe(false);
  // A destroyed space leaves the bus even with listeners attached.
  b.addEventListener('migration', () => undefined);
  expect(bus.active).toBe(true);
  b.destroy();
  expect(bus.active).toBe(false);
});
