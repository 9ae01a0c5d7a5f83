// Demand paging with exact replay (src/fault/demand.ts), on Dawn: kernels that
// are not idempotent give the result of one clean run under heavy eviction;
// fault batches report every missed page at once; violations, refusals and working
// sets that cannot fit fail loudly without changing the space.

import { expect } from 'vitest';
import { testWithDevice, KiB, MiB } from '../helpers/gpu.ts';
import { coreOf, inPlace, makeSpace, u32 } from '../helpers/space.ts';
import { AccessViolationError, createKernel, createSpace, ReplayUnsafeError, WorkingSetTooLargeError } from '../../src/index.ts';
import { replayUnit } from '../../src/fault/pass.ts';
import { MAX_REPLAY_INVOCATIONS } from '../../src/options.ts';

function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0);
}

testWithDevice('an in-place update runs exactly once per element under heavy eviction (16× oversubscribed)', async (ctx) => {
  // 64 KiB pool = 16 frames of 4 KiB; the array is 1 MiB = 256 pages; a workgroup touches one page.
  const { space, pool } = await makeSpace(ctx, { capacity: 64 * KiB, pageSize: 4 * KiB }, 1 * MiB + 64 * KiB);
  const n = (1 * MiB) / 4;
  const base = space.alloc(n * 4, { align: 4 * KiB });
  const init = new Uint32Array(n);
  const rnd = lcg(7);
  for (let i = 0; i < n; i++) init[i] = rnd();
  await space.write(base, init);
  const r = await space.dispatch(inPlace, { workgroups: n / 64, args: [base, n], demand: true });
  expect(r.mode).toBe('transaction');
  const got = u32(await space.read(base, n * 4));
  let bad = 0;
  for (let i = 0; i < n; i++) if (got[i] !== ((Math.imul(init[i]!, 3) + i) >>> 0)) bad++;
  expect(bad).toBe(0);
  const d = r.demand!;
  // The grid did not fit at once: it ran in parts, each committed on its own (slices of workgroups, or
  // rounds of invocations: src/fault/demand.ts #runRounds).
  expect(d.commits).toBeGreaterThan(1);
  expect(d.commits).toBeGreaterThanOrEqual(d.slices);
  // Every page of the array came in at least once: on a miss, or along with one (a stalled invocation's
  // hint, density prefetch, a slice's predicted pages).
  expect(d.pagesFaulted + d.pagesPrefetched + d.pagesDensityPrefetched + d.pagesPredicted).toBeGreaterThanOrEqual(256);
  expect(r.evictions).toBeGreaterThan(200);
  expect(pool.stats().aborts).toBe(d.aborts);
  space.checkInvariants();
});

testWithDevice('an atomic histogram and a list append are exact under demand faults and eviction', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 128 * KiB, pageSize: 4 * KiB }, 2 * MiB);
  const n = 65536; // 256 KiB of input = 64 pages, pool 32 frames
  const bins = 64;
  const data = space.alloc(n * 4, { align: 4 * KiB });
  const hist = space.alloc(bins * 4, { align: 4 * KiB });
  const list = space.alloc(n * 4 + 16, { align: 4 * KiB }); // [count, pad, pad, pad, items…]
  const input = new Uint32Array(n);
  const rnd = lcg(99);
  for (let i = 0; i < n; i++) input[i] = rnd() >>> 12;
  await space.write(data, input);
  const kernel = createKernel({
    label: 'hist-append',
    workgroupSize: 64,
    code: /* wgsl */ `
// args: data, hist, list, n, bins
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(3u)) { return; }
  let v = vm_load_u32(vm_arg_u32(0u) + i * 4u);
  vm_atomic_add_u32(vm_arg_u32(1u) + (v % vm_arg_u32(4u)) * 4u, 1u);
  if ((v & 7u) == 3u) {
    let slot = vm_atomic_add_u32(vm_arg_u32(2u), 1u);
    vm_atomic_store_u32(vm_arg_u32(2u) + 16u + slot * 4u, v);
  }
}`,
  });
  const r = await space.dispatch(kernel, { workgroups: n / 64, args: [data, hist, list, n, bins], demand: true });
  const want = new Uint32Array(bins);
  const wantList: number[] = [];
  for (const v of input) {
    want[v % bins]!++;
    if ((v & 7) === 3) wantList.push(v);
  }
  expect([...u32(await space.read(hist, bins * 4))]).toEqual([...want]);
  const count = u32(await space.read(list, 4))[0]!;
  expect(count).toBe(wantList.length);
  const items = [...u32(await space.read(list + 16, count * 4))].sort((a, b) => a - b);
  expect(items).toEqual(wantList.sort((a, b) => a - b));
  expect(r.demand!.commits).toBeGreaterThan(1); // in parts: slices or rounds
  space.checkInvariants();
});

