// Host operations racing with migrations and dispatches, forced
// deterministically (issue 6 item 2): the transfer functions are wrapped so a
// host write happens exactly while a copy is in flight; event listeners and a
// wrapped record read-back issue host operations at precise points of a
// dispatch (after its fault-in, after its submit, at its first probe). Each
// test states the one serial order the result must equal, and the notifier's
// sequence protocol is exercised by the runtime's own retry loops and by a
// user subscriber's.
import { PassResources } from '../../src/fault/pass-resources.ts';
import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { affine, copyKernel, coreOf, duringFirstCopy, inPlace, makeSpace, u32 } from '../helpers/space.ts';
import type { AddressSpace, HmmEvent, Pool } from '../../src/index.ts';

const P = 4 * KiB;

testWithDevice('an upload that raced with a host write inside its watched span retries; a write to its own pages waits for it', async (ctx) => {
  const { pool, space } = await makeSpace(ctx, { capacity: 16 * P, pageSize: P, uploadPath: 'staging', stagingSlotSize: P, stagingSlots: 1 }, 16 * P);
  await space.write(0, new Uint32Array((4 * P) / 4).fill(1));
  // The dispatch declares pages 0 and 3; its fault-in watches [0, 4P). While its first slot is in flight a
  // host write lands on page 2 (not declared: no conflict, it need not wait) and one is issued for page 0
  // (declared: issue order puts it after the dispatch). The first moves the sequence: the fault-in retries.
  let own: Promise<void> | undefined;
  const race = duringFirstCopy(pool, 'staging', async () => {
    const other = space.write(2 * P, new Uint32Array(P / 4).fill(7)); // lands now
    own = space.write(0, new Uint32Array([42])); // waits for the dispatch
    await other;
  });
  const r = await space.dispatch(affine, { workgroups: 64, write: [{ addr: 0, byteLength: P }, { addr: 3 * P, byteLength: P }], args: [0, P / 4, 2, 0] });
  await race.injected();
  await own;
  expect(r.retries).toBeGreaterThanOrEqual(1);
  const out = u32(await space.read(0, 4 * P));
  expect(out[0]).toBe(42); // the later write landed after the dispatch
  expect(out[1]).toBe(2); // the dispatch ran on the bytes from before it
  expect(out[2 * (P / 4)]).toBe(7);
  expect(out[3 * (P / 4)]).toBe(1);
  space.checkInvariants();
});

testWithDevice('an eviction write-back that raced with a full-page host write keeps the host bytes', async (ctx) => {
  const { pool, space } = await makeSpace(ctx, { capacity: 2 * P, pageSize: P }, 16 * P);
  await space.dispatch(affine, { workgroups: 32, write: [{ addr: 0, byteLength: 2 * P }], args: [0, (2 * P) / 4, 0, 5] });
  expect(space.residency(0, 2 * P).device).toBe(2);
  let readDuringFlight: Promise<Uint8Array> | undefined;
  const race = duringFirstCopy(pool, 'readbackDetached', async () => {
    expect(space.pageState(0)).toBe('device'); // in flight to the host
    expect(space.residency(0, 2 * P).residentBytes).toBe(0); // the frames went to the next upload already
    readDuringFlight = space.read(P, P); // waits for the write-back to land
    await space.write(0, new Uint32Array(P / 4).fill(9)); // whole page: no need to wait for the device copy
  });
  await space.dispatch(copyKernel, { workgroups: 1, read: [{ addr: 4 * P, byteLength: 2 * P }], args: [4 * P, 4 * P, 0] });
  await race.injected();
  // The dispatch resolves after the write-backs it started landed: the evicted page is host-valid.
  expect(space.pageState(P)).toBe('host');
  expect(u32(await readDuringFlight!).every((x) => x === 5)).toBe(true);
  const out = u32(await space.read(0, 2 * P));
  expect(out[0]).toBe(9);
  expect(out[P / 4 - 1]).toBe(9);
  expect(out[P / 4]).toBe(5); // the other evicted page came home intact
  space.checkInvariants();
});

