// Cancellation on Dawn (the `signal` option; src/lifetime.ts, src/fault/demand.ts,
// src/migrate/prefetch.ts): an abort rejects with the standard AbortError (or
// the reason given) and leaves the space as if the operation had not been
// issued — a demand transaction rolls back to the exact bytes from before it,
// a prefetch keeps what it moved, a queued read leaves the queue — and nothing
// issued after an aborted operation overtakes what was issued before it.

import { expect } from 'vitest';
import { testWithDevice, KiB, MiB } from '../helpers/gpu.ts';
import { inPlace, makeSpace, poolImpl, u32 } from '../helpers/space.ts';
import { createKernel, InvalidArgumentError, type AddressSpace, type HmmEvent, type Pool } from '../../src/index.ts';

const PS = 4 * KiB;

function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0);
}

/** The whole space's bytes (the flat-memory copy a rolled-back dispatch must equal). */
async function snapshot(space: AddressSpace): Promise<Uint8Array> {
  return space.read(0, space.size);
}

function isAbortError(e: unknown): boolean {
  return e instanceof DOMException && e.name === 'AbortError';
}

/** Abort `ac` when the pool reports an event `when` picks; returns the unsubscribe function. */
function abortOn(pool: Pool, ac: AbortController, when: (e: HmmEvent) => boolean): () => void {
  return pool.on((e) => {
    if (!ac.signal.aborted && when(e)) ac.abort();
  });
}