testWithDevice('a commit that stores outside its snapshot aborts, is rolled back and committed once', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 256 * KiB, pageSize: 4 * KiB }, 256 * KiB);
  const ptr = 16 * KiB;
  const a = 32 * KiB;
  const b = 64 * KiB;
  await space.write(ptr, new Uint32Array([a, 0]));
  await space.write(a, new Uint32Array([111]));
  await space.write(b, new Uint32Array([222]));
  // A probe sees its own stores through a 4-word overlay (prelude.wgsl VM_OVERLAY); nine stores later the store to
  // *ptr has left it, so the probe reads the old pointer and predicts a write to a; the commit writes b.
  const k = createKernel({
    label: 'self-redirect',
    workgroupSize: 1,
    code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let ptr = vm_arg_u32(0u);
  vm_store_u32(ptr + 4u, vm_load_u32(ptr + 4u) + 1u);
  vm_store_u32(ptr, vm_arg_u32(1u));
  for (var i = 0u; i < 9u; i++) { vm_store_u32(ptr + 64u + i * 4u, i); }
  let q = vm_load_u32(ptr);
  vm_store_u32(q, vm_load_u32(q) + 5u);
}`,
  });
  const r = await space.dispatch(k, { workgroups: 1, args: [ptr, b], demand: true });
  // Commit 1 misses on b (its load), commit 2 stores to b outside the snapshot; commit 3 completes.
  expect(r.demand!.aborts).toBeGreaterThanOrEqual(1);
  expect(r.demand!.commits).toBe(r.demand!.aborts + 1);
  expect(r.demand!.restoredPages).toBeGreaterThanOrEqual(1);
  expect([...u32(await space.read(ptr, 8))]).toEqual([b, 1]); // the counter went up once, not twice
  expect(u32(await space.read(a, 4))[0]).toBe(111);
  expect(u32(await space.read(b, 4))[0]).toBe(227);
  space.checkInvariants();
});

testWithDevice('a probe stalled in a loop between a list and a counter reports the list\'s later pages (one probe for a three-page list)', async (ctx) => {
  // The stalled invocation moves between the list page and the counter's every iteration; moves
  // back to pages it has seen do not count towards its translation budget (VM_STALL_PAGES), so it
  // reaches the list's second and third pages and reports them as hints. Counted, it stopped after
  // 16 iterations: a probe for each further page (4 probes before the clean one, measured).
  const { space } = await makeSpace(ctx, { capacity: 64 * KiB, pageSize: 4 * KiB }, 256 * KiB);
  const n = 3 * 1024;
  const list = space.alloc(n * 4, { align: 4 * KiB });
  const counter = space.alloc(4, { align: 4 * KiB });
  const values = Uint32Array.from({ length: n }, (_, i) => (i * 7 + 1) % 1000);
  await space.write(list, values);
  const k = createKernel({
    label: 'list-sum',
    workgroupSize: 1,
    code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  for (var i = 0u; i < vm_arg_u32(1u); i++) {
    vm_atomic_add_u32(vm_arg_u32(2u), vm_load_u32(vm_arg_u32(0u) + i * 4u));
  }
}`,
  });
  const r = await space.dispatch(k, { workgroups: 1, args: [list, n, counter], demand: true });
  expect(r.mode).toBe('transaction');
  expect(r.demand!.slices).toBe(1);
  expect(r.demand!.probes).toBe(2); // the stall with every page reported, then the clean probe
  expect(u32(await space.read(counter, 4))[0]).toBe(values.reduce((a, b) => a + b, 0));
  space.checkInvariants();
});

testWithDevice('a sliced transaction fetches on density only into free frames: a full pool evicts for no prefetch', async (ctx) => {
  // Three pages of every four updated in place, 48 pages through 16 frames, density prefetch over
  // 4-page blocks (so each block's fourth page is over its threshold), and the pool full of the
  // data's own pages before the dispatch: every page density prefetch would add must evict one, so
  // it adds none (the faulted pages and the stalled invocations' hints take the room). Before,
  // it fetched the fourth pages. The data stays exact.
  const { space, pool } = await makeSpace(ctx, { capacity: 64 * KiB, pageSize: 4 * KiB }, 256 * KiB, { densityPrefetch: { blockSize: 16 * KiB } });
  const n = 48 * 1024;
  const a = space.alloc(n * 4, { align: 16 * KiB });
  const init = Uint32Array.from({ length: n }, (_, i) => i);
  await space.write(a, init);
  await space.prefetch(a + 32 * 4 * KiB, 16 * 4 * KiB, { to: 'device' });
  expect(pool.stats().framesFree).toBe(0);
  const k = createKernel({
    label: 'three-of-four',
    workgroupSize: 64,
    code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(1u) || (i / 1024u) % 4u == 3u) { return; }
  let a = vm_arg_u32(0u) + i * 4u;
  vm_store_u32(a, vm_load_u32(a) * 3u + i);
}`,
  });
  const r = await space.dispatch(k, { workgroups: n / 64, args: [a, n], demand: true });
  expect(r.mode).toBe('transaction');
  expect(r.demand!.commits).toBeGreaterThan(1); // in parts: slices or rounds
  expect(r.demand!.pagesDensityPrefetched).toBe(0);
  const got = u32(await space.read(a, n * 4));
  let bad = 0;
  for (let i = 0; i < n; i++) if (got[i] !== (Math.floor(i / 1024) % 4 === 3 ? i : (i * 4) >>> 0)) bad++;
  expect(bad).toBe(0);
  space.checkInvariants();
});

testWithDevice('appends that run past the page their probe saw commit at once: the next page joins the write set', async (ctx) => {
  // Every invocation of a probe takes the same slot from the counter (its own overlay copy of it),
  // so the probe sees one page of appends; the commit's 64 slots cross into the next page. That
  // page joins the commit's write set (the page after each run of it), so no commit aborts (one did
  // before).
  const { space } = await makeSpace(ctx, { capacity: 64 * KiB, pageSize: 4 * KiB }, 256 * KiB);
  const counter = space.alloc(4, { align: 4 * KiB });
  const out = space.alloc(16 * KiB, { align: 4 * KiB });
  const start = 1024 - 10; // ten slots left on the first page
  await space.write(counter, new Uint32Array([start]));
  await space.write(out, new Uint32Array(4 * 1024)); // a page never written gets no frame ahead of the kernel's store
  const k = createKernel({
    label: 'append',
    workgroupSize: 64,
    code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let slot = vm_atomic_add_u32(vm_arg_u32(0u), 1u);
  vm_store_u32(vm_arg_u32(1u) + slot * 4u, inv.local_index + 1u);
}`,
  });
  const r = await space.dispatch(k, { workgroups: 1, args: [counter, out], demand: true });
  expect(r.mode).toBe('transaction');
  expect(r.demand!.aborts).toBe(0);
  expect(r.demand!.commits).toBe(1);
  expect(u32(await space.read(counter, 4))[0]).toBe(start + 64);
  const got = [...u32(await space.read(out + start * 4, 64 * 4))].sort((a, b) => a - b);
  expect(got).toEqual(Array.from({ length: 64 }, (_, i) => i + 1));
  space.checkInvariants();
});

