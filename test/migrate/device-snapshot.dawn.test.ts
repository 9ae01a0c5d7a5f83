// The device snapshot (src/migrate/device-snapshot.ts): a demand transaction's
// commit copies the frames of the device-dirty pages it may write on the
// device, and an aborted commit copies them back — no read-back. Exact: the
// pages an aborted commit wrote are as before it, and the commit after it
// applies the kernel once.

import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { makeSpace, u32 } from '../helpers/space.ts';
import { createKernel } from '../../src/index.ts';

const P = 4 * KiB;

/** x[i] = 3x[i] + 1 always; y[i] += 1 when the word at `sel` is not 0. Not idempotent: a transaction. */
const xThenY = createKernel({
  label: 'snapshot:x-then-y', workgroupSize: 64,
  code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(3u)) { return; }
  let x = vm_arg_u32(0u) + i * 4u;
  vm_store_u32(x, vm_load_u32(x) * 3u + 1u);
  if (vm_load_u32(vm_arg_u32(2u)) != 0u) {
    let y = vm_arg_u32(1u) + i * 4u;
    vm_store_u32(y, vm_load_u32(y) + 1u);
  }
}`,
});

testWithDevice('an aborted commit puts its device-dirty pages back from the device snapshot, with nothing read back; the result is one clean run', async (ctx) => {
  const { space, pool } = await makeSpace(ctx, { capacity: 64 * P, pageSize: P }, 64 * P);
  const n = (4 * P) / 4;
  const x = space.alloc(n * 4, { align: P });
  const y = space.alloc(n * 4, { align: P });
  const sel = space.alloc(4, { align: P });
  const x0 = new Uint32Array(n).map((_, i) => i * 7);
  const y0 = new Uint32Array(n).map((_, i) => i * 5);
  await space.write(x, x0);
  await space.write(y, y0);
  await space.write(sel, new Uint32Array([0]));
  const args = [x, y, sel, n];
  // The first dispatch writes x only: x is device-dirty after it, and the next one with these arguments
  // commits at once on its footprint (write set x).
  let r = await space.dispatch(xThenY, { workgroups: n / 64, args, demand: true });
  expect(r.mode).toBe('transaction');
  await space.write(sel, new Uint32Array([1])); // now the kernel writes y too: the direct commit aborts
  const home = pool.stats().bytesToHost;
  r = await space.dispatch(xThenY, { workgroups: n / 64, args, demand: true });
  const d = r.demand!;
  expect(d.aborts).toBeGreaterThanOrEqual(1);
  expect(d.restoredPages).toBeGreaterThanOrEqual(4); // x's four pages, written by the aborted commit
  expect(d.snapshotPages).toBeGreaterThanOrEqual(4);
  expect(pool.stats().bytesToHost).toBe(home); // the snapshot stayed on the device
  const once = (v: number) => (Math.imul(v, 3) + 1) >>> 0;
  expect(u32(await space.read(x, n * 4))).toEqual(x0.map((v) => once(once(v))));
  expect(u32(await space.read(y, n * 4))).toEqual(y0.map((v) => v + 1));
  space.checkInvariants();
});

testWithDevice('a sliced transaction snapshots a page an earlier slice wrote on the device: it goes home once in the dispatch, and the aborted commits put it back exactly', async (ctx) => {
  // Every slice bumps one counter (an append's slot); each slot is a page of its own, so a commit
  // stores outside what its probe saw and aborts before it completes. The counter page
  // is in the undo log after the first slice writes it: later commits copy it on the device instead
  // of writing it home (they wrote it home at every commit before).
  const { space, pool } = await makeSpace(ctx, { capacity: 16 * P, pageSize: P }, 128 * P);
  const pages = 40;
  const n = (pages * P) / 4;
  const a = space.alloc(n * 4, { align: P });
  const counter = space.alloc(4, { align: P });
  const appends = n / 64 / 16; // one for every 16th workgroup
  const out = space.alloc(appends * P, { align: P });
  const a0 = new Uint32Array(n).map((_, i) => i * 7);
  await space.write(a, a0);
  await space.write(counter, new Uint32Array([0]));
  const k = createKernel({
    label: 'snapshot:sliced-append', workgroupSize: 64,
    code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(1u)) { return; }
  let x = vm_arg_u32(0u) + i * 4u;
  vm_store_u32(x, vm_load_u32(x) * 3u + 1u);
  if (inv.local_index == 0u && inv.workgroup_id.x % 16u == 0u) {
    let slot = vm_atomic_add_u32(vm_arg_u32(2u), 1u);
    vm_store_u32(vm_arg_u32(3u) + slot * ${P}u, inv.workgroup_id.x + 1u);
  }
}`,
  });
  const home: number[] = [];
  const off = pool.on((e) => { if (e.type === 'migration' && e.cause === 'snapshot' && e.direction === 'to-host') home.push(...e.pageList); });
  const r = await space.dispatch(k, { workgroups: n / 64, args: [a, n, counter, out], demand: true });
  off();
  const d = r.demand!;
  expect(r.mode).toBe('transaction');
  expect(d.slices).toBeGreaterThan(2);
  expect(d.aborts).toBeGreaterThanOrEqual(1);
  expect(d.restoredPages).toBeGreaterThan(0);
  // Each page went home as a snapshot at most once: the counter page among them.
  const counterPage = counter / P;
  expect(home.filter((p) => p === counterPage).length).toBeLessThanOrEqual(1);
  expect(new Set(home).size).toBe(home.length);
  expect(u32(await space.read(a, n * 4))).toEqual(a0.map((v) => (Math.imul(v, 3) + 1) >>> 0));
  expect(u32(await space.read(counter, 4))[0]).toBe(appends);
  const marks: number[] = [];
  for (let s = 0; s < appends; s++) marks.push(u32(await space.read(out + s * P, 4))[0]!);
  expect(marks.sort((x, y) => x - y)).toEqual(Array.from({ length: appends }, (_, w) => w * 16 + 1));
  space.checkInvariants();
});

