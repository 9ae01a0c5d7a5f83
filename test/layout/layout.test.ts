// WGSL memory layout of every field type, against the spec's "Alignment and
// Size" table and its worked examples; host codecs round-tripping through bytes
// (padding untouched); the shape of the generated accessors; and every refusal.

import { describe, expect, expectTypeOf, it } from 'vitest';
import { alignOf, array, defineStruct, sizeOf, structsOf, type TypeName } from '../../src/layout/struct.ts';
import { wgslIdentifierProblem } from '../../src/layout/wgsl-words.ts';
import { InvalidArgumentError } from '../../src/errors.ts';

// WGSL spec, "Alignment and Size" (host-shareable types): [AlignOf, SizeOf].
const TABLE: { readonly [T in TypeName]: readonly [number, number] } = {
  u32: [4, 4], i32: [4, 4], f32: [4, 4], ptr: [4, 4], ptr64: [8, 8],
  vec2u: [8, 8], vec2i: [8, 8], vec2f: [8, 8],
  vec3u: [16, 12], vec3i: [16, 12], vec3f: [16, 12],
  vec4u: [16, 16], vec4i: [16, 16], vec4f: [16, 16],
  // matCxR<f32>: AlignOf(vecR), SizeOf(array<vecR, C>).
  mat2x2f: [8, 16], mat3x2f: [8, 24], mat4x2f: [8, 32],
  mat2x3f: [16, 32], mat3x3f: [16, 48], mat4x3f: [16, 64],
  mat2x4f: [16, 32], mat3x4f: [16, 48], mat4x4f: [16, 64],
};

describe('WGSL alignment and size', () => {
  it('matches the spec table for every named type', () => {
    for (const [t, [align, size]] of Object.entries(TABLE)) {
      expect([alignOf(t as TypeName), sizeOf(t as TypeName)], t).toEqual([align, size]);
    }
  });

  it('arrays: AlignOf(E), stride roundUp(AlignOf(E), SizeOf(E)), N × stride', () => {
    const cases: [ReturnType<typeof array>, number, number, number][] = [
      [array('f32', 5), 4, 4, 20],
      [array('vec3f', 3), 16, 16, 48], // vec3's 12 bytes take a 16-byte slot in an array
      [array('vec2u', 2), 8, 8, 16],
      [array('mat3x3f', 2), 16, 48, 96],
      [array('mat4x2f', 2), 8, 32, 64],
      [array(array('vec3i', 2), 3), 16, 32, 96],
    ];
    for (const [a, align, stride, size] of cases) expect([a.align, a.stride, a.size]).toEqual([align, stride, size]);
    const Odd = defineStruct('Odd', { a: 'vec2f', b: 'f32' }); // size 16 (12 rounded up to align 8)
    expect([Odd.size, Odd.align]).toEqual([16, 8]);
    expect(array(Odd, 3).stride).toBe(16);
  });

  it('reproduces the spec example of implicit member sizes and alignments', () => {
    const A = defineStruct('A', { u: 'f32', v: 'f32', w: 'vec2f', x: 'f32' });
    expect([A.offsets, A.align, A.size]).toEqual([{ u: 0, v: 4, w: 8, x: 16 }, 8, 24]);
    const B = defineStruct('B', { a: 'vec2f', b: 'vec3f', c: 'f32', d: 'f32', e: A, f: 'vec3f', g: array(A, 3), h: 'i32' });
    expect(B.offsets).toEqual({ a: 0, b: 16, c: 28, d: 32, e: 40, f: 64, g: 80, h: 152 });
    expect([B.align, B.size]).toEqual([16, 160]);
    expect(B.fields.find((f) => f.name === 'g')!.size).toBe(72); // element stride 24
  });

  it('reproduces the spec example of explicit @size and @align', () => {
    const A = defineStruct('A', { u: 'f32', v: 'f32', w: 'vec2f', x: { type: 'f32', size: 16 } });
    expect([A.offsets.x, A.align, A.size]).toEqual([16, 8, 32]);
    const B = defineStruct('B', {
      a: 'vec2f', b: 'vec3f', c: 'f32', d: 'f32', e: { type: A, align: 16 }, f: 'vec3f', g: array(A, 3), h: 'i32',
    });
    expect(B.offsets).toEqual({ a: 0, b: 16, c: 28, d: 32, e: 48, f: 80, g: 96, h: 192 });
    expect([B.align, B.size]).toEqual([16, 208]);
    const e = B.fields.find((f) => f.name === 'e')!;
    expect([e.align, e.size, e.attributes]).toEqual([16, 32, { align: 16 }]);
  });

  it('keeps the first version\'s layouts (scalars, vec2, vec4, ptr) byte for byte', () => {
    const S = defineStruct('S', { a: 'u32', v: 'vec4f', b: 'f32', w: 'vec2i', p: 'ptr' });
    expect([S.offsets, S.size, S.align]).toEqual([{ a: 0, v: 16, b: 32, w: 40, p: 48 }, 64, 16]);
  });

  it('vec3 shares its 16-byte slot with a following scalar; @align raises a struct\'s alignment', () => {
    const P = defineStruct('P', { pos: 'vec3f', mass: 'f32', vel: 'vec3f' });
    expect([P.offsets, P.size]).toEqual([{ pos: 0, mass: 12, vel: 16 }, 32]);
    const Q = defineStruct('Q', { a: { type: 'u32', align: 64 }, b: 'u32' });
    expect([Q.offsets, Q.align, Q.size]).toEqual([{ a: 0, b: 4 }, 64, 64]);
    const R = defineStruct('R', { a: { type: 'vec3f', size: 16 }, b: 'f32' });
    expect([R.offsets.b, R.size]).toEqual([16, 32]);
  });
});