testWithDevice('a commit stands in for the clean probe after the second probe that missed (a chain of two dependent reads: two probes, one commit)', async (ctx) => {
  // Each invocation counts itself, reads an index, then the word the index names, and sums it. The
  // first probe misses the index pages (the count's page is resident: it is the write set), the
  // second the data pages; the commit that follows completes, where a third, clean probe ran first.
  const { space } = await makeSpace(ctx, { capacity: 256 * KiB, pageSize: 4 * KiB }, 256 * KiB);
  const n = 256;
  const acc = space.alloc(8, { align: 4 * KiB });
  const idx = space.alloc(n * 4, { align: 4 * KiB });
  const data = space.alloc(16 * 4 * KiB, { align: 4 * KiB });
  const words = (16 * 4 * KiB) / 4;
  const index = Uint32Array.from({ length: n }, (_, i) => (i * 2654435761) % words);
  const values = Uint32Array.from({ length: words }, (_, i) => i % 97);
  await space.write(idx, index);
  await space.write(data, values);
  await space.write(acc, new Uint32Array([0, 0]));
  await space.prefetch(acc, 4 * KiB, { to: 'device' });
  const k = createKernel({
    label: 'two-dependent-reads',
    workgroupSize: 64,
    code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  vm_atomic_add_u32(vm_arg_u32(0u), 1u);
  let j = vm_load_u32(vm_arg_u32(1u) + i * 4u);
  vm_atomic_add_u32(vm_arg_u32(0u) + 4u, vm_load_u32(vm_arg_u32(2u) + j * 4u));
}`,
  });
  const r = await space.dispatch(k, { workgroups: n / 64, args: [acc, idx, data], demand: true });
  expect(r.mode).toBe('transaction');
  expect(r.demand!.probes).toBe(2);
  expect(r.demand!.commits).toBe(1);
  expect(r.demand!.aborts).toBe(0);
  let sum = 0;
  for (const j of index) sum += values[j]!;
  expect([...u32(await space.read(acc, 8))]).toEqual([n, sum]);
  space.checkInvariants();
});

testWithDevice('a loop that takes tickets from an atomic counter ends in every kind of pass', async (ctx) => {
  // In a probe each invocation counts on its own overlay copy of the counter, so it walks all
  // n tickets: the loop ends, at a cost of invocations × n steps (keep n modest).
  const { space } = await makeSpace(ctx, { capacity: 64 * KiB, pageSize: 4 * KiB }, 256 * KiB);
  const n = 4096;
  const counter = space.alloc(16, { align: 4 * KiB });
  const out = space.alloc(n * 4, { align: 4 * KiB });
  const k = createKernel({
    label: 'tickets',
    workgroupSize: 64,
    code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  loop {
    let t = vm_atomic_add_u32(vm_arg_u32(0u), 1u);
    if (t >= vm_arg_u32(2u)) { break; }
    vm_store_u32(vm_arg_u32(1u) + t * 4u, t * 2u + 1u);
  }
}`,
  });
  const r = await space.dispatch(k, { workgroups: 4, args: [counter, out, n], demand: true });
  const got = u32(await space.read(out, n * 4));
  let bad = 0;
  for (let i = 0; i < n; i++) if (got[i] !== i * 2 + 1) bad++;
  expect(bad).toBe(0);
  // Each of the 256 invocations took one ticket past the end, once, in the one commit that counted.
  expect(u32(await space.read(counter, 4))[0]).toBe(n + 256);
  expect(r.demand!.commits).toBeGreaterThanOrEqual(1);
  space.checkInvariants();
});

testWithDevice('an idempotent kernel replays only unfinished workgroups; a non-idempotent one cannot claim to be', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 64 * KiB, pageSize: 4 * KiB }, 1 * MiB);
  const n = 65536;
  const src = space.alloc(n * 4, { align: 4 * KiB });
  const dst = space.alloc(n * 4, { align: 4 * KiB });
  const input = new Uint32Array(n).map((_, i) => i * 7 + 1);
  await space.write(src, input);
  const scale = createKernel({
    label: 'scale',
    idempotent: true,
    workgroupSize: 64,
    code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(2u)) { return; }
  vm_store_u32(vm_arg_u32(1u) + i * 4u, vm_load_u32(vm_arg_u32(0u) + i * 4u) * 2u);
}`,
  });
  const r = await space.dispatch(scale, { workgroups: n / 64, args: [src, dst, n], demand: true });
  expect(r.mode).toBe('replay');
  expect(r.demand!.replays).toBeGreaterThan(1);
  expect(r.demand!.probes + r.demand!.commits).toBe(0);
  const got = u32(await space.read(dst, n * 4));
  let bad = 0;
  for (let i = 0; i < n; i++) if (got[i] !== input[i]! * 2) bad++;
  expect(bad).toBe(0);
  space.checkInvariants();
  expect(() => createKernel({ idempotent: true, code: 'fn kernel(inv: VmInvocation) { vm_atomic_add_u32(0u, 1u); }' }))
    .toThrow(ReplayUnsafeError);
  expect(() => createKernel({ idempotent: true, code: 'fn kernel(inv: VmInvocation) { vm_atomic_max_u32(0u, 1u); }' })).not.toThrow();
});

testWithDevice('replays skip finished invocations one by one, and whole workgroups for kernels that share workgroup memory', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 64 * KiB, pageSize: 4 * KiB }, 1 * MiB);
  const n = 32768;
  const src = space.alloc(n * 4, { align: 4 * KiB });
  const dst = space.alloc(n * 4, { align: 4 * KiB });
  const input = new Uint32Array(n).map((_, i) => i * 13 + 5);
  await space.write(src, input);
  // Each workgroup reverses its 64 values through workgroup memory: an invocation's output
  // comes from another invocation's load, so a replay must run the whole workgroup again.
  const reverse = createKernel({
    label: 'reverse-in-workgroup',
    idempotent: true,
    workgroupSize: 64,
    code: /* wgsl */ `