testWithDevice('a host read in flight and a full-page write: the write wins, the read sees the device data', async (ctx) => {
  const { pool, space } = await makeSpace(ctx, { capacity: 4 * P, pageSize: P }, 4 * P);
  await space.dispatch(affine, { workgroups: 16, write: [{ addr: 0, byteLength: P }], args: [0, P / 4, 0, 3] });
  const race = duringFirstCopy(pool, 'readback', () => space.write(0, new Uint32Array(P / 4).fill(8)));
  const seen = u32(await space.read(0, P));
  await race.injected();
  // The read was issued first: it may see the device's 3s or (serialized after) the 8s, but never a mix.
  expect(new Set(seen).size).toBe(1);
  expect(u32(await space.read(0, P)).every((x) => x === 8)).toBe(true);
  space.checkInvariants();
});

testWithDevice('subscribers hear host writes with odd sequence numbers and can detect a race', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 4 * P, pageSize: P }, 8 * P);
  const events: [number, number, number][] = [];
  const sub = space.subscribe(P, P, (ev) => events.push([ev.start, ev.end, ev.seq]));
  const seq = sub.readBegin();
  await space.write(0, new Uint8Array(P)); // does not touch [P, 2P)
  expect(sub.readRetry(seq)).toBe(false);
  await space.write(P + 100, new Uint8Array(8));
  expect(events).toEqual([[P + 100, P + 108, 1]]);
  expect(sub.readRetry(seq)).toBe(true);
  sub.remove();
  await space.write(P, new Uint8Array(8));
  expect(events).toHaveLength(1);
});

// ---------------------------------------------------------------------------
// Deterministic interleavings at precise points, and the serial order each
// must equal (docs/design.md §2.1: a dispatch sees every host write made before it
// was issued; the result is that of one serial order).
// ---------------------------------------------------------------------------

/** Run `action` once, synchronously, at the first event `pick` accepts (inside the runtime's emit). */
function atFirstEvent(pool: Pool, pick: (e: HmmEvent) => boolean, action: () => void): { fired(): boolean } {
  let done = false;
  const off = pool.on((e) => {
    if (done || !pick(e)) return;
    done = true;
    off();
    action();
  });
  return { fired: () => done };
}

/**
 * Run `action` once, synchronously, right after the space's next pass was
 * submitted — when its dispatch starts waiting for the record (the pool lock
 * is free again, the kernel is queued or running on the GPU).
 */
function afterNextSubmit(space: AddressSpace, action: () => void): { fired(): boolean } {
  const core = PassResources.of(coreOf(space));
  const take = core.takeReadback.bind(core);
  let done = false;
  core.takeReadback = () => {
    const buffer = take();
    if (!done) {
      done = true;
      core.takeReadback = take;
      const map = buffer.mapAsync.bind(buffer);
      buffer.mapAsync = (...args: Parameters<GPUBuffer['mapAsync']>) => {
        buffer.mapAsync = map;
        action();
        return map(...args);
      };
    }
    return buffer;
  };
  return { fired: () => done };
}

const words = (bytes: number) => bytes / 4;