describe('host codecs', () => {
  const Inner = defineStruct('Inner', { id: 'u32', dir: 'vec3f' });
  const Big = defineStruct('Big', {
    s: 'i32', p: 'ptr', v3: 'vec3u', tail: 'f32', v2: 'vec2f', v4: 'vec4i',
    m22: 'mat2x2f', m23: 'mat2x3f', m34: 'mat3x4f', m43: 'mat4x3f', m44: 'mat4x4f', m42: 'mat4x2f',
    hist: array('u32', 5), pts: array('vec3f', 2), grid: array(array('i32', 2), 3),
    inner: Inner, inners: array(Inner, 2), late: { type: 'u32', align: 32, size: 8 },
  });
  const seq = (n: number, from: number) => Array.from({ length: n }, (_, i) => from + i);
  const rec = {
    s: -7, p: 4096, v3: [1, 2, 0xffffffff], tail: 0.5, v2: [1.5, -2.5], v4: [-1, 2, -3, 4],
    m22: seq(4, 10), m23: seq(6, 20), m34: seq(12, 30), m43: seq(12, 50), m44: seq(16, 70), m42: seq(8, 90),
    hist: [5, 4, 3, 2, 1], pts: [[1, 2, 3], [4, 5, 6]], grid: [[1, -1], [2, -2], [3, -3]],
    inner: { id: 9, dir: [0.25, 0.5, 0.75] }, inners: [{ id: 1, dir: [1, 0, 0] }, { id: 2, dir: [0, 1, 0] }], late: 77,
  };

  it('round-trips every type and never touches padding', () => {
    const bytes = new Uint8Array(Big.size * 2).fill(0xaa);
    Big.write(bytes, Big.size, rec);
    expect(Big.read(bytes, Big.size)).toEqual(rec);
    // Every byte no field owns keeps its 0xaa: padding inside vec3 slots, between members, inside matrices.
    const owned = new Uint8Array(Big.size);
    const mark = (at: number, n: number) => owned.fill(1, at, at + n);
    const dv = new DataView(bytes.buffer, Big.size);
    const o = Big.offsets;
    mark(o.s, 4); mark(o.p, 4); mark(o.v3, 12); mark(o.tail, 4); mark(o.v2, 8); mark(o.v4, 16);
    for (const [f, c, r, stride] of [['m22', 2, 2, 8], ['m23', 2, 3, 16], ['m34', 3, 4, 16], ['m43', 4, 3, 16], ['m44', 4, 4, 16], ['m42', 4, 2, 8]] as const) {
      for (let k = 0; k < c; k++) mark(o[f] + k * stride, 4 * r);
    }
    mark(o.hist, 20); mark(o.pts, 12); mark(o.pts + 16, 12); mark(o.grid, 24);
    mark(o.inner, 4); mark(o.inner + 16, 12); mark(o.inners, 4); mark(o.inners + 16, 12); mark(o.inners + 32, 4); mark(o.inners + 48, 12);
    mark(o.late, 4);
    for (let i = 0; i < Big.size; i++) if (!owned[i]) expect(dv.getUint8(i), `padding byte ${i}`).toBe(0xaa);
    expect(o.tail).toBe(o.v3 + 12);
    expect(o.late % 32).toBe(0);
    expect(Big.read(bytes, 0).s).toBe(-1431655766); // 0xaaaaaaaa as i32: the first record was left alone
  });

  it('matrices are column-major; an array of columns is accepted too', () => {
    const M = defineStruct('M', { m: 'mat3x3f' });
    const b = new Uint8Array(M.size);
    M.write(b, 0, { m: [[1, 2, 3], [4, 5, 6], [7, 8, 9]] });
    expect(M.read(b, 0).m).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const f = new Float32Array(b.buffer);
    expect([...f]).toEqual([1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0]); // each column padded to 16 bytes
    M.write(b, 0, { m: new Float32Array([9, 8, 7, 6, 5, 4, 3, 2, 1]) });
    expect(M.read(b, 0).m[0]).toBe(9);
  });

  it('partial records leave other fields (also nested ones) as they are', () => {
    const b = new Uint8Array(Big.size);
    Big.write(b, 0, rec);
    Big.write(b, 0, { inner: { id: 100 }, inners: [{}, { dir: [7, 7, 7] }], s: 1 });
    const r = Big.read(b, 0);
    expect([r.s, r.inner.id, r.inner.dir, r.inners[0]!.id, r.inners[1]!.id, r.inners[1]!.dir]).toEqual([1, 100, [0.25, 0.5, 0.75], 1, 2, [7, 7, 7]]);
  });

  it('writeArray/readArray use the record size as stride', () => {
    const b = new Uint8Array(Inner.size * 4);
    Inner.writeArray(b, Inner.size, [{ id: 1, dir: [1, 1, 1] }, { id: 2 }, { id: 3, dir: [3, 3, 3] }]);
    expect(Inner.readArray(b, Inner.size, 3).map((r) => r.id)).toEqual([1, 2, 3]);
    expect(Inner.readArray(b, 0, 0)).toEqual([]);
    expect(() => Inner.readArray(b, Inner.size * 2, 3)).toThrow(/outside/);
    expect(() => Inner.writeArray(b, Inner.size * 3, [{}, {}])).toThrow(/outside/);
    expect(() => Inner.readArray(b, 0, -1)).toThrow(/count/);
  });

  it('view reads and writes fields in place; nested layouts are views too', () => {
    const b = new Uint8Array(Big.size);
    const v = Big.view(b, 0);
    v.s = -3;
    v.v3 = [4, 5, 6];
    v.inner.dir = [1, 2, 3];
    v.inner.id = 12;
    expect([v.s, v.v3, v.inner.id]).toEqual([-3, [4, 5, 6], 12]);
    const r = Big.read(b, 0);
    expect([r.s, r.v3, r.inner]).toEqual([-3, [4, 5, 6], { id: 12, dir: [1, 2, 3] }]);
    expect(Object.keys(v)).toEqual(Object.keys(Big.spec));
    expect(() => ((v as unknown as { nope: number }).nope = 1)).toThrow(TypeError); // sealed
    expect(() => { v.s = 2 ** 40; }).toThrow(/i32/);
  });

  it('records have the types the fields say', () => {
    const r = Big.read(new Uint8Array(Big.size), 0);
    expectTypeOf(r.s).toEqualTypeOf<number>();
    expectTypeOf(r.v3).toEqualTypeOf<readonly [number, number, number]>();
    expectTypeOf(r.v2).toEqualTypeOf<readonly [number, number]>();
    expectTypeOf(r.m44).toEqualTypeOf<readonly number[]>();
    expectTypeOf(r.hist).toEqualTypeOf<readonly number[]>();
    expectTypeOf(r.pts).toEqualTypeOf<readonly (readonly [number, number, number])[]>();
    expectTypeOf(r.grid).toEqualTypeOf<readonly (readonly number[])[]>();
    expectTypeOf(r.inner).toEqualTypeOf<{ id: number; dir: readonly [number, number, number] }>();
    expectTypeOf(r.inners[0]!.dir).toEqualTypeOf<readonly [number, number, number]>();
    expectTypeOf(r.late).toEqualTypeOf<number>();
    expectTypeOf(Big.view(new Uint8Array(Big.size), 0).inner.id).toEqualTypeOf<number>();
  });
});