var<workgroup> tile: array<u32, 64>;
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  tile[inv.local_index] = vm_load_u32(vm_arg_u32(0u) + i * 4u);
  workgroupBarrier();
  vm_store_u32(vm_arg_u32(1u) + i * 4u, tile[63u - inv.local_index]);
}`,
  });
  expect(reverse.workgroupSync).toBe(true);
  expect(replayUnit(reverse, n / 64)).toBe('workgroup');
  const r = await space.dispatch(reverse, { workgroups: n / 64, args: [src, dst, n], demand: true });
  expect(r.demand!.replays).toBeGreaterThan(1);
  const got = u32(await space.read(dst, n * 4));
  let bad = 0;
  for (let i = 0; i < n; i++) if (got[i] !== input[(i & ~63) + 63 - (i & 63)]) bad++;
  expect(bad).toBe(0);

  // Without workgroup sharing, completion is per invocation (no barrier in the entry point)
  // unless the dispatch has more invocations than the bits allowed.
  const plain = createKernel({ label: 'plain', idempotent: true, code: 'fn kernel(inv: VmInvocation) { vm_store_u32(0u, 1u); }' });
  expect(plain.workgroupSync).toBe(false);
  expect(replayUnit(plain, MAX_REPLAY_INVOCATIONS / 64)).toBe('invocation');
  expect(replayUnit(plain, MAX_REPLAY_INVOCATIONS / 64 + 1)).toBe('workgroup');
  expect(createKernel({ code: 'fn kernel(inv: VmInvocation) { storageBarrier(); }' }).workgroupSync).toBe(true);
});

testWithDevice('a thousand distinct misses in one pass are all reported at once (the fault bitmaps hold every page), none lost', async (ctx) => {
  const pages = 1000;
  // Density prefetch off: it fetches the rest of a block once most of it has faulted, which cuts
  // these rounds (test/policy/density-prefetch.dawn.test.ts); here the batch mechanism is the subject.
  const { space } = await makeSpace(ctx, { capacity: 8 * MiB, pageSize: 4 * KiB }, pages * 4 * KiB, { densityPrefetch: false });
  await space.withView(0, pages * 4 * KiB, 'write', (v) => {
    const w = u32(v);
    for (let p = 0; p < pages; p++) w[p * 1024 + 1] = p + 1;
  });
  // Invocation p reads word 1 of page p and adds it into word 0 of page 0.
  const k = createKernel({
    label: 'page-sum',
    workgroupSize: 64,
    code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let p = inv.global_id.x;
  if (p >= vm_arg_u32(0u)) { return; }
  vm_atomic_add_u32(0u, vm_load_u32(p * 4096u + 4u));
}`,
  });
  const r = await space.dispatch(k, { workgroups: Math.ceil(pages / 64), args: [pages], demand: true });
  expect(u32(await space.read(0, 4))[0]).toBe((pages * (pages + 1)) / 2);
  // Read from the bitmaps, the first probe's faults are all 1000 pages: one batch brings them in (a list of
  // 256 entries took four batches and as many extra passes).
  expect(r.demand!.faultBatches).toBe(1);
  expect(r.demand!.passes).toBe(3); // probe (misses), probe (clean), commit
  // Every page came in exactly once: missed, or fetched earlier as a hint (page 0, from a stalled
  // invocation's add, when the GPU happens to run that before invocation 0's own miss is recorded).
  expect(r.demand!.pagesFaulted + r.demand!.pagesPrefetched).toBe(pages);
});