testWithDevice('a host write issued from a listener between a declared fault-in and its submit lands after the dispatch (dispatch, then write)', async (ctx) => {
  const { pool, space } = await makeSpace(ctx, { capacity: 8 * P, pageSize: P, uploadPath: 'writeBuffer' }, 16 * P);
  await space.write(0, new Uint32Array(words(4 * P)).fill(1));
  const migrations: number[] = [];
  pool.on((e) => {
    if (e.type === 'migration' && e.direction === 'to-device') migrations.push(e.pages);
  });
  let write: Promise<void> | undefined;
  // The migration event is emitted after the pages were installed and before the dispatch submits. Before
  // issue order held (issue 13), this write dropped page 1's fresh copy and the dispatch retried and saw it.
  const hook = atFirstEvent(pool, (e) => e.type === 'migration' && e.cause === 'declared', () => {
    write = space.write(P + 8, new Uint32Array([42]));
  });
  const r = await space.dispatch(affine, { workgroups: 64, write: [{ addr: 0, byteLength: 4 * P }], args: [0, words(4 * P), 2, 1] });
  expect(hook.fired()).toBe(true);
  await write;
  expect(r.retries).toBe(0);
  expect(migrations).toEqual([4]);
  const out = u32(await space.read(0, 4 * P));
  expect(out[words(P + 8)]).toBe(42); // written after the dispatch, over its result
  out[words(P + 8)] = 3;
  expect(out.every((x) => x === 3)).toBe(true);
  space.checkInvariants();
});

testWithDevice('host operations issued after a declared pass was submitted land after it, in issue order (dispatch, then them)', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 8 * P, pageSize: P }, 16 * P);
  await space.write(0, new Uint32Array(words(4 * P)).fill(1));
  let issued: Promise<unknown>[] = [];
  const hook = afterNextSubmit(space, () => {
    issued = [
      space.write(0, new Uint32Array(words(P)).fill(9)), // page 0 whole: its device copy (being written) is dropped
      space.write(P + 4, new Uint32Array([7])), // page 1 in part: device-only, so it comes home first
      space.read(2 * P, P), // page 2: device-only, read back after the kernel
    ];
  });
  await space.dispatch(affine, { workgroups: 64, write: [{ addr: 0, byteLength: 4 * P }], args: [0, words(4 * P), 2, 1] });
  expect(hook.fired()).toBe(true);
  const [, , seen] = await Promise.all(issued);
  expect(u32(seen as Uint8Array).every((x) => x === 3)).toBe(true); // the read saw the dispatch's result
  const out = u32(await space.read(0, 4 * P));
  expect(out.subarray(0, words(P)).every((x) => x === 9)).toBe(true); // the full-page write won
  expect(out[words(P + 4)]).toBe(7); // the partial write landed on the dispatch's result…
  out[words(P + 4)] = 3;
  expect(out.subarray(words(P)).every((x) => x === 3)).toBe(true); // …which is everywhere else
  space.checkInvariants();
});

testWithDevice('host operations issued in the middle of a demand dispatch (at its first probe) wait for it: dispatch, then them', async (ctx) => {
  const { pool, space } = await makeSpace(ctx, { capacity: 8 * P, pageSize: P }, 32 * P);
  const n = words(16 * P); // twice the frames: the dispatch runs in slices, with evictions
  await space.write(0, new Uint32Array(n).fill(1));
  let issued: Promise<unknown>[] = [];
  const hook = atFirstEvent(pool, (e) => e.type === 'pass' && e.mode === 'probe', () => {
    issued = [space.write(0, new Uint32Array([100])), space.read(0, 8), space.read(12 * P, 4)];
  });
  const r = await space.dispatch(inPlace, { workgroups: n / 64, args: [0, n], demand: true });
  expect(hook.fired()).toBe(true);
  expect(r.demand!.commits).toBeGreaterThan(1); // in parts: slices of workgroups or rounds of invocations
  const [, first, mid] = await Promise.all(issued);
  expect([...u32(first as Uint8Array)]).toEqual([100, 1 * 3 + 1]); // in-place ran once everywhere, then the write
  expect(u32(mid as Uint8Array)[0]).toBe(1 * 3 + words(12 * P));
  space.checkInvariants();
});

