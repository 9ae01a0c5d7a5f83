import { expect } from 'vitest';
import { testWithDevice, KiB, MiB } from '../helpers/gpu.ts';
import { makeSpace } from '../helpers/space.ts';
import { createKernel, defineStruct } from '../../src/index.ts';
import { bstKeys, bstLookup, bstQueries, buildBst, checkLookups, Node } from '../../demos/lib/bst.ts';

testWithDevice('a binary search tree built in JS is walked by many GPU invocations in declared mode, no marshalling', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 4 * MiB, pageSize: 16 * KiB }, 8 * MiB);
  const tree = await buildBst(space, bstKeys(20_000));
  const qn = 8192;
  const queries = bstQueries(tree, qn);
  const q = space.alloc(qn * 4);
  const out = space.alloc(qn * 4);
  await space.write(q, queries);
  await space.dispatch(bstLookup, {
    workgroups: qn / 64,
    read: [{ addr: tree.arena, byteLength: tree.count * Node.size }, { addr: q, byteLength: qn * 4 }],
    write: [{ addr: out, byteLength: qn * 4 }],
    args: [tree.root, q, out, qn],
  });
  const check = checkLookups(tree, queries, new Float32Array((await space.read(out, qn * 4)).buffer));
  expect(check.mismatches).toBe(0);
  expect(check.hits).toBeGreaterThanOrEqual(qn / 2);
  // The host reads the same nodes back through the layout: the root's children are addresses in the arena.
  const root = Node.read(await space.read(tree.root, Node.size), 0);
  expect(root.key).toBe(tree.keys[0]);
  for (const child of [root.left, root.right]) {
    if (child !== 0) expect((child - tree.arena) % Node.size).toBe(0);
  }
  space.checkInvariants();
});

testWithDevice('struct accessors: host and WGSL agree on every offset, and setters write in place', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 1 * MiB, pageSize: 4 * KiB }, 1 * MiB);
  const S = defineStruct('Rec', { a: 'u32', v: 'vec4f', b: 'i32', w: 'vec2u', next: 'ptr' });
  const n = 64;
  const base = space.alloc(n * S.size, { align: S.align });
  await space.withView(base, n * S.size, 'write', (view) => {
    for (let i = 0; i < n; i++) S.write(view, i * S.size, { a: i, v: [i, i + 0.5, -i, 2], b: -i, w: [i, i * 2], next: i + 1 < n ? base + (i + 1) * S.size : 0 });
  });
  const k = createKernel({
    label: 'rec',
    workgroupSize: 64,
    structs: [S],
    code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let p = vm_arg_u32(0u) + inv.global_id.x * Rec_SIZE;
  let v = Rec_v(p);
  Rec_set_a(p, Rec_a(p) + u32(v.y * 2.0) + Rec_w(p).y);
  Rec_set_b(p, Rec_b(p) * 10);
  Rec_set_v(p, v * 2.0);
  if (Rec_next(p) != 0u) { Rec_set_w(p, vec2<u32>(Rec_a(Rec_next(p)), 7u)); }
}`,
  });
  await space.dispatch(k, { workgroups: 1, write: [{ addr: base, byteLength: n * S.size }], args: [base] });
  const bytes = await space.read(base, n * S.size);
  for (let i = 0; i < n; i++) {
    const r = S.read(bytes, i * S.size);
    expect(r.a).toBe(i + (2 * i + 1) + 2 * i);
    // `+ 0` folds -0 into 0 on both sides (i = 0 gives -0 in JS).
    expect(r.b + 0).toBe(-10 * i + 0);
    expect(r.v.map((x) => x + 0)).toEqual([2 * i, 2 * i + 1, -2 * i + 0, 4]);
    if (i + 1 < n) expect(r.w[1]).toBe(7);
  }
});