testWithDevice('a violation in demand mode is reported once, with address and invocation, and the rest of the kernel lands', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 64 * KiB, pageSize: 4 * KiB }, 256 * KiB);
  const n = 256;
  const out = space.alloc(n * 4, { align: 4 * KiB });
  const k = createKernel({
    label: 'one-bad',
    workgroupSize: 64,
    code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i == 77u) { vm_store_u32(0x7fff0000u, 1u); return; }
  vm_store_u32(vm_arg_u32(0u) + i * 4u, i + 1u);
}`,
  });
  for (const idempotent of [false, true]) {
    const kk = idempotent ? createKernel({ label: 'one-bad', workgroupSize: 64, idempotent, code: k.code }) : k;
    const err = await space.dispatch(kk, { workgroups: n / 64, args: [out], demand: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AccessViolationError);
    const v = err as AccessViolationError;
    expect(v.count).toBe(1);
    expect(v.violations[0]).toEqual({ addr: 0x7fff0000, kind: 'out-of-range', invocation: [77, 0, 0] });
    const got = u32(await space.read(out, n * 4));
    for (let i = 0; i < n; i++) expect(got[i]).toBe(i === 77 ? 0 : i + 1);
    await space.write(out, new Uint32Array(n));
  }
});

testWithDevice('a workgroup whose own working set cannot fit fails with the sizes, and a sliced transaction leaves the space as it was', async (ctx) => {
  // 8 frames. Workgroups 0..15 touch 1 page each; workgroup 16 touches 12 pages.
  const { space } = await makeSpace(ctx, { capacity: 32 * KiB, pageSize: 4 * KiB }, 128 * KiB);
  const before = new Uint32Array(32 * 1024).map((_, i) => i);
  await space.write(0, before);
  const k = createKernel({
    label: 'greedy',
    workgroupSize: 1,
    code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let w = inv.workgroup_id.x;
  if (w < 16u) { vm_store_u32(w * 4096u, vm_load_u32(w * 4096u) + 1000000u); return; }
  var s = 0u;
  for (var p = 16u; p < 28u; p++) { s += vm_load_u32(p * 4096u); }
  vm_store_u32(28u * 4096u, s);
}`,
  });
  const err = await space.dispatch(k, { workgroups: 17, demand: true }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkingSetTooLargeError);
  // Discovery stops as soon as the pages found exceed the 8 frames.
  expect((err as Error).message).toMatch(/workgroup \[16, 0, 0\] alone \(at least 9 pages of 4096 bytes, found so far\)/);
  expect((err as WorkingSetTooLargeError).availableBytes).toBe(32 * KiB);
  expect([...u32(await space.read(0, 128 * KiB))]).toEqual([...before]);
  space.checkInvariants();
});

testWithDevice('host writes issued during a demand dispatch land after it, in order', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 64 * KiB, pageSize: 4 * KiB }, 512 * KiB);
  const n = 32768;
  const base = space.alloc(n * 4, { align: 4 * KiB });
  await space.write(base, new Uint32Array(n).fill(1));
  const run = space.dispatch(inPlace, { workgroups: n / 64, args: [base, n], demand: true });
  const w = space.write(base, new Uint32Array([42]));
  const read = space.read(base, 8);
  await Promise.all([run, w]);
  expect([...u32(await read)]).toEqual([42, 3 + 1]);
  expect(Array.from({ length: coreOf(space).pageCount }, (_, p) => coreOf(space).table.state[p]!).every((s) => s <= 3)).toBe(true);
  space.checkInvariants();
});

testWithDevice('sliced 3-D grids keep every workgroup its own ids, and each runs exactly once', async (ctx) => {
  // Every invocation adds 1 to its own counter and records its ids; 8 frames make the grid run in slices.
  const { space } = await makeSpace(ctx, { capacity: 32 * KiB, pageSize: 4 * KiB }, 1 * MiB);
  const grid = [7, 5, 3] as const;
  const ws = [4, 2, 1] as const;
  const total = grid[0] * grid[1] * grid[2] * ws[0] * ws[1];
  const stride = 1024; // 840 KiB of output for 8 frames: the grid must run in slices
  const out = space.alloc(total * stride, { align: 4 * KiB });
  const k = createKernel({
    label: 'ids',
    workgroupSize: [ws[0], ws[1], ws[2]],
    code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let g = inv.global_id;
  let n = inv.num_workgroups * vec3<u32>(${ws[0]}u, ${ws[1]}u, ${ws[2]}u);
  let i = g.x + n.x * (g.y + n.y * g.z);
  let a = vm_arg_u32(0u) + i * ${stride}u;
  vm_atomic_add_u32(a, 1u);
  vm_atomic_store_u32(a + 4u, inv.workgroup_id.x | (inv.workgroup_id.y << 8u) | (inv.workgroup_id.z << 16u));
  vm_atomic_store_u32(a + 8u, inv.local_index);
  vm_atomic_store_u32(a + 12u, inv.num_workgroups.x | (inv.num_workgroups.y << 8u) | (inv.num_workgroups.z << 16u));
}`,
  });
  const r = await space.dispatch(k, { workgroups: grid, args: [out], demand: true });
  expect(r.demand!.slices).toBeGreaterThan(1);
  const got = u32(await space.read(out, total * stride));
  const nx = grid[0] * ws[0];
  const ny = grid[1] * ws[1];
  let bad = 0;
  for (let z = 0; z < grid[2] * ws[2]; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        const i = x + nx * (y + ny * z);
        const wid = Math.floor(x / ws[0]) | (Math.floor(y / ws[1]) << 8) | (Math.floor(z / ws[2]) << 16);
        const lidx = (x % ws[0]) + ws[0] * (y % ws[1]);
        const want = [1, wid, lidx, grid[0] | (grid[1] << 8) | (grid[2] << 16)];
        if (want.some((w, j) => got[(i * stride) / 4 + j] !== w)) bad++;
      }
    }
  }
  expect(bad).toBe(0);
});

testWithDevice('declared ranges are prefetch hints in demand mode: a fully hinted kernel needs one probe and one commit', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 256 * KiB, pageSize: 4 * KiB }, 256 * KiB);
  const n = 16384;
  const base = space.alloc(n * 4, { align: 4 * KiB });
  await space.write(base, new Uint32Array(n).fill(2));
  const cold = await space.dispatch(inPlace, { workgroups: n / 64, args: [base, n], demand: true });
  expect(cold.demand!.probes).toBeGreaterThan(1);
  // The same code as a kernel of its own: no footprint of an earlier commit to go by.
  const again = createKernel({ label: 'in-place:hinted', workgroupSize: 64, code: inPlace.code });
  const hinted = await space.dispatch(again, { workgroups: n / 64, args: [base, n], demand: true, write: [{ addr: base, byteLength: n * 4 }] });
  expect(hinted.demand).toMatchObject({ probes: 1, commits: 1, aborts: 0, faultBatches: 0 });
  // Dispatched again the same way, the slice commits on the last clean commit's footprint: no probe.
  const known = await space.dispatch(again, { workgroups: n / 64, args: [base, n], demand: true, write: [{ addr: base, byteLength: n * 4 }] });
  expect(known.demand).toMatchObject({ probes: 0, commits: 1, aborts: 0, faultBatches: 0 });
  const got = u32(await space.read(base, n * 4));
  for (let i = 0; i < n; i += 1111) expect(got[i]).toBe((((2 * 3 + i) * 3 + i) * 3 + i) >>> 0);
});

testWithDevice('demand mode cannot reach another space in the same pool, whatever addresses a kernel makes up', async (ctx) => {
  const { space: a, pool } = await makeSpace(ctx, { capacity: 128 * KiB, pageSize: 4 * KiB, pinLimit: 64 * KiB }, 64 * KiB);
  const b = ctx.track(createSpace(pool, { size: 64 * KiB, label: 'secret' }));
  await b.write(0, new Uint32Array(16 * 1024).fill(0x5ec2e7));
  await b.pin(0, 64 * KiB); // b's frames are resident: a kernel on a must still never see them
  const sweep = createKernel({
    label: 'sweep',
    workgroupSize: 64,
    code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  // 64 Ki invocations, addresses spread over the whole 32-bit range in 64 KiB steps.
  let i = inv.global_id.x;
  let v = vm_load_u32(i << 16u);
  if (v == 0x5ec2e7u) { vm_atomic_add_u32(0u, 1u); }
}`,
  });
  const err = await a.dispatch(sweep, { workgroups: 1024, demand: true }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(AccessViolationError);
  expect((err as AccessViolationError).count).toBe(65535); // every address but 0 is outside a's 64 KiB
  expect(u32(await a.read(0, 4))[0]).toBe(0);
  a.checkInvariants();
});

