// Access counters (issue 7 item 5): the GPU's accessed and written bits for
// declared dispatches. With them, a declared-write page the kernel did not
// write stays clean, and only pages the GPU touched get a second chance; with
// them off, the runtime's own view (every declared page) is used. Each test
// runs the same pattern both ways and compares counts.

import fc from 'fast-check';
import { PassResources } from '../../src/fault/pass-resources.ts';
import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { coreOf, makeSpace, poolImpl, readWord, u32 } from '../helpers/space.ts';
import { createKernel, type AddressSpace, type HmmEvent, type Pool } from '../../src/index.ts';
import type { DeviceContext } from '../helpers/gpu.ts';

const P = 4 * KiB;
const WORDS = P / 4;

/**
 * For every `stride`-th page of [base, base + pages·P): word w = w·mul + add,
 * one invocation per word of a page (64 per workgroup). args: [base, pages, stride, mul, add].
 */
const sparse = createKernel({
  label: 'sparse-update',
  workgroupSize: 64,
  code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let w = inv.global_id.x;
  if (w >= ${WORDS}u) { return; }
  for (var p = 0u; p < vm_arg_u32(1u); p += vm_arg_u32(2u)) {
    let a = vm_arg_u32(0u) + p * ${P}u + w * 4u;
    vm_store_u32(a, vm_load_u32(a) * vm_arg_u32(3u) + vm_arg_u32(4u));
  }
}`,
});

/** Declare a write range and write nothing in it. */
const declareOnly = (space: AddressSpace, page: number) =>
  space.dispatch(sparse, { workgroups: WORDS / 64, write: [{ addr: page * P, byteLength: P }], args: [page * P, 0, 1, 1, 0] });

/** Hold back the read-back of the next pass's record until open(): its dispatch completes late. */
function holdNextRecord(space: AddressSpace): { open(): void } {
  const core = PassResources.of(coreOf(space));
  const take = core.takeReadback.bind(core);
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  core.takeReadback = () => {
    core.takeReadback = take;
    const b = take();
    const map = b.mapAsync.bind(b);
    b.mapAsync = (...args: Parameters<GPUBuffer['mapAsync']>) => opened.then(() => map(...args)).finally(() => (b.mapAsync = map));
    return b;
  };
  return { open };
}

const update = (space: AddressSpace, firstPage: number, pages: number, stride: number, mul: number, add: number) =>
  space.dispatch(sparse, {
    workgroups: WORDS / 64, write: [{ addr: firstPage * P, byteLength: pages * P }], args: [firstPage * P, pages, stride, mul, add],
  });

async function both(ctx: DeviceContext, frames: number, spacePages: number): Promise<{ on: { pool: Pool; space: AddressSpace }; off: { pool: Pool; space: AddressSpace } }> {
  const on = await makeSpace(ctx, { capacity: frames * P, pageSize: P }, spacePages * P);
  const off = await makeSpace(ctx, { capacity: frames * P, pageSize: P, accessCounters: false }, spacePages * P);
  return { on, off };
}

testWithDevice('a kernel that declares 16 pages but writes 4: with access counters only the 4 are dirty and copied home', async (ctx) => {
  const { on, off } = await both(ctx, 32, 64);
  const input = new Uint32Array(16 * WORDS).map((_, i) => i);
  const result: Record<string, { dirty: number; shared: number; kept: number; readBytes: number; writebacks: number; writebackBytes: number }> = {};
  for (const [name, { pool, space }] of [['on', on], ['off', off]] as const) {
    await space.write(P, input);
    await update(space, 1, 16, 4, 3, 1); // pages 1, 5, 9, 13
    const r = space.residency(P, 16 * P);
    const s0 = pool.stats();
    const got = u32(await space.read(P, 16 * P));
    const s1 = pool.stats();
    for (let i = 0; i < input.length; i++) {
      const want = Math.floor(i / WORDS) % 4 === 0 ? i * 3 + 1 : i;
      if (got[i] !== want) throw new Error(`${name}: word ${i} is ${got[i]}, want ${want}`);
    }
    // Dirty the same way again, then push everything out with a dispatch over 32 other pages: write-backs.
    await update(space, 1, 16, 4, 1, 1);
    const s2 = pool.stats();
    await update(space, 32, 32, 1, 1, 0);
    const s3 = pool.stats();
    result[name] = {
      dirty: r.device, shared: r.shared, kept: s1.pagesKeptClean, readBytes: s1.bytesToHost - s0.bytesToHost,
      writebacks: s3.evictionWritebacks - s2.evictionWritebacks, writebackBytes: s3.bytesToHost - s2.bytesToHost,
    };
    space.checkInvariants();
  }
  expect(result.on).toEqual({ dirty: 4, shared: 12, kept: 12, readBytes: 4 * P, writebacks: 4, writebackBytes: 4 * P });
  expect(result.off).toEqual({ dirty: 16, shared: 0, kept: 0, readBytes: 16 * P, writebacks: 16, writebackBytes: 16 * P });
});

testWithDevice('the counters come back with the record the dispatch waits for: no extra round trip', async (ctx) => {
  const { on, off } = await both(ctx, 16, 64); // room for all: no eviction write-back to wait for
  const trips: Record<string, number[]> = {};
  for (const [name, { pool, space }] of [['on', on], ['off', off]] as const) {
    await space.write(0, new Uint32Array(4 * WORDS).fill(1));
    await space.compile(sparse);
    trips[name] = [];
    for (let round = 0; round < 4; round++) {
      const before = pool.stats().roundTrips;
      await update(space, round * 4, 4, 2, 2, round);
      trips[name].push(pool.stats().roundTrips - before);
    }
  }
  // writeBuffer uploads wait for nothing: each dispatch waits once, for its record.
  expect(trips.on).toEqual([1, 1, 1, 1]);
  expect(trips.on).toEqual(trips.off);
});

testWithDevice('eviction: pages declared but never touched go first with GPU accessed bits; the runtime\'s bits evict the hot page too', async (ctx) => {
  // Each round: dispatch A declares the hot page H and a page U it never touches (a conservative range),
  // and reads H; dispatch B streams a new page S through the 4-frame pool. A page whose reference bit
  // comes from being declared looks as recent as H; one that comes from the GPU does not.
  const { on, off } = await both(ctx, 4, 64);
  const H = 1;
  const refaults: Record<string, number> = {};
  for (const [name, { pool, space }] of [['on', on], ['off', off]] as const) {
    await space.write(H * P, new Uint32Array(WORDS).fill(7));
    let hIn = 0;
    const stop = pool.on((e: HmmEvent) => {
      if (e.type === 'migration' && e.direction === 'to-device' && e.pageList.includes(H)) hIn++;
    });
    for (let r = 0; r < 12; r++) {
      const U = 10 + r;
      const S = 30 + r;
      await space.dispatch(readWord, { workgroups: 1, read: [{ addr: H * P, byteLength: 4 }, { addr: U * P, byteLength: 4 }], args: [H * P] });
      await space.dispatch(readWord, { workgroups: 1, read: [{ addr: S * P, byteLength: 4 }], args: [S * P] });
    }
    stop();
    refaults[name] = hIn - 1; // the first upload is not a re-fault
    space.checkInvariants();
  }
  expect(refaults.on).toBe(0);
  expect(refaults.off).toBeGreaterThan(0);
});

testWithDevice('overlapping dispatches: a page put back to clean only if no later writer dirtied it', async (ctx) => {
  const { pool, space } = await makeSpace(ctx, { capacity: 32 * P, pageSize: P }, 64 * P);
  const page = 3;
  await space.write(page * P, new Uint32Array(WORDS).fill(10));
  await space.dispatch(readWord, { workgroups: 1, read: [{ addr: page * P, byteLength: 4 }], args: [page * P] }); // resident, clean
  // A declares the page but writes nothing; B, issued right after, writes it. A's record usually comes
  // back after B was submitted: putting the page back to clean then would lose B's bytes.
  const a = declareOnly(space, page);
  const b = update(space, page, 1, 1, 2, 5);
  // C declares it too and writes nothing: the page is dirty (B) when C is submitted, so C must leave it dirty.
  const c = declareOnly(space, page);
  await Promise.all([a, b, c]);
  expect(space.pageState(page * P)).toBe('device');
  expect(u32(await space.read(page * P, 8))[1]).toBe(25);
  // A demand dispatch writes the page while a declared one that does not write it is in flight, and the
  // declared one's record is held back until the demand dispatch has marked the page dirty.
  await space.read(page * P, 4); // clean again
  const gate = holdNextRecord(space);
  const d = declareOnly(space, page);
  const e = space.dispatch(sparse, { workgroups: WORDS / 64, args: [page * P, 1, 1, 1, 1], demand: true });
  await e;
  gate.open();
  await d;
  expect(space.pageState(page * P)).toBe('device');
  expect(u32(await space.read(page * P, 8))[1]).toBe(26);
  // Alone, a dispatch that writes nothing leaves the page clean.
  const kept = pool.stats().pagesKeptClean;
  await declareOnly(space, page);
  expect(space.pageState(page * P)).toBe('shared');
  expect(pool.stats().pagesKeptClean - kept).toBe(1);
  space.checkInvariants();
});

testWithDevice('coherence with access counters: random sparse updates, overlapping dispatches, host writes and reads match a plain buffer (fast-check)', async (ctx) => {
  const pages = 12;
  const op = fc.oneof(
    fc.record({ kind: fc.constant('update' as const), first: fc.nat(pages - 1), count: fc.integer({ min: 1, max: 6 }), stride: fc.integer({ min: 1, max: 4 }), mul: fc.integer({ min: 1, max: 5 }), add: fc.nat(100), batch: fc.boolean() }),
    // A dispatch that declares a range and writes nothing, and right behind it one that writes part of it.
    fc.record({ kind: fc.constant('pair' as const), first: fc.nat(pages - 1), count: fc.integer({ min: 1, max: 6 }), stride: fc.integer({ min: 1, max: 4 }), add: fc.nat(100) }),
    fc.record({ kind: fc.constant('write' as const), word: fc.nat(pages * WORDS - 1), value: fc.nat() }),
    fc.record({ kind: fc.constant('read' as const), page: fc.nat(pages - 1) }),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 4, maxLength: 24 }), fc.integer({ min: 3, max: 8 }), async (ops, frames) => {
      const { pool, space } = await makeSpace(ctx, { capacity: frames * P, pageSize: P }, pages * P);
      try {
        const ref = new Uint32Array(pages * WORDS);
        let inFlight: Promise<unknown>[] = [];
        for (const o of ops) {
          if (o.kind === 'update') {
            const count = Math.min(o.count, pages - o.first, frames);
            for (let p = 0; p < count; p += o.stride) {
              for (let w = 0; w < WORDS; w++) {
                const i = (o.first + p) * WORDS + w;
                ref[i] = (Math.imul(ref[i]!, o.mul) + o.add) >>> 0;
              }
            }
            const d = update(space, o.first, count, o.stride, o.mul, o.add);
            // A batch of dispatches issued back to back runs in issue order; host operations wait for it.
            if (o.batch) inFlight.push(d);
            else await d;
            continue;
          }
          if (o.kind === 'pair') {
            const count = Math.min(o.count, pages - o.first, frames);
            for (let p = 0; p < count; p += o.stride) {
              for (let w = 0; w < WORDS; w++) ref[(o.first + p) * WORDS + w] = (ref[(o.first + p) * WORDS + w]! + o.add) >>> 0;
            }
            const none = space.dispatch(sparse, { workgroups: WORDS / 64, write: [{ addr: o.first * P, byteLength: count * P }], args: [o.first * P, 0, 1, 1, 0] });
            inFlight.push(none, update(space, o.first, count, o.stride, 1, o.add));
            continue;
          }
          await Promise.all(inFlight);
          inFlight = [];
          if (o.kind === 'write') {
            ref[o.word] = o.value;
            await space.write(o.word * 4, new Uint32Array([o.value]));
          } else {
            const got = u32(await space.read(o.page * P, P));
            for (let w = 0; w < WORDS; w++) if (got[w] !== ref[o.page * WORDS + w]) return false;
          }
        }
        await Promise.all(inFlight);
        const all = u32(await space.read(0, pages * P));
        for (let i = 0; i < ref.length; i++) if (all[i] !== ref[i]) return false;
        space.checkInvariants();
        poolImpl(pool).checkInvariants();
        return true;
      } finally {
        space.destroy();
        pool.destroy();
      }
    }),
    { numRuns: Number(process.env.HMM_PROP_RUNS ?? 8), seed: Number(process.env.HMM_PROP_SEED ?? 20261121) },
  );
});