describe('generated WGSL', () => {
  const Inner = defineStruct('Inner', { id: 'u32', dir: 'vec3f' });
  const W = defineStruct('W', { v: 'vec3f', n: 'f32', m: 'mat4x4f', m3: 'mat2x3f', xs: array('vec4u', 8), v3s: array('vec3i', 2), g: array(array('f32', 3), 2), inner: Inner, kids: array(Inner, 4) });

  it('a vec3 field touches its 12 bytes only; vec3s owning their slot are one access; matrices go by column; arrays take clamped indices', () => {
    // The 4th word of v's slot is n: a vec2 and a scalar access, never a vec4 store.
    expect(W.offsets.n).toBe(12);
    expect(W.wgsl).toContain('fn W_v(p: u32) -> vec3<f32> { let a = p + 0u; return vec3<f32>(vm_load_vec2f(a), vm_load_f32(a + 8u)); }');
    expect(W.wgsl).toContain('fn W_set_v(p: u32, v: vec3<f32>) { let a = p + 0u; vm_store_vec2f(a, v.xy); vm_store_f32(a + 8u, v.z); }');
    expect(W.wgsl).toContain('return mat4x4<f32>(vm_load_vec4f(a), vm_load_vec4f(a + 16u), vm_load_vec4f(a + 32u), vm_load_vec4f(a + 48u));');
    expect(W.wgsl).toContain('vm_store_vec4f(a + 48u, v[3]);');
    // mat2x3: columns in 16-byte slots that are the matrix's own (SizeOf = 2 × 16).
    expect(W.wgsl).toContain('return mat2x3<f32>(vm_load_vec4f(a).xyz, vm_load_vec4f(a + 16u).xyz);');
    expect(W.wgsl).toContain('vm_store_vec4f(a + 16u, vec4<f32>(v[1], f32(0)));');
    expect(W.wgsl).toContain(`fn W_v3s(p: u32, i: u32) -> vec3<i32> { return vm_load_vec4i(p + ${W.offsets.v3s}u + min(i, 1u) * 16u).xyz; }`);
    expect(W.wgsl).toContain(`fn W_xs(p: u32, i: u32) -> vec4<u32> { return vm_load_vec4u(p + ${W.offsets.xs}u + min(i, 7u) * 16u); }`);
    expect(W.wgsl).toContain(`fn W_set_xs(p: u32, i: u32, v: vec4<u32>) { vm_store_vec4u(p + ${W.offsets.xs}u + min(i, 7u) * 16u, v); }`);
    expect(W.wgsl).toContain('const W_xs_LEN: u32 = 8u;');
    expect(W.wgsl).toContain(`fn W_g(p: u32, i: u32, j: u32) -> f32 { return vm_load_f32(p + ${W.offsets.g}u + min(i, 1u) * 12u + min(j, 2u) * 4u); }`);
    expect(W.wgsl).toContain(`fn W_inner_ptr(p: u32) -> u32 { return p + ${W.offsets.inner}u; }`);
    expect(W.wgsl).toContain(`fn W_kids_ptr(p: u32, i: u32) -> u32 { return p + ${W.offsets.kids}u + min(i, 3u) * 32u; }`);
    expect(W.wgsl).toContain('const W_SIZE: u32 = ');
    expect(W.wgsl).toContain('const W_ALIGN: u32 = 16u;');
  });

  it('calls only the prelude\'s public loads and stores, and names nothing in its namespace', () => {
    const calls = new Set(W.wgsl.match(/\bvm_\w+/g));
    for (const c of calls) expect(c).toMatch(/^vm_(load|store)_(u32|i32|f32|vec[24][uif])$/);
    const declared = [...W.wgsl.matchAll(/\b(?:fn|const)\s+(\w+)/g)].map((m) => m[1]!);
    for (const id of declared) expect(wgslIdentifierProblem(id), id).toBeNull();
    expect(declared.every((id) => id.startsWith('W_'))).toBe(true);
  });

  it('declares the struct for WGSL that binds the bytes directly', () => {
    const A = defineStruct('A', { u: 'f32', x: { type: 'f32', size: 16 } });
    const B = defineStruct('B', { e: { type: A, align: 16 }, g: array(A, 3), m: 'mat3x2f', q: 'ptr', n: array(array('vec3i', 2), 2) });
    expect(B.wgslStruct()).toBe('struct B {\n  @align(16) e: A,\n  g: array<A, 3>,\n  m: mat3x2<f32>,\n  q: u32,\n  n: array<array<vec3<i32>, 2>, 2>,\n}\n');
    expect(A.wgslStruct()).toBe('struct A {\n  u: f32,\n  @size(16) x: f32,\n}\n');
    expect(() => defineStruct('K', { type: 'u32' }).wgslStruct()).toThrow(/"type" is a WGSL keyword or reserved word/);
  });

  it('structsOf lists nested layouts first, each once', () => {
    const Leaf = defineStruct('Leaf', { x: 'f32' });
    const Mid = defineStruct('Mid', { l: Leaf, ls: array(Leaf, 2) });
    const Top = defineStruct('Top', { m: Mid, l: Leaf });
    expect(Mid.nested).toEqual([Leaf]);
    expect(structsOf(Top).map((s) => s.name)).toEqual(['Leaf', 'Mid', 'Top']);
    expect(structsOf(Top, Mid, Leaf).map((s) => s.name)).toEqual(['Leaf', 'Mid', 'Top']);
    // The same definition made twice is one layout to WGSL; a different one under the same name is not.
    expect(structsOf(Top, defineStruct('Leaf', { x: 'f32' })).length).toBe(3);
    expect(() => structsOf(Top, defineStruct('Leaf', { y: 'f32' }))).toThrow(/two different layouts are named Leaf/);
    expect(() => structsOf({ name: 'X', wgsl: '' } as never)).toThrow(/defineStruct/);
  });
});