testWithDevice('a stream through an 8× oversubscribed pool is planned in slices and predicted: about one pass per slice, each page moved once', async (ctx) => {
  // 32 frames of 4 KiB; src and dst are 512 KiB each (128 pages). Each workgroup reads one 256-byte piece of
  // src and writes the same piece of dst: consecutive slices touch consecutive pages, which the prediction
  // (src/policy/slice-prediction.ts) brings in with the slice instead of a fault pass finding them.
  const { space } = await makeSpace(ctx, { capacity: 128 * KiB, pageSize: 4 * KiB }, 2 * MiB, { densityPrefetch: false });
  const n = 131072;
  const src = space.alloc(n * 4, { align: 4 * KiB });
  const dst = space.alloc(n * 4, { align: 4 * KiB });
  const input = new Uint32Array(n).map((_, i) => (i * 2654435761) >>> 0);
  await space.write(src, input);
  const scale = createKernel({
    label: 'stream',
    idempotent: true,
    workgroupSize: 64,
    code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(2u)) { return; }
  vm_store_u32(vm_arg_u32(1u) + i * 4u, vm_load_u32(vm_arg_u32(0u) + i * 4u) ^ 0x5au);
}`,
  });
  const r = await space.dispatch(scale, { workgroups: n / 64, args: [src, dst, n], demand: true });
  const d = r.demand!;
  const got = u32(await space.read(dst, n * 4));
  let bad = 0;
  for (let i = 0; i < n; i++) if (got[i] !== ((input[i]! ^ 0x5a) >>> 0)) bad++;
  expect(bad).toBe(0);
  expect(d.slices).toBeGreaterThanOrEqual(8); // planned from the start: 512 pages through 32 frames
  expect(d.pagesPredicted).toBeGreaterThan(192); // most of the 256 pages came with their slice, not after a miss
  expect(d.pagesFaulted + d.pagesPrefetched).toBeLessThan(64);
  // The first slices learn the stride (a pass to find their pages, one to finish); the rest need one pass each.
  // Without prediction every slice takes two or more.
  expect(d.passes).toBeLessThanOrEqual(d.slices + 6);
  expect(r.bytesUploaded).toBeLessThanOrEqual(n * 4 * 1.1); // src moved about once (dst pages are new: cleared, not copied)
  space.checkInvariants();
});

testWithDevice('a transaction dispatched again the same way commits at once; when it goes elsewhere the commit aborts and the result is still exact', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 256 * KiB, pageSize: 4 * KiB }, 1 * MiB);
  const n = 16384; // 64 KiB = 16 pages of counters
  const data = space.alloc(n * 4, { align: 4 * KiB });
  const idx = space.alloc(64 * 4, { align: 4 * KiB });
  // Each of 64 invocations adds 1 to the counter its index word names: not idempotent (a transaction).
  const bump = createKernel({
    label: 'bump', workgroupSize: 64,
    code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let j = vm_load_u32(vm_arg_u32(1u) + inv.global_id.x * 4u);
  let a = vm_arg_u32(0u) + j * 4u;
  vm_store_u32(a, vm_load_u32(a) + 1u);
}`,
  });
  const want = new Uint32Array(n);
  const setIdx = async (f: (i: number) => number) => {
    const w = new Uint32Array(64).map((_, i) => f(i));
    await space.write(idx, w);
    return w;
  };
  let ix = await setIdx((i) => i * 4); // the first 256 counters: page 0 of data
  const opts = { workgroups: 1, args: [data, idx], demand: true } as const;
  const first = await space.dispatch(bump, opts);
  for (const j of ix) want[j]!++;
  expect(first.demand!.probes).toBeGreaterThan(0);
  const again = await space.dispatch(bump, opts);
  for (const j of ix) want[j]!++;
  expect(again.demand!.probes).toBe(0); // the footprint of the last clean commit, committed at once
  expect(again.demand!.commits).toBe(1);
  expect(again.demand!.aborts).toBe(0);
  // Same dispatch, but the indices now reach other pages: the commit on the old footprint aborts,
  // is restored, and the slice probes and commits as it would have.
  ix = await setIdx((i) => (i * 257) % n);
  await space.prefetch(data, n * 4, { to: 'host' });
  const moved = await space.dispatch(bump, opts);
  for (const j of ix) want[j]!++;
  expect(moved.demand!.aborts).toBe(1);
  expect(moved.demand!.probes).toBeGreaterThan(0);
  expect([...u32(await space.read(data, n * 4))]).toEqual([...want]);
  space.checkInvariants();
});

