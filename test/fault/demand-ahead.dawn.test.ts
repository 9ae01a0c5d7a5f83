// What makes a demand dispatch run at the speed of declared ranges
// (src/fault/demand.ts, issue 21), each exact: a slice's first pass runs the
// replay variant that keeps no completion record (link.ts firstPass) and, when
// it stalls, the slice runs again fresh; a dispatch planned in slices starts
// with a scout; the next slice's predicted pages come in while the current
// slice's pass runs, into frames freed by retiring the pages the stream moved
// past — never a page the running pass may write.

import fc from 'fast-check';
import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { makeSpace, u32 } from '../helpers/space.ts';
import { createKernel, type AddressSpace } from '../../src/index.ts';

const P = 4 * KiB;

/** out[i] = data[idx[i]] · 3 + 1, and max(out[i]) into a counter word: idempotent (max is), every word checked. */
const GATHER = {
  label: 'ahead:gather', idempotent: true, workgroupSize: 64,
  code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(3u)) { return; }
  let v = vm_load_u32(vm_arg_u32(0u) + vm_load_u32(vm_arg_u32(1u) + i * 4u) * 4u) * 3u + 1u;
  vm_store_u32(vm_arg_u32(2u) + i * 4u, v);
  vm_atomic_max_u32(vm_arg_u32(4u), v);
}`,
} as const;
const gather = createKernel(GATHER);

/**
 * A gather's memory in `space`: `dataPages` pages of data (written), `n` indices, out and the max
 * word; `args` for GATHER, and `expectOut(index)`, which checks out and max after a run over `index`.
 */
async function gatherSpace(space: AddressSpace, dataPages: number, n: number) {
  const data = space.alloc(dataPages * P, { align: P });
  const idx = space.alloc(n * 4, { align: P });
  const out = space.alloc(n * 4, { align: P });
  const max = space.alloc(4, { align: P });
  const values = new Uint32Array((dataPages * P) / 4).map((_, i) => (i * 2654435761) >>> 0);
  await space.write(data, values);
  const expectOut = async (index: Uint32Array): Promise<void> => {
    const expected = index.map((j) => (Math.imul(values[j]!, 3) + 1) >>> 0);
    expect(u32(await space.read(out, n * 4))).toEqual(expected);
    expect(u32(await space.read(max, 4))[0]).toBe(expected.reduce((a, b) => Math.max(a, b), 0));
  };
  return { data, idx, out, max, values, args: [data, idx, out, n, max], expectOut };
}

function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0);
}

testWithDevice('over resident pages a replay dispatch runs one pass; a first pass that stalls in part is run again whole, and every word is exact', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 64 * P, pageSize: P }, 64 * P);
  const n = 4096;
  const { data, idx, out, max, values, args, expectOut } = await gatherSpace(space, 16, n);
  const rnd = lcg(3);
  const index = new Uint32Array(n).map(() => rnd() % values.length);
  await space.write(idx, index);
  const check = () => expectOut(index);
  // Everything resident (a declared run brought it in): one pass, of the first-pass variant.
  await space.dispatch(gather, { workgroups: n / 64, args, read: [{ addr: data, byteLength: 16 * P }, { addr: idx, byteLength: n * 4 }], write: [{ addr: out, byteLength: n * 4 }, { addr: max, byteLength: 4 }] });
  let r = await space.dispatch(gather, { workgroups: n / 64, args, demand: true });
  expect(r.demand!.passes).toBe(1);
  await check();
  const dropHalf = async () => {
    await space.write(data + 8 * P, values.subarray((8 * P) / 4));
    await space.write(out, new Uint32Array(n));
    await space.write(max, new Uint32Array(1));
  };
  // Half the data written by the host (its device copies dropped), dispatched by a kernel with no
  // footprint known (a new object of the same code): the slice is cold, its samples stall in part
  // (the second finds nothing the first did not), and the slice then runs whole, once.
  await dropHalf();
  r = await space.dispatch(createKernel(GATHER), { workgroups: n / 64, args, demand: true });
  expect(r.demand!.samples).toBe(2);
  expect(r.demand!.passes).toBe(3);
  expect(r.demand!.pagesFaulted).toBeGreaterThanOrEqual(8); // the data written, and out's pages (the host zeroed them)
  await check();
  // The kernel that ran this way before: what its passes accessed comes in before the first pass, which completes.
  await dropHalf();
  r = await space.dispatch(gather, { workgroups: n / 64, args, demand: true });
  expect(r.demand!.passes).toBe(1);
  expect(r.demand!.faultBatches).toBe(0);
  expect(r.demand!.pagesPredicted).toBeGreaterThanOrEqual(8);
  await check();
  space.checkInvariants();
});

testWithDevice('a replay dispatched again the same way fetches what it touched before; when it goes elsewhere it stalls and runs again, exact', async (ctx) => {
  // 24 frames, 32 pages of data: the known footprint never covers what the kernel reads the second time.
  const { space } = await makeSpace(ctx, { capacity: 24 * P, pageSize: P }, 64 * P);
  const n = 1024;
  const { idx, out, max, args, expectOut } = await gatherSpace(space, 32, n);
  const words = P / 4;
  const rnd = lcg(7);
  const run = async (firstPage: number) => {
    // Every index into data pages [firstPage, firstPage + 8).
    const index = new Uint32Array(n).map(() => firstPage * words + (rnd() % (8 * words)));
    await space.write(idx, index);
    await space.write(out, new Uint32Array(n));
    await space.write(max, new Uint32Array(1));
    const r = await space.dispatch(gather, { workgroups: n / 64, args, demand: true });
    await expectOut(index);
    return r.demand!;
  };
  const a = await run(0);
  expect(a.faultBatches).toBeGreaterThan(0);
  // The same again (planned in the same slices: the space holds more than the pool): each slice's
  // pages — idx, out and data pages 0-7 — come in before its first pass, which completes.
  const b = await run(0);
  expect(b.faultBatches).toBe(0);
  expect(b.passes).toBe(b.slices);
  expect(b.pagesPredicted).toBeGreaterThan(0);
  // Same grid and arguments, other data pages (16-23): the footprint fetched is wrong, the pass stalls.
  const c = await run(16);
  expect(c.passes).toBeGreaterThanOrEqual(2);
  expect(c.faultBatches).toBeGreaterThan(0);
  // And the footprint learned from that run serves the next.
  const d = await run(16);
  expect(d.faultBatches).toBe(0);
  expect(d.passes).toBe(d.slices);
  space.checkInvariants();
});

/** dst[t] = src[t pages in] + src[t + T pages in] + src[t + 2T pages in]: three pages an invocation, idempotent. */
const threePages = createKernel({
  label: 'ahead:three-pages', idempotent: true, workgroupSize: 4,
  code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let t = inv.global_id.x;
  let total = vm_arg_u32(2u);
  if (t >= total) { return; }
  let pw = vm_arg_u32(3u);
  var s = 0u;
  for (var k = 0u; k < 3u; k++) { s += vm_load_u32(vm_arg_u32(0u) + (t + k * total) * pw * 4u); }
  vm_store_u32(vm_arg_u32(1u) + t * 4u, s);
}`,
});

