import { expect } from 'vitest';
import { testWithDevice, KiB, MiB } from '../helpers/gpu.ts';
import { makeSpace } from '../helpers/space.ts';
import { createKernel, defineStruct, ptrWords } from '../../src/index.ts';
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

testWithDevice('64-bit pointers: a list of VmPtr-linked records is walked and updated through vm_ptr_* accessors', async (ctx) => {
  // A space of at most 4 GiB takes 64-bit layouts too (their high words are 0); a space over
  // 4 GiB gets them by default (defineStruct(…, { space })): test/api/large-space.dawn.test.ts.
  const { space } = await makeSpace(ctx, { capacity: 1 * MiB, pageSize: 4 * KiB }, 1 * MiB);
  const Item = defineStruct('Item', { key: 'u32', next: 'ptr', pos: 'vec3f', weight: 'f32' }, { pointers: 64 });
  expect(Item.offsets).toEqual({ key: 0, next: 8, pos: 16, weight: 28 });
  expect(Item.size).toBe(32);
  const n = 100;
  const base = space.alloc(n * Item.size, { align: Item.align });
  // Linked backwards: item i points at item i - 1; item 0 ends the list.
  await space.withView(base, n * Item.size, 'write', (view) => {
    for (let i = 0; i < n; i++) Item.write(view, i * Item.size, { key: i + 1, next: i === 0 ? 0 : base + (i - 1) * Item.size, pos: [i, 0, 0], weight: 0.5 });
  });
  const k = createKernel({
    label: 'walk64',
    workgroupSize: 1,
    structs: [Item],
    code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  var p = vm_arg_ptr(0u);
  var sum = 0u;
  loop {
    if (all(p == vm_ptr(0u, 0u)) || vm_faulted()) { break; }
    sum += Item_key(p);
    Item_set_weight(p, f32(sum));
    Item_set_pos(p, Item_pos(p) + vec3<f32>(0.0, 1.0, 2.0));
    p = Item_next(p);
  }
  vm_store_u32(vm_arg_u32(2u), sum);
}`,
  });
  const out = space.alloc(4);
  const head = base + (n - 1) * Item.size;
  await space.dispatch(k, { workgroups: 1, write: [{ addr: base, byteLength: n * Item.size }, { addr: out, byteLength: 4 }], args: [...ptrWords(head), out] });
  expect(new Uint32Array((await space.read(out, 4)).buffer.slice(0))[0]).toBe((n * (n + 1)) / 2);
  const items = Item.readArray(await space.read(base, n * Item.size), 0, n);
  let sum = 0;
  for (let i = n - 1; i >= 0; i--) {
    sum += i + 1;
    expect(items[i]).toEqual({ key: i + 1, next: i === 0 ? 0 : base + (i - 1) * Item.size, pos: [i, 1, 2], weight: sum });
  }
});