testWithDevice('sliced transactions that all read a table and append to one list: exact, and the next dispatch of the kernel starts from the hot pages', async (ctx) => {
  // Every slice reads the table and writes the counter and list pages (SliceHeat: held across
  // slices, in the write set of each commit, and seeded into the kernel's next dispatch); each
  // workgroup updates its own block of data in place. A wrong hot write set or seed would lose or
  // double an update, a claim or an append.
  const { space } = await makeSpace(ctx, { capacity: 96 * KiB, pageSize: 4 * KiB }, 2 * MiB);
  const n = 64 * 64;
  const tableWords = 4 * 1024;
  const table = space.alloc(tableWords * 4, { align: 4 * KiB });
  const data = space.alloc(n * 4 * 32, { align: 4 * KiB }); // 32 words an invocation: 512 KiB, 5x the pool
  const list = space.alloc(16 + 2 * n * 4, { align: 4 * KiB });
  const claims = space.alloc(n * 4, { align: 4 * KiB });
  const tv = Uint32Array.from({ length: tableWords }, (_, i) => (i * 2654435761) % 977);
  await space.write(table, tv);
  await space.write(data, new Uint32Array(n * 32).fill(1));
  await space.write(list, new Uint32Array([0]));
  await space.write(claims, new Uint32Array(n).fill(0xffffffff));
  const k = createKernel({
    label: 'table-append',
    workgroupSize: 64,
    code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  let t = vm_load_u32(vm_arg_u32(0u) + ((i * 2654435761u) % ${tableWords}u) * 4u);
  for (var j = 0u; j < 32u; j++) {
    let a = vm_arg_u32(1u) + (i * 32u + j) * 4u;
    vm_store_u32(a, vm_load_u32(a) + t);
  }
  let c = (i * 7919u) % ${n}u;
  let r = vm_atomic_compare_exchange_u32(vm_arg_u32(3u) + c * 4u, 0xffffffffu, vm_arg_u32(4u));
  let slot = vm_atomic_add_u32(vm_arg_u32(2u), 1u);
  vm_atomic_store_u32(vm_arg_u32(2u) + 16u + slot * 4u, select(i, i | 0x80000000u, r.exchanged));
}`,
  });
  for (const round of [1, 2]) {
    const r = await space.dispatch(k, { workgroups: n / 64, args: [table, data, list, claims, round], demand: true });
    expect(r.demand!.commits).toBeGreaterThanOrEqual(3); // in parts: slices or rounds
    const d = u32(await space.read(data, n * 4 * 32));
    for (let i = 0; i < n; i++) {
      const t = tv[Number((BigInt(i) * 2654435761n) % BigInt(2 ** 32)) % tableWords]!;
      for (let j = 0; j < 32; j++) if (d[i * 32 + j] !== 1 + round * t) throw new Error(`round ${round}: data[${i}][${j}] = ${d[i * 32 + j]}, want ${1 + round * t}`);
    }
    const l = u32(await space.read(list, 16 + 2 * n * 4));
    expect(l[0]).toBe(round * n);
    const seen = new Uint32Array(n);
    let exchanged = 0;
    for (let s = 0; s < round * n; s++) {
      const v = l[4 + s]!;
      seen[v & 0x7fffffff]!++;
      if (v & 0x80000000) exchanged++;
    }
    expect(seen.every((c) => c === round)).toBe(true);
    const distinct = new Set(Array.from({ length: n }, (_, i) => (i * 7919) % n)).size;
    expect(exchanged).toBe(distinct); // claims: each slot once, in the first round
    const cl = u32(await space.read(claims, n * 4));
    expect(cl.filter((v) => v === 1).length).toBe(distinct);
  }
  space.checkInvariants();
});

testWithDevice('a sliced transaction by rounds whose heavy invocations need more than a round brings goes on in parts, each invocation applied once', async (ctx) => {
  // Rounds (src/fault/demand.ts #runRounds) commit every invocation whose pages are in; the eight
  // heavy ones each read 24 scattered pages, more than a round has room for all together, so the
  // rounds stop progressing and the rest goes on in parts, still by rounds. The completion marks
  // say which invocations are done across the parts: zeroed between them (found in development),
  // done invocations ran again and their increments and appends were applied twice.
  const { space } = await makeSpace(ctx, { capacity: 128 * KiB, pageSize: 4 * KiB }, 2 * MiB);
  const n = 64 * 64;
  const data = space.alloc(n * 4 * 16, { align: 4 * KiB }); // 16 words an invocation: 256 KiB, 8x the pool
  const scatter = space.alloc(256 * KiB, { align: 4 * KiB });
  const list = space.alloc(16 + n * 4, { align: 4 * KiB });
  await space.write(data, new Uint32Array(n * 16).fill(5));
  await space.write(scatter, Uint32Array.from({ length: 64 * 1024 }, (_, i) => i % 7));
  await space.write(list, new Uint32Array([0]));
  const k = createKernel({
    label: 'heavy-rounds',
    workgroupSize: 64,
    code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  var extra = 0u;
  if (inv.local_index == 0u && inv.workgroup_id.x % 8u == 0u) {
    for (var j = 0u; j < 24u; j++) { extra += vm_load_u32(vm_arg_u32(1u) + ((j * 2654u + i * 97u) % 64u) * 4096u + (i % 1024u) * 4u); }
  }
  let a = vm_arg_u32(0u) + i * 64u;
  vm_store_u32(a, vm_load_u32(a) + 1u + extra);
  let slot = vm_atomic_add_u32(vm_arg_u32(2u), 1u);
  vm_atomic_store_u32(vm_arg_u32(2u) + 16u + slot * 4u, i);
}`,
  });
  const r = await space.dispatch(k, { workgroups: n / 64, args: [data, scatter, list], demand: true });
  expect(r.mode).toBe('transaction');
  const d = u32(await space.read(data, n * 4 * 16));
  const sc = u32(await space.read(scatter, 256 * KiB));
  for (let i = 0; i < n; i++) {
    let extra = 0;
    if (i % 64 === 0 && (i / 64) % 8 === 0) for (let j = 0; j < 24; j++) extra += sc[((j * 2654 + i * 97) % 64) * 1024 + (i % 1024)]!;
    if (d[i * 16] !== 6 + extra) throw new Error(`data[${i}] = ${d[i * 16]}, want ${6 + extra} (an increment applied ${d[i * 16] === 7 + 2 * extra - 1 ? 'twice' : 'wrongly'})`);
    for (let w = 1; w < 16; w++) if (d[i * 16 + w] !== 5) throw new Error(`data[${i}][${w}] changed`);
  }
  const l = u32(await space.read(list, 16 + n * 4));
  expect(l[0]).toBe(n);
  const seen = new Uint8Array(n);
  for (let s = 0; s < n; s++) seen[l[4 + s]!]!++;
  expect(seen.every((c) => c === 1)).toBe(true);
  space.checkInvariants();
});