testWithDevice('a slice cut right after its first pass runs its parts fresh: every word written (a one-page hint, 24× the pool)', async (ctx) => {
  // The hint makes the whole grid the first slice. Its first pass misses 256 pages (each invocation's first)
  // and is told of 512 more: it is cut at once. That pass kept no completion record (the first-pass variant),
  // so the parts must run every invocation — taken for parts of a slice with exact records, they skip them all.
  const { space } = await makeSpace(ctx, { capacity: 32 * P, pageSize: P }, 800 * P, { densityPrefetch: false });
  const total = 256;
  const pw = P / 4;
  const src = space.alloc(3 * total * P, { align: P });
  const dst = space.alloc(total * 4, { align: P });
  const firstWords = new Uint32Array(3 * total).map((_, p) => (p * 2654435761) >>> 8);
  for (let p = 0; p < 3 * total; p++) await space.write(src + p * P, firstWords.subarray(p, p + 1));
  const r = await space.dispatch(threePages, { workgroups: total / 4, args: [src, dst, total, pw], demand: true, read: [{ addr: src, byteLength: P }] });
  expect(r.demand!.slices).toBeGreaterThan(1);
  const got = u32(await space.read(dst, total * 4));
  let bad = 0;
  for (let t = 0; t < total; t++) if (got[t] !== ((firstWords[t]! + firstWords[t + total]! + firstWords[t + 2 * total]!) >>> 0)) bad++;
  expect(bad).toBe(0);
  space.checkInvariants();
});

/**
 * A grid-stride stream of `rows` rows that also writes behind itself: dst[i] = src[i] + 1 and
 * back[i - lag] = src[i] (with back just after dst, the pages a slice's retiring would pick: the last
 * slice's), and max of every value into a table word every slice touches.
 */
const rowsBehind = createKernel({
  label: 'ahead:rows-behind', idempotent: true, workgroupSize: 64,
  code: /* wgsl */ `
// args: src, dst, back, n, max, lag, rows, total
fn kernel(inv: VmInvocation) {
  let t = inv.global_id.x + inv.global_id.y * inv.num_workgroups.x * 64u;
  let total = vm_arg_u32(7u);
  if (t >= total) { return; }
  for (var k = 0u; k < vm_arg_u32(6u); k++) {
    let i = t + k * total;
    if (i >= vm_arg_u32(3u)) { break; }
    let v = vm_load_u32(vm_arg_u32(0u) + i * 4u);
    vm_store_u32(vm_arg_u32(1u) + i * 4u, v + 1u);
    if (i >= vm_arg_u32(5u)) { vm_store_u32(vm_arg_u32(2u) + (i - vm_arg_u32(5u)) * 4u, v); }
    vm_atomic_max_u32(vm_arg_u32(4u), v);
  }
}`,
});