testWithDevice('a commit\'s write-ahead pages that its own fault-in evicts are not in its snapshot (InFlight: device-only, no frame)', async (ctx) => {
  // The kernel writes the even pages of 16 in place; the odd ones are each the page after a run of
  // its write set, so they join the commit's write set ahead. The second, direct commit finds the
  // even pages at home and the pool full of the odd ones, device-dirty: its fault-in evicts every odd
  // page, whose write-backs are still in flight when the snapshot is taken (found by the soak:
  // copying a page without a frame threw in copyBufferToBuffer).
  const { space } = await makeSpace(ctx, { capacity: 8 * P, pageSize: P }, 64 * P);
  const base = space.alloc(16 * P, { align: P });
  const w = P / 4;
  const init = new Uint32Array(16 * w).map((_, i) => i);
  await space.write(base, init);
  const evens = createKernel({
    label: 'snapshot:evens', workgroupSize: 64,
    code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  let a = vm_arg_u32(0u) + ((i / ${w}u) * 2u * ${w}u + i % ${w}u) * 4u;
  vm_store_u32(a, vm_load_u32(a) + 1u);
}`,
  });
  const odd = createKernel({
    label: 'snapshot:one-page', workgroupSize: 64,
    code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let a = vm_arg_u32(0u) + inv.global_id.x * 4u;
  vm_store_u32(a, vm_load_u32(a) * 2u);
}`,
  });
  const hint = { read: [{ addr: base, byteLength: 4 }] }; // not planned in slices: one commit, on the device snapshot
  const run = () => space.dispatch(evens, { workgroups: (8 * w) / 64, args: [base], demand: true, ...hint });
  await run();
  for (let k = 0; k < 8; k++) {
    const page = base + (2 * k + 1) * P;
    await space.prefetch(base + 2 * k * P, P, { to: 'host' });
    await space.dispatch(odd, { workgroups: w / 64, args: [page], write: [{ addr: page, byteLength: P }] });
  }
  for (let k = 0; k < 8; k++) expect(space.residency(base + (2 * k + 1) * P, P).residentBytes).toBe(P);
  const r = await run();
  expect(r.mode).toBe('transaction');
  const got = u32(await space.read(base, 16 * P));
  let bad = 0;
  for (let i = 0; i < 16 * w; i++) if (got[i] !== (Math.floor(i / w) % 2 === 0 ? i + 2 : i * 2)) bad++;
  expect(bad).toBe(0);
  space.checkInvariants();
});