for (const hops of [14, 40]) {
testWithDevice(`by rounds, a lone invocation chasing a chain of ${hops} dependent pages one round at a time ${hops < 32 ? 'completes' : 'fails as too large, nothing applied'}: rounds without progress end in a working-set error only when the pages do not fit`, async (ctx) => {
  // Found by a trial of the rounds' room: a single-workgroup part whose rounds committed nothing four
  // times (a stalled invocation advancing one dependent page a round) was reported as a working set
  // too large for the pool — 37 pages needed, 264 available. Here one invocation follows a chain of
  // 14 pages (each page holds the next one's address), the rest of the grid updates its own words
  // (8x the pool: sliced, so by rounds); 14 pages fit the 32 frames, 40 do not.
  const { space } = await makeSpace(ctx, { capacity: 128 * KiB, pageSize: 4 * KiB }, 2 * MiB);
  const n = 64 * 64;
  const data = space.alloc(n * 4 * 16, { align: 4 * KiB });
  const chain = space.alloc(64 * 4 * KiB, { align: 4 * KiB });
  await space.write(data, new Uint32Array(n * 16).fill(5));
  for (let k = 0; k < hops; k++) {
    // Hop k lives at page 1 + ((k - 1)·37 + 11) mod 63 of the chain (the head at page 0): all distinct.
    const next = k + 1 < hops ? chain + (1 + ((k * 37 + 11) % 63)) * 4 * KiB : 0;
    const at = k === 0 ? chain : chain + (1 + (((k - 1) * 37 + 11) % 63)) * 4 * KiB;
    await space.write(at, Uint32Array.of(next, k + 1));
  }
  const k = createKernel({
    label: 'chain-rounds',
    workgroupSize: 64,
    code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  var extra = 0u;
  if (i == 0u) {
    var p = vm_arg_u32(1u);
    loop {
      if (p == 0u) { break; }
      extra += vm_load_u32(p + 4u);
      p = vm_load_u32(p);
    }
  }
  let a = vm_arg_u32(0u) + i * 64u;
  vm_store_u32(a, vm_load_u32(a) + 1u + extra);
}`,
  });
  const run = space.dispatch(k, { workgroups: n / 64, args: [data, chain], demand: true });
  if (hops >= 32) {
    await expect(run).rejects.toBeInstanceOf(WorkingSetTooLargeError);
    expect(u32(await space.read(data, n * 4 * 16)).every((x) => x === 5)).toBe(true); // all or nothing
    space.checkInvariants();
    return;
  }
  const r = await run;
  expect(r.mode).toBe('transaction');
  expect(r.demand!.commits).toBeGreaterThan(1);
  const d = u32(await space.read(data, n * 4 * 16));
  const sum = (hops * (hops + 1)) / 2;
  for (let i = 0; i < n; i++) {
    if (d[i * 16] !== (i === 0 ? 6 + sum : 6)) throw new Error(`data[${i}] = ${d[i * 16]}`);
    for (let w = 1; w < 16; w++) if (d[i * 16 + w] !== 5) throw new Error(`data[${i}][${w}] changed`);
  }
  space.checkInvariants();
});
}