/**
 * What a rowsBehind dispatch must leave: dst[i] = src[i] + 1, back[i] = src[i + lag], the largest value in
 * `max`; the words that differ.
 */
async function behindErrors(space: AddressSpace, input: Uint32Array, dst: number, back: number, max: number, lag: number): Promise<number> {
  const n = input.length;
  const d = u32(await space.read(dst, n * 4));
  const b = u32(await space.read(back, n * 4));
  let bad = 0;
  for (let i = 0; i < n; i++) {
    if (d[i] !== ((input[i]! + 1) >>> 0)) bad++;
    if (i + lag < n && b[i] !== input[i + lag]) bad++;
  }
  if (u32(await space.read(max, 4))[0] !== input.reduce((a, v) => Math.max(a, v), 0)) bad++;
  return bad;
}

testWithDevice('two slices in flight: the next slice comes in during the pass, and what the pass writes — behind the stream too — is kept', async (ctx) => {
  // 32 frames of 4 KiB, src 128 pages, dst 256 (the second half written behind the stream, `lag` words back).
  const { space } = await makeSpace(ctx, { capacity: 32 * P, pageSize: P }, 512 * P, { densityPrefetch: false });
  const n = (128 * P) / 4;
  const src = space.alloc(n * 4, { align: P });
  const dst = space.alloc(2 * n * 4, { align: P });
  const max = space.alloc(4, { align: P });
  const input = new Uint32Array(n).map((_, i) => (i * 2654435761) >>> 0 >>> 1);
  await space.write(src, input);
  const lag = (6 * P) / 4;
  const r = await space.dispatch(rowsBehind, { workgroups: n / 64, args: [src, dst, dst + n * 4, n, max, lag, 1, n], demand: true });
  const d = r.demand!;
  expect(d.slices).toBeGreaterThanOrEqual(8);
  expect(d.pagesPredicted).toBeGreaterThan(128); // most src pages came with a prediction, many while a pass ran
  expect(await behindErrors(space, input, dst, dst + n * 4, max, lag)).toBe(0);
  space.checkInvariants();
});

/** Invocation 0 of a workgroup reads a[0]; the others read b[i]; each writes out[i] = what it read + 1. */
const laneSplit = createKernel({
  label: 'ahead:lane-split', idempotent: true, workgroupSize: 64,
  code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(3u)) { return; }
  var v = 0u;
  if (inv.local_index == 0u) { v = vm_load_u32(vm_arg_u32(0u)); } else { v = vm_load_u32(vm_arg_u32(1u) + i * 4u); }
  vm_store_u32(vm_arg_u32(2u) + i * 4u, v + 1u);
}`,
});

testWithDevice('a cold slice\'s first pass is a sample of invocation 0 per workgroup; a sample that misses nothing still runs the whole slice', async (ctx) => {
  // Every workgroup's invocation 0 reads one resident page; the others read b, which is not resident: the
  // sample finds nothing missing, and the slice must run whole all the same (or b's readers never run).
  const { space } = await makeSpace(ctx, { capacity: 64 * P, pageSize: P }, 128 * P);
  const n = 4096;
  const a = space.alloc(P, { align: P });
  const b = space.alloc(n * 4, { align: P });
  const out = space.alloc(n * 4, { align: P });
  space.alloc(32 * P); // never touched: with b, more than half the space's pages are not resident
  const bv = new Uint32Array(n).map((_, i) => (i * 40503) >>> 0);
  await space.write(b, bv);
  await space.write(a, new Uint32Array([77]));
  await space.prefetch(a, P, { to: 'device' });
  await space.prefetch(out, n * 4, { to: 'device' }); // a and out resident: invocation 0 of each workgroup misses nothing
  const r = await space.dispatch(laneSplit, { workgroups: n / 64, args: [a, b, out, n], demand: true });
  expect(r.demand!.passes).toBeGreaterThanOrEqual(2); // the sample, then the slice whole
  const got = u32(await space.read(out, n * 4));
  let bad = 0;
  for (let i = 0; i < n; i++) if (got[i] !== (i % 64 === 0 ? 78 : (bv[i]! + 1) >>> 0)) bad++;
  expect(bad).toBe(0);
  space.checkInvariants();
});

testWithDevice('a cold gather\'s first dispatch samples twice: the second sample finds the data behind the indices the first missed, and the whole pass after it completes', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 64 * P, pageSize: P }, 64 * P);
  const n = 4096;
  const { idx, args, expectOut } = await gatherSpace(space, 16, n);
  // Every invocation of workgroup w reads data page w % 16: invocation 0's index leads to the page its
  // workgroup reads, so two samples find every page (one finds the indices, the next what they point at).
  const words = P / 4;
  const index = new Uint32Array(n).map((_, i) => (Math.floor(i / 64) % 16) * words + ((i * 37) % words));
  await space.write(idx, index);
  // A new kernel object: nothing known from an earlier dispatch.
  const r = await space.dispatch(createKernel(GATHER), { workgroups: n / 64, args, demand: true });
  const d = r.demand!;
  expect(d.samples).toBe(2);
  expect(d.faultBatches).toBe(2); // the indices (and out, max), then the data
  expect(d.passes).toBe(3); // sample, sample, the slice whole — which completes: no pass after it
  await expectOut(index);
  space.checkInvariants();
});

/** dst[i] = src[i] + arg 3 (a salt that makes each dispatch's arguments new): a stream, whose first sample's hints are right. */
const copySalted = createKernel({
  label: 'ahead:copy-salted', idempotent: true, workgroupSize: 64,
  code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(2u)) { return; }
  vm_store_u32(vm_arg_u32(1u) + i * 4u, vm_load_u32(vm_arg_u32(0u) + i * 4u) + vm_arg_u32(3u));
}`,
});

