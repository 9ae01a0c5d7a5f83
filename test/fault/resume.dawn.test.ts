// Resumable invocations (prelude vm_save_u32 / vm_resume_u32, src/kernel/link.ts
// resumeApplies, src/fault/demand.ts #runReplay's progress): a stalled invocation of a
// replay goes on from the state it saved, so a chase through a linked structure needs
// the page of its current node only, not its whole path at once.

import { describe, expect } from 'vitest';
import { testWithDevice, KiB, MiB } from '../helpers/gpu.ts';
import { makeSpace, u32 } from '../helpers/space.ts';
import { createKernel, WorkingSetTooLargeError, type AddressSpace } from '../../src/index.ts';
import { bstKeys, bstLookup, bstQueries, buildBst, checkLookups, Node } from '../../demos/lib/bst.ts';

const PAGE = 4 * KiB;
const REGION_PAGES = 512;

/** Each invocation i < n follows its own chain from heads[i], summing the nodes' values: [next, value] nodes. */
const chase = (idempotent: boolean, resumable: boolean) => createKernel({
  label: `chase${resumable ? '-resumable' : ''}`,
  workgroupSize: 64,
  idempotent,
  code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(2u)) { return; }
  var p = ${resumable ? 'vm_resume_u32(0u, vm_load_u32(vm_arg_u32(0u) + i * 4u))' : 'vm_load_u32(vm_arg_u32(0u) + i * 4u)'};
  var sum = ${resumable ? 'vm_resume_u32(1u, 0u)' : '0u'};
  loop {
    if (p == 0u) { break; }
    ${resumable ? 'vm_save_u32(0u, p);\n    vm_save_u32(1u, sum);' : ''}
    sum += vm_load_u32(p + 4u);
    p = vm_load_u32(p);
  }
  vm_store_u32(vm_arg_u32(1u) + i * 4u, sum);
}`,
});

/**
 * Chains of `hops` nodes for n ≤ 512 invocations over a region of REGION_PAGES pages: hop k of
 * invocation i on page (i·131 + k·37 + seed) mod 512, at offset i·8 — every hop of a chain on a
 * page of its own. Returns the heads' address and what each sum must be.
 */
async function chains(space: AddressSpace, n: number, hops: number, seed: number): Promise<{ heads: number; region: number; want: Uint32Array }> {
  const region = space.alloc(REGION_PAGES * PAGE, { align: PAGE });
  const heads = space.alloc(n * 4, { align: PAGE });
  const words = new Uint32Array((REGION_PAGES * PAGE) / 4);
  const at = (i: number, k: number) => region + (((i * 131 + k * 37 + seed) % REGION_PAGES) * PAGE) + i * 8;
  const want = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < hops; k++) {
      const w = (at(i, k) - region) / 4;
      words[w] = k + 1 < hops ? at(i, k + 1) : 0;
      words[w + 1] = i * 1000 + k + seed;
      want[i] = (want[i]! + i * 1000 + k + seed) >>> 0;
    }
  }
  await space.write(region, words);
  await space.write(heads, Uint32Array.from({ length: n }, (_, i) => at(i, 0)));
  return { heads, region, want };
}

describe('resumable invocations', () => {
  testWithDevice('a chase whose paths together are 48x the pool completes by resuming; without saves the same chase cannot fit', async (ctx) => {
    // 256 chains of 24 hops, each hop on its own page, through a pool of 32 frames: a workgroup's
    // 64 chains need 1,536 pages at once when each invocation runs from its head every pass.
    const { space } = await makeSpace(ctx, { capacity: 32 * PAGE, pageSize: PAGE }, 4 * MiB, { strict: false });
    const n = 256;
    const hops = 24;
    const { heads, want } = await chains(space, n, hops, 3);
    const out = space.alloc(n * 4, { align: PAGE });
    const r = await space.dispatch(chase(true, true), { workgroups: n / 64, args: [heads, out, n], demand: true });
    expect(r.mode).toBe('replay');
    expect(u32(await space.read(out, n * 4))).toEqual(want);
    expect(r.demand!.resumedAdvances).toBeGreaterThan(n); // every chain moved on between stalls, most more than once
    // Passes in the order of the chains' length (118 when written: 24 frames of room for 256 chains), not of their pages (6,144).
    expect(r.demand!.passes).toBeLessThan(hops * 6);
    const plain = await space.dispatch(chase(true, false), { workgroups: n / 64, args: [heads, out, n], demand: true }).catch((e: unknown) => e);
    expect(plain).toBeInstanceOf(WorkingSetTooLargeError);
    space.checkInvariants();
  }, 120_000);

  testWithDevice('the saved states are gone before the next dispatch: a transaction by rounds after a resumable replay applies every invocation once', async (ctx) => {
    // Found by the tree demo's test: the records keep the saved states after a resumable replay
    // completes, and a transaction by rounds (src/fault/demand.ts #runRounds) read them as its
    // rounds' marks — the invocations they covered were taken for done and never ran (683 of
    // 4,096 lookups left unwritten). The demo's lookups, replayed, then as a transaction.
    const { space } = await makeSpace(ctx, { capacity: 1 * MiB, pageSize: PAGE }, 4 * MiB, { strict: false });
    const tree = await buildBst(space, bstKeys(131072)); // 2 MiB of nodes, 2x the pool
    const qn = 4096;
    const queries = bstQueries(tree, qn);
    const q = space.alloc(qn * 4);
    const out = space.alloc(qn * 4);
    await space.write(q, queries);
    const replayable = createKernel({ label: 'bst-lookup', workgroupSize: 64, structs: [Node], code: bstLookup.code, idempotent: true });
    expect(replayable.resumes).toBe(true);
    for (const kernel of [replayable, bstLookup, replayable, bstLookup]) {
      await space.write(out, new Float32Array(qn).fill(-2));
      const r = await space.dispatch(kernel, { workgroups: qn / 64, args: [tree.root, q, out, qn], demand: true });
      expect(r.demand!.commits + r.demand!.replays).toBeGreaterThan(2);
      expect(checkLookups(tree, queries, new Float32Array((await space.read(out, qn * 4)).slice().buffer)).mismatches).toBe(0);
    }
    space.checkInvariants();
  }, 120_000);

  testWithDevice('the saved state is the dispatch\'s own: a second dispatch of other chains starts from its own heads, and every other mode runs from the top', async (ctx) => {
    const { space } = await makeSpace(ctx, { capacity: 32 * PAGE, pageSize: PAGE }, 8 * MiB, { strict: false });
    const n = 128;
    const a = await chains(space, n, 12, 5);
    const b = await chains(space, n, 9, 11);
    const out = space.alloc(n * 4, { align: PAGE });
    const k = chase(true, true);
    for (const c of [a, b, a]) {
      await space.write(out, new Uint32Array(n));
      const r = await space.dispatch(k, { workgroups: n / 64, args: [c.heads, out, n], demand: true });
      expect(r.demand!.passes).toBeGreaterThan(2); // it stalled, and resumed
      expect(u32(await space.read(out, n * 4))).toEqual(c.want);
    }
    // A transaction (not idempotent): saves do nothing, resume gives the initial value.
    await space.write(out, new Uint32Array(n));
    const t = await space.dispatch(chase(false, true), { workgroups: n / 64, args: [b.heads, out, n], demand: true }).catch((e: unknown) => e);
    // Its invocations need their whole chains at once: 64 × 9 pages do not fit 32 frames.
    expect(t).toBeInstanceOf(WorkingSetTooLargeError);
    expect(u32(await space.read(out, n * 4))).toEqual(new Uint32Array(n)); // nothing applied
    space.checkInvariants();
  }, 120_000);

  testWithDevice('declared and transaction dispatches of a resumable kernel run every invocation from the top, exactly', async (ctx) => {
    const { space } = await makeSpace(ctx, { capacity: 4 * MiB, pageSize: PAGE }, 4 * MiB, { strict: false });
    const n = 128;
    const c = await chains(space, n, 10, 7);
    const out = space.alloc(n * 4, { align: PAGE });
    const region = { addr: c.region, byteLength: REGION_PAGES * PAGE };
    for (const idempotent of [true, false]) {
      await space.write(out, new Uint32Array(n));
      await space.dispatch(chase(idempotent, true), { workgroups: n / 64, args: [c.heads, out, n], read: [region, { addr: c.heads, byteLength: n * 4 }], write: [{ addr: out, byteLength: n * 4 }] });
      expect(u32(await space.read(out, n * 4))).toEqual(c.want);
      await space.write(out, new Uint32Array(n));
      const r = await space.dispatch(chase(idempotent, true), { workgroups: n / 64, args: [c.heads, out, n], demand: true });
      expect(u32(await space.read(out, n * 4))).toEqual(c.want);
      if (!idempotent) expect(r.demand!.resumedAdvances).toBe(0);
    }
    space.checkInvariants();
  });
});
