import { expect } from 'vitest';
import { testWithDevice, KiB, MiB } from '../helpers/gpu.ts';
import { makeSpace } from '../helpers/space.ts';
import { createKernel, defineStruct } from '../../src/index.ts';

const Node = defineStruct('Node', { key: 'u32', value: 'f32', left: 'ptr', right: 'ptr' });

testWithDevice('a binary search tree built in JS is walked by many GPU invocations, no marshalling', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 4 * MiB, pageSize: 16 * KiB }, 8 * MiB);
  const count = 20_000;
  const arena = space.alloc(count * Node.size, { align: Node.align });
  // Distinct pseudo-random keys, inserted in that order (an unbalanced BST, depth ~ 2 ln n).
  const keys: number[] = [];
  const seen = new Set<number>();
  for (let x = 12345; keys.length < count; ) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const k = x >>> 8;
    if (!seen.has(k)) (seen.add(k), keys.push(k));
  }
  const host = new Map<number, number>();
  await space.withView(arena, count * Node.size, 'write', (view) => {
    const addr = (i: number) => arena + i * Node.size;
    for (let i = 0; i < count; i++) {
      const key = keys[i]!;
      Node.write(view, i * Node.size, { key, value: i * 0.5, left: 0, right: 0 });
      host.set(key, i * 0.5);
      if (i === 0) continue;
      let cur = 0; // walk from the root on the host, through the same layout
      for (;;) {
        const n = Node.read(view, cur * Node.size);
        const side = key < n.key ? 'left' : 'right';
        const next = n[side];
        if (next === 0) {
          Node.write(view, cur * Node.size, { [side]: addr(i) });
          break;
        }
        cur = (next - arena) / Node.size;
      }
    }
  });
  const qn = 8192;
  const queries = new Uint32Array(qn).map((_, i) => (i % 2 === 0 ? keys[(i * 7) % count]! : (i * 2654435761) >>> 8));
  const q = space.alloc(qn * 4);
  const out = space.alloc(qn * 4);
  await space.write(q, queries);
  const lookup = createKernel({
    label: 'bst-lookup',
    workgroupSize: 64,
    structs: [Node],
    code: /* wgsl */ `
// args: root, queries, results, count
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(3u)) { return; }
  let key = vm_load_u32(vm_arg_u32(1u) + i * 4u);
  var p = vm_arg_u32(0u);
  var found = -1.0;
  loop {
    if (p == 0u) { break; }
    let k = Node_key(p);
    if (k == key) { found = Node_value(p); break; }
    p = select(Node_right(p), Node_left(p), key < k);
  }
  vm_store_f32(vm_arg_u32(2u) + i * 4u, found);
}`,
  });
  await space.dispatch(lookup, {
    workgroups: qn / 64,
    read: [{ addr: arena, byteLength: count * Node.size }, { addr: q, byteLength: qn * 4 }],
    write: [{ addr: out, byteLength: qn * 4 }],
    args: [arena, q, out, qn],
  });
  const got = new Float32Array((await space.read(out, qn * 4)).buffer);
  let hits = 0;
  for (let i = 0; i < qn; i++) {
    const want = host.get(queries[i]!) ?? -1;
    expect(got[i]).toBe(want);
    if (want >= 0) hits++;
  }
  expect(hits).toBeGreaterThanOrEqual(qn / 2);
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