describe('refusals', () => {
  it('refuses attributes WGSL would refuse', () => {
    expect(() => defineStruct('N', { a: { type: 'vec4f', align: 8 } })).toThrow(/multiple of AlignOf\(vec4f\) = 16/);
    expect(() => defineStruct('N', { a: { type: 'u32', align: 12 } })).toThrow(/power of two/);
    expect(() => defineStruct('N', { a: { type: 'u32', align: 0 } })).toThrow(InvalidArgumentError);
    expect(() => defineStruct('N', { a: { type: 'vec3f', size: 8 } })).toThrow(/SizeOf\(vec3f\) = 12/);
    expect(() => defineStruct('N', { a: { type: 'u32', size: 4.5 } })).toThrow(/@size/);
    expect(() => defineStruct('N', { a: { type: 'u32', alignment: 16 } as never })).toThrow(/unknown key "alignment"/);
    expect(() => defineStruct('N', { a: { type: 'u64' } as never })).toThrow(/unknown type/);
  });

  it('refuses bad arrays', () => {
    expect(() => array('f32', 0 as number)).toThrow(/≥ 1/);
    expect(() => array('f32', 2.5 as number)).toThrow(InvalidArgumentError);
    expect(() => array({ type: 'f32', align: 16 } as never, 2)).toThrow(/struct fields only/);
    expect(() => array('f16' as never, 2)).toThrow(/unknown type "f16"/);
    expect(() => array({ kind: 'array', element: 'f32', length: 2, align: 4, size: 8, stride: 4 } as never, 2)).toThrow(/not made by array\(\)/);
    expect(() => array('vec4f', 2 ** 28)).toThrow(/more than/);
  });

  it('refuses names whose accessors would be WGSL keywords, reserved words or the prelude\'s', () => {
    expect(() => defineStruct('static', { cast: 'u32' })).toThrow(/"static_cast" is a WGSL reserved word; rename the struct or the field/);
    expect(() => defineStruct('co', { await: 'f32' })).toThrow(/co_await/);
    expect(() => defineStruct('const', { assert: 'f32' })).toThrow(/"const_assert" is a WGSL keyword/);
    expect(() => defineStruct('thread', { local: 'f32' })).toThrow(InvalidArgumentError);
    for (const bad of ['VM', 'VMap', 'vM', 'vm', 'Vm2']) expect(() => defineStruct(bad, { a: 'u32' }), bad).toThrow(/prelude/);
    expect(() => defineStruct('My_Node', { a: 'u32' })).toThrow(/letters and digits/);
    expect(defineStruct('Static', { cast: 'u32' }).wgsl).toContain('fn Static_cast(');
  });

  it('refuses fields whose accessors collide', () => {
    const In = defineStruct('In', { x: 'u32' });
    expect(() => defineStruct('In', { inner: array(In, 2) })).toThrow(/a nested layout is also named In/);
    expect(() => defineStruct('Out', { a: In, b: defineStruct('In', { y: 'f32' }) })).toThrow(/two different layouts are named In/);
    expect(() => defineStruct('N', { pos: In, pos_ptr: 'u32' })).toThrow(/fields "pos" and "pos_ptr" both generate the WGSL identifier N_pos_ptr/);
    expect(() => defineStruct('N', { xs: array('u32', 2), xs_LEN: 'u32' })).toThrow(/N_xs_LEN/);
  });

  it('refuses look-alike layouts and bad values', () => {
    expect(() => defineStruct('N', { a: { name: 'X', fields: [], size: 4, align: 4, wgsl: '' } as never })).toThrow(/unknown type/);
    const In = defineStruct('In', { v: 'vec3f' });
    const N = defineStruct('N', { v: 'vec3f', m: 'mat2x2f', xs: array('i32', 2), inner: In, ins: array(In, 2) });
    const b = new Uint8Array(N.size);
    expect(() => N.write(b, 0, { v: [1, 2] })).toThrow(/N\.v: expected 3 numbers/);
    expect(() => N.write(b, 0, { m: [1, 2, 3] })).toThrow(/expected 4 numbers \(column-major: 2 columns of 2\)/);
    expect(() => N.write(b, 0, { m: [[1, 2], [3]] })).toThrow(/column-major/);
    expect(() => N.write(b, 0, { xs: [1] })).toThrow(/N\.xs: expected an array of 2 elements, got 1/);
    expect(() => N.write(b, 0, { xs: [1, 2 ** 31] })).toThrow(/N\.xs\[1\]: 2147483648 is not a whole number in the i32 range/);
    expect(() => N.write(b, 0, { inner: 5 as never })).toThrow(/N\.inner: expected a In record/);
    expect(() => N.write(b, 0, { ins: [{}, { v: [1, 2, 'x' as never] }] })).toThrow(/N\.ins\[1\]\.v: x is not a number/);
    expect(() => N.write(new Uint8Array(4), 0, {})).toThrow(/outside/);
  });
});