testWithDevice('a kernel whose second samples find nothing stops sampling twice after a few dispatches, and every word stays exact', async (ctx) => {
  // (No thrashing detection: its hold would keep the pages the host writes on the device, warm.)
  const { space } = await makeSpace(ctx, { capacity: 64 * P, pageSize: P }, 64 * P, { thrashing: false });
  const n = (16 * P) / 4;
  const src = space.alloc(n * 4, { align: P });
  const dst = space.alloc(n * 4, { align: P });
  space.alloc(16 * P); // never touched: the slice is cold while src and dst are not resident
  const input = new Uint32Array(n).map((_, i) => (i * 2654435761) >>> 0);
  const samples: number[] = [];
  for (let salt = 1; salt <= 8; salt++) {
    await space.write(src, input); // cold again: the device copies dropped
    await space.write(dst, new Uint32Array(n));
    // New arguments each time: no footprint known, every dispatch starts cold.
    const r = await space.dispatch(copySalted, { workgroups: n / 64, args: [src, dst, n, salt], demand: true });
    samples.push(r.demand!.samples);
    const got = u32(await space.read(dst, n * 4));
    expect(got.every((v, i) => v === ((input[i]! + salt) >>> 0))).toBe(true);
  }
  // The first sample's misses and hints bring every page in: the second finds nothing.
  expect(samples.slice(0, 4)).toEqual([2, 2, 2, 2]);
  expect(samples.slice(4)).toEqual([1, 1, 1, 1]);
  space.checkInvariants();
});

testWithDevice('property: streams of 1-4 rows over 4-12x the pool, writing behind themselves, equal the CPU through scouts, samples, predictions and two slices in flight (fast-check)', async (ctx) => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 16, max: 48 }), fc.integer({ min: 4, max: 12 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 8 }), fc.integer(),
      async (frames, factor, rows, lagPages, seed) => {
        const pages = frames * factor;
        const { space, pool } = await makeSpace(ctx, { capacity: frames * P, pageSize: P }, (3 * pages + 8) * P, { densityPrefetch: false });
        try {
          const n = (pages * P) / 4 / 3; // src, dst and back: together `pages`
          const src = space.alloc(n * 4, { align: P });
          const dst = space.alloc(n * 4, { align: P });
          const back = space.alloc(n * 4, { align: P });
          const max = space.alloc(4, { align: P });
          const rnd = lcg(seed);
          const input = new Uint32Array(n).map(() => rnd() >>> 1);
          await space.write(src, input);
          const lag = (lagPages * P) / 4;
          const total = Math.ceil(n / rows);
          const wg = Math.ceil(total / 64);
          const r = await space.dispatch(rowsBehind, { workgroups: [Math.min(wg, 65535), Math.ceil(wg / 65535)], args: [src, dst, back, n, max, lag, rows, total], demand: true });
          expect(r.demand!.slices).toBeGreaterThan(1);
          expect(await behindErrors(space, input, dst, back, max, lag)).toBe(0);
          space.checkInvariants();
        } finally {
          space.destroy();
          pool.destroy();
        }
      },
    ),
    { numRuns: Number(process.env.HMM_PROP_RUNS ?? 6), seed: Number(process.env.HMM_PROP_SEED ?? 20261211) },
  );
});