/** dst[i] = src[i] * 3 + 1 over args [src, dst, count]: the same output however often a workgroup runs. */
const transform = createKernel({
  label: 'transform',
  idempotent: true,
  workgroupSize: 64,
  code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(2u)) { return; }
  vm_store_u32(vm_arg_u32(1u) + i * 4u, vm_load_u32(vm_arg_u32(0u) + i * 4u) * 3u + 1u);
}`,
});

testWithDevice('an already aborted signal rejects at once with AbortError (or its reason) and changes nothing; a signal that is not one is refused', async (ctx) => {
  const { space, pool } = await makeSpace(ctx, { capacity: 64 * PS, pageSize: PS }, 64 * PS);
  await space.write(0, new Uint32Array(1024).fill(5));
  const events: HmmEvent[] = [];
  const off = pool.on((e) => events.push(e));
  const before = pool.stats();
  const signal = AbortSignal.abort();
  const ops: [string, Promise<unknown>][] = [
    ['read', space.read(0, 16, { signal })],
    ['withView', space.withView(0, 16, 'write', () => undefined, { signal })],
    ['prefetch', space.prefetch(0, 16 * PS, { to: 'device', signal })],
    ['declared', space.dispatch(inPlace, { workgroups: 16, args: [0, 1024], write: [{ addr: 0, byteLength: 4096 }], signal })],
    ['demand', space.dispatch(inPlace, { workgroups: 16, args: [0, 1024], demand: true, signal })],
  ];
  for (const [what, p] of ops) {
    const e = await p.catch((x: unknown) => x);
    expect(isAbortError(e), what).toBe(true);
  }
  // Nothing moved, ran or was reported as done.
  expect(pool.stats()).toEqual(before);
  expect(space.residency().residentBytes).toBe(0);
  expect(events.filter((e) => e.type !== 'dispatch')).toEqual([]);
  expect(events.map((e) => e.type === 'dispatch' && e.error)).toEqual(['ABORTED', 'ABORTED']);
  off();
  // abort(reason): the reason, as fetch rejects with it.
  const reason = new Error('navigated away');
  await expect(space.read(0, 16, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  // Typed errors stay for bad input.
  const bad = { signal: { aborted: 'yes' } as unknown as AbortSignal };
  await expect(space.read(0, 16, bad)).rejects.toThrow(InvalidArgumentError);
  await expect(space.prefetch(0, 16, { to: 'host', ...bad })).rejects.toThrow(InvalidArgumentError);
  await expect(space.dispatch(inPlace, { workgroups: 1, demand: true, ...bad })).rejects.toThrow(InvalidArgumentError);
  await expect(space.read(0, 16, { signa: AbortSignal.abort() } as never)).rejects.toThrow(/unknown option "signa"/);
  expect(u32(await space.read(0, 8))).toEqual(Uint32Array.of(5, 5));
  space.checkInvariants();
});

testWithDevice('a sliced demand transaction aborted after a committed slice rolls back to the exact bytes from before it', async (ctx) => {
  // 16 frames of 4 KiB, 256 KiB of data: the grid runs in slices, each committing part of the array.
  const { space, pool } = await makeSpace(ctx, { capacity: 16 * PS, pageSize: PS }, 256 * KiB + 16 * PS);
  const n = (256 * KiB) / 4;
  const base = space.alloc(n * 4, { align: PS });
  const rnd = lcg(11);
  await space.write(base, new Uint32Array(n).map(() => rnd()));
  const flat = await snapshot(space);
  const ac = new AbortController();
  let kept = 0;
  let sliceWorkgroups = 0;
  const off = abortOn(pool, ac, (e) => e.type === 'pass' && e.mode === 'commit' && !e.aborted && ++kept === 1 && (sliceWorkgroups = e.workgroups) > 0);
  const events: HmmEvent[] = [];
  const off2 = pool.on((e) => events.push(e));
  const err = await space.dispatch(inPlace, { workgroups: n / 64, args: [base, n], demand: true, signal: ac.signal }).catch((e: unknown) => e);
  off();
  off2();
  expect(isAbortError(err)).toBe(true);
  expect(kept).toBe(1); // a slice had committed when the abort came: its writes were undone
  expect(sliceWorkgroups).toBeGreaterThan(0);
  expect(events.filter((e) => e.type === 'pass' && e.mode === 'commit').length).toBeGreaterThanOrEqual(1);
  expect(events.find((e) => e.type === 'dispatch')).toMatchObject({ error: 'ABORTED', mode: 'transaction' });
  space.checkInvariants();
  expect(await snapshot(space)).toEqual(flat);
  // The space goes on: the same dispatch, not aborted, gives the result of one clean run — in more than
  // one commit, so the one kept above was a part of the grid (slices of workgroups, or rounds of
  // invocations): the undo log's case.
  const again = await space.dispatch(inPlace, { workgroups: n / 64, args: [base, n], demand: true });
  expect(again.demand!.commits).toBeGreaterThan(1);
  const got = u32(await space.read(base, n * 4));
  const init = u32(flat.slice(base, base + n * 4));
  let bad = 0;
  for (let i = 0; i < n; i++) if (got[i] !== ((Math.imul(init[i]!, 3) + i) >>> 0)) bad++;
  expect(bad).toBe(0);
});

testWithDevice('a transaction aborted during its probes or during its one commit leaves the space as it was', async (ctx) => {
  const { space, pool } = await makeSpace(ctx, { capacity: 64 * PS, pageSize: PS }, 64 * PS);
  const n = 8 * 1024; // 8 pages: fits, so one slice and one commit
  await space.write(0, new Uint32Array(n).map((_, i) => i * 5 + 3));
  const flat = await snapshot(space);
  for (const at of ['probe', 'commit'] as const) {
    const ac = new AbortController();
    const off = abortOn(pool, ac, (e) => e.type === 'pass' && e.mode === at);
    const err = await space.dispatch(inPlace, { workgroups: n / 64, args: [0, n], demand: true, signal: ac.signal }).catch((e: unknown) => e);
    off();
    expect(isAbortError(err), at).toBe(true);
    space.checkInvariants();
    // The commit had run on the GPU: its pages were copied back from the host snapshot.
    expect(space.residency().deviceDirtyBytes, at).toBe(0);
    expect(await snapshot(space), at).toEqual(flat);
  }
});

testWithDevice('a replay-mode dispatch aborted at a pass boundary keeps what finished workgroups wrote, like a failed one; running it again completes it', async (ctx) => {
  const { space, pool } = await makeSpace(ctx, { capacity: 16 * PS, pageSize: PS }, 512 * KiB);
  const n = 32 * 1024; // 128 KiB in, 128 KiB out, through 64 KiB
  const src = space.alloc(n * 4, { align: PS });
  const dst = space.alloc(n * 4, { align: PS });
  const input = new Uint32Array(n).map((_, i) => i * 7 + 1);
  await space.write(src, input);
  const ac = new AbortController();
  let passes = 0;
  const off = abortOn(pool, ac, (e) => e.type === 'pass' && e.mode === 'replay' && ++passes === 3);
  const err = await space.dispatch(transform, { workgroups: n / 64, args: [src, dst, n], demand: true, signal: ac.signal }).catch((e: unknown) => e);
  off();
  expect(isAbortError(err)).toBe(true);
  space.checkInvariants();
  const part = u32(await space.read(dst, n * 4));
  let done = 0;
  for (let i = 0; i < n; i++) {
    expect(part[i] === 0 || part[i] === input[i]! * 3 + 1).toBe(true); // each word: untouched or its final value
    if (part[i] !== 0) done++;
  }
  expect(done).toBeLessThan(n);
  expect(u32(await space.read(src, n * 4))).toEqual(input);
  await space.dispatch(transform, { workgroups: n / 64, args: [src, dst, n], demand: true });
  expect(u32(await space.read(dst, n * 4))).toEqual(input.map((v) => v * 3 + 1));
});

testWithDevice('a prefetch aborted after its first migration stops between migrations; what it moved stays, valid', async (ctx) => {
  // 1 MiB pieces of 4 KiB pages: a 2 MiB prefetch to the device is two migrations.
  const { space, pool } = await makeSpace(ctx, { capacity: 4 * MiB, pageSize: PS }, 4 * MiB);
  const bytes = 2 * MiB;
  const data = new Uint32Array(bytes / 4).map((_, i) => i ^ 0x5a5a);
  await space.write(0, data);
  const ac = new AbortController();
  const off = abortOn(pool, ac, (e) => e.type === 'migration' && e.cause === 'prefetch');
  const err = await space.prefetch(0, bytes, { to: 'device', signal: ac.signal }).catch((e: unknown) => e);
  off();
  expect(isAbortError(err)).toBe(true);
  space.checkInvariants();
  expect(space.residency(0, bytes).residentBytes).toBe(1 * MiB);
  expect(space.residency(0, 1 * MiB).shared).toBe(256);
  // The rest comes with a prefetch that is not aborted; the bytes are intact throughout.
  const r = await space.prefetch(0, bytes, { to: 'device' });
  expect(r.pagesCopied).toBe(256);
  expect(u32(await space.read(0, bytes))).toEqual(data);

  // To the host: make the range device-dirty, then abort after the first write-back.
  await space.dispatch(inPlace, { workgroups: bytes / 4 / 64, args: [0, bytes / 4], write: [{ addr: 0, byteLength: bytes }] });
  expect(space.residency(0, bytes).deviceDirtyBytes).toBe(bytes);
  const ac2 = new AbortController();
  const off2 = abortOn(pool, ac2, (e) => e.type === 'migration' && e.cause === 'prefetch' && e.direction === 'to-host');
  const err2 = await space.prefetch(0, bytes, { to: 'host', signal: ac2.signal }).catch((e: unknown) => e);
  off2();
  expect(isAbortError(err2)).toBe(true);
  space.checkInvariants();
  expect(space.residency(0, bytes)).toMatchObject({ device: 256, shared: 256, residentBytes: bytes }); // written home, not dropped
  const want = data.map((v, i) => (Math.imul(v, 3) + i) >>> 0);
  expect(u32(await space.read(0, bytes))).toEqual(want);
});

testWithDevice('a read queued behind a demand dispatch leaves the queue at once when aborted; later operations keep their order', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 16 * PS, pageSize: PS }, 512 * KiB);
  const n = 64 * 1024; // 256 KiB through 64 KiB: many passes
  const base = space.alloc(n * 4, { align: PS });
  await space.write(base, new Uint32Array(n).fill(1));
  let dispatched = false;
  const d = space.dispatch(inPlace, { workgroups: n / 64, args: [base, n], demand: true }).then((r) => ((dispatched = true), r));
  const ac = new AbortController();
  let viewRan = false;
  const r = space.read(base, 8, { signal: ac.signal });
  const v = space.withView(base, 8, 'write', () => void (viewRan = true), { signal: ac.signal });
  const w = space.write(base, new Uint32Array([42])); // issued after the aborted ones
  const r2 = space.read(base, 8);
  ac.abort();
  expect(isAbortError(await r.catch((e: unknown) => e))).toBe(true);
  expect(isAbortError(await v.catch((e: unknown) => e))).toBe(true);
  expect(dispatched).toBe(false); // rejected while the dispatch it waited for still ran
  await d;
  await w;
  expect([...u32(await r2)]).toEqual([42, 3 + 1]); // after the dispatch, then the write: issue order
  expect(viewRan).toBe(false);
  space.checkInvariants();
});

testWithDevice('a declared dispatch aborted while it waits for its turn never runs; the ones after it run in order', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 16 * PS, pageSize: PS }, 512 * KiB);
  const n = 64 * 1024;
  const base = space.alloc(n * 4, { align: PS });
  const small = space.alloc(4 * 64, { align: PS });
  await space.write(base, new Uint32Array(n).fill(1));
  await space.write(small, new Uint32Array(64).fill(2));
  const d = space.dispatch(inPlace, { workgroups: n / 64, args: [base, n], demand: true });
  const ac = new AbortController();
  const aborted = space.dispatch(inPlace, { workgroups: 1, args: [small, 64], write: [{ addr: small, byteLength: 256 }], signal: ac.signal });
  const after = space.dispatch(inPlace, { workgroups: 1, args: [small, 64], write: [{ addr: small, byteLength: 256 }] });
  ac.abort();
  expect(isAbortError(await aborted.catch((e: unknown) => e))).toBe(true);
  await Promise.all([d, after]);
  // Only `after` ran on `small`: 2 * 3 + i, once.
  expect([...u32(await space.read(small, 256))]).toEqual(Array.from({ length: 64 }, (_, i) => 6 + i));
  expect(poolImpl(space.pool).loss.ops.size).toBe(0);
  space.checkInvariants();
});

testWithDevice('a prefetch with a signal that never aborts leaves what one without a signal leaves, also when its pieces must evict', async (ctx) => {
  // A full pool: the range's second piece is resident already, and older than the other pages — the
  // first victims CLOCK finds. The range's first piece must evict the others, never its own second piece.
  const results = [];
  for (const withSignal of [false, true]) {
    const { space } = await makeSpace(ctx, { capacity: 2 * MiB, pageSize: PS }, 4 * MiB);
    await space.write(0, new Uint32Array(MiB).map((_, i) => i)); // all 4 MiB populated
    await space.prefetch(1 * MiB, 1 * MiB, { to: 'device' }); // the range's second piece, first in
    await space.prefetch(2 * MiB, 1 * MiB, { to: 'device' }); // others: the pool is full
    const r = await space.prefetch(0, 2 * MiB, { to: 'device', ...(withSignal ? { signal: new AbortController().signal } : {}) });
    results.push(r);
    expect(space.residency(0, 2 * MiB).residentBytes).toBe(2 * MiB);
    expect(space.residency(2 * MiB, 2 * MiB).residentBytes).toBe(0);
    space.checkInvariants();
    expect(u32(await space.read(0, 4 * MiB))).toEqual(new Uint32Array(MiB).map((_, i) => i));
  }
  expect(results[1]).toEqual(results[0]);
  expect(results[0]).toMatchObject({ pagesCopied: 256, pagesSkipped: 0, evictions: 256 });
});