testWithDevice('a free() issued while a demand dispatch migrates the freed pages (as hints) takes effect after it; the freed pages read zero', async (ctx) => {
  const { pool, space } = await makeSpace(ctx, { capacity: 8 * P, pageSize: P }, 16 * P);
  const data = space.alloc(2 * P, { align: P });
  const other = space.alloc(2 * P, { align: P });
  await space.write(data, new Uint32Array(words(2 * P)).fill(2));
  await space.write(other, new Uint32Array(words(2 * P)).fill(5));
  // free() is synchronous: the block is free at once (alloc may hand it out), and its pages are zeroed in
  // issue order — after the demand dispatch issued before it, which must not see them change under it.
  const hook = atFirstEvent(pool, (e) => e.type === 'migration' && e.cause === 'demand' && e.pageList.includes(other / P), () => space.free(other));
  const r = await space.dispatch(inPlace, { workgroups: words(2 * P) / 64, args: [data, words(2 * P)], demand: true, read: [{ addr: other, byteLength: 2 * P }] });
  expect(hook.fired()).toBe(true);
  expect(r.retries).toBe(0);
  const out = u32(await space.read(data, 2 * P));
  expect(out.every((x, i) => x === 2 * 3 + i)).toBe(true);
  expect(u32(await space.read(other, 2 * P)).every((x) => x === 0)).toBe(true);
  space.checkInvariants();
});

testWithDevice('a subscriber whose async work raced with a host write retries (readBegin → await → readRetry), and then holds the new bytes', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 8 * P, pageSize: P }, 8 * P);
  await space.write(0, new Uint32Array(words(2 * P)).fill(1));
  const heard: number[] = [];
  const sub = space.subscribe(0, 2 * P, (ev) => heard.push(ev.seq));
  let attempts = 0;
  // A mirror of [0, 2P) kept elsewhere: copy, do async work (here: wait for the queue), install only if no invalidation came meanwhile.
  const mirror = async (): Promise<Uint32Array> => {
    for (;;) {
      attempts++;
      const seq = sub.readBegin();
      const copy = u32(await space.read(0, 2 * P));
      await ctx.device.queue.onSubmittedWorkDone();
      if (!sub.readRetry(seq)) return copy;
    }
  };
  const m = mirror(); // suspended at its first await, with a sequence number taken
  await space.write(P + 12, new Uint32Array([77])); // lands during the mirror's async work
  const got = await m;
  expect(attempts).toBe(2);
  expect(heard).toEqual([1]); // one invalidation, delivered with an odd number
  expect(sub.seq).toBe(2);
  expect(got[words(P + 12)]).toBe(77);
  sub.remove();
});

testWithDevice('chained host operations keep issue order across a device-only page: write, write, dispatch, read', async (ctx) => {
  const { pool, space } = await makeSpace(ctx, { capacity: 8 * P, pageSize: P }, 16 * P);
  await space.dispatch(affine, { workgroups: 16, write: [{ addr: 0, byteLength: P }], args: [0, words(P), 0, 4] }); // page 0 device-only: 4s
  const order: string[] = [];
  pool.on((e) => {
    if (e.type === 'host' && (e.op === 'write' || e.op === 'read')) order.push(`${e.op}@${e.addr}`);
    if (e.type === 'dispatch') order.push(`dispatch:${e.kernel}`);
  });
  const w1 = space.write(8, new Uint32Array([6])); // partial write of a device-only page: must bring it home, so it chains
  const w2 = space.write(P, new Uint32Array([8])); // could land at once, but an earlier operation is pending: it waits its turn
  const d = space.dispatch(copyKernel, { workgroups: 1, read: [{ addr: 0, byteLength: 16 }], write: [{ addr: 2 * P, byteLength: 16 }], args: [0, 2 * P, 4] });
  const r = space.read(0, 16);
  await Promise.all([w1, w2, d, r]);
  expect(order).toEqual(['write@8', `write@${P}`, 'read@0', 'dispatch:copy']);
  expect([...u32(await r)]).toEqual([4, 4, 6, 4]);
  expect([...u32(await space.read(2 * P, 16))]).toEqual([4, 4, 6, 4]); // the dispatch saw the first write
  expect(u32(await space.read(P, 4))[0]).toBe(8);
  space.checkInvariants();
});
