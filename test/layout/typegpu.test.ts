// TypeGPU interop: a layout made from a TypeGPU schema has TypeGPU's own
// offsets, sizes and alignment (its sizeOf, alignmentOf, memoryLayoutOf), and
// the bytes TypeGPU's serializer writes are the bytes our codecs read (and the
// other way round); toTypeGpu gives back an equivalent schema.

import { describe, expect, expectTypeOf, it } from 'vitest';
import * as d from 'typegpu/data';
// TypeGPU's buffer serializer, not in its package exports: the test pins typegpu (devDependency) and uses it as the reference.
import { readFromArrayBuffer, writeToArrayBuffer } from '../../node_modules/typegpu/data/dataIO.js';
import { bannedTokens } from '../../node_modules/typegpu/nameUtils.js';
import { fromTypeGpu, toTypeGpu, UnsupportedSchemaError } from '../../src/layout/typegpu.ts';
import { array, defineStruct } from '../../src/layout/struct.ts';
import { WGSL_KEYWORDS, WGSL_RESERVED } from '../../src/layout/wgsl-words.ts';
import { InvalidArgumentError } from '../../src/errors.ts';

const Light = d.struct({ color: d.vec3f, intensity: d.f32 }).$name('Light');
const Scene = d.struct({
  count: d.u32, flags: d.i32, pos: d.vec3f, dir: d.vec3i, uv: d.vec2f, q: d.vec4u, ids: d.vec3u, iv: d.vec2i,
  model: d.mat4x4f, normal: d.mat3x3f, rot: d.mat2x2f,
  hist: d.arrayOf(d.u32, 5), pts: d.arrayOf(d.vec3f, 3), lights: d.arrayOf(Light, 2), light: Light,
  padded: d.size(28, d.f32), aligned: d.align(64, d.vec2u), both: d.align(32, d.size(20, d.vec3f)),
  grid: d.arrayOf(d.arrayOf(d.f32, 3), 2), anon: d.struct({ a: d.f32, b: d.vec4i }), last: d.f32,
}).$name('Scene');

describe('fromTypeGpu', () => {
  const L = fromTypeGpu('Scene', Scene);

  it('has TypeGPU\'s size, alignment and offsets, down to array elements and nested members', () => {
    expect([L.size, L.align]).toEqual([d.sizeOf(Scene), d.alignmentOf(Scene)]);
    for (const k of Object.keys(Scene.propTypes) as (keyof typeof Scene.propTypes)[]) {
      expect(L.offsets[k], k).toBe(d.memoryLayoutOf(Scene, (s) => s[k]).offset);
    }
    const LightL = L.nested.find((n) => n.name === 'Light')!;
    expect([LightL.size, LightL.offsets.intensity]).toEqual([d.sizeOf(Light), d.memoryLayoutOf(Light, (l) => l.intensity).offset]);
    expect(L.offsets.lights + LightL.size + LightL.offsets.intensity!).toBe(d.memoryLayoutOf(Scene, (s) => s.lights[1]!.intensity).offset);
    expect(L.offsets.pts + 2 * 16).toBe(d.memoryLayoutOf(Scene, (s) => s.pts[2]).offset);
    expect(L.offsets.grid + 12 + 8).toBe(d.memoryLayoutOf(Scene, (s) => s.grid[1]![2]).offset);
    // Nested structs: one layout per schema, named by $name or Parent+Field.
    expect(L.nested.map((n) => n.name).sort()).toEqual(['Light', 'SceneAnon']);
    expect(L.fields.find((f) => f.name === 'both')!.attributes).toEqual({ align: 32, size: 20 });
  });

  const value = {
    count: 7, flags: -3, pos: d.vec3f(1, 2, 3), dir: d.vec3i(-1, 0, 1), uv: d.vec2f(0.5, 0.25), q: d.vec4u(1, 2, 3, 4),
    ids: d.vec3u(9, 8, 7), iv: d.vec2i(-5, 5),
    model: d.mat4x4f(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16), normal: d.mat3x3f(1, 2, 3, 4, 5, 6, 7, 8, 9), rot: d.mat2x2f(1, -1, 2, -2),
    hist: [1, 2, 3, 4, 5], pts: [d.vec3f(1, 1, 1), d.vec3f(2, 2, 2), d.vec3f(3, 3, 3)],
    lights: [{ color: d.vec3f(1, 0, 0), intensity: 2 }, { color: d.vec3f(0, 1, 0), intensity: 3 }],
    light: { color: d.vec3f(0, 0, 1), intensity: 4 }, padded: 1.5, aligned: d.vec2u(11, 12), both: d.vec3f(-1, -2, -3),
    grid: [[1, 2, 3], [4, 5, 6]], anon: { a: 0.75, b: d.vec4i(1, -2, 3, -4) }, last: 99,
  };
  const plain = {
    count: 7, flags: -3, pos: [1, 2, 3], dir: [-1, 0, 1], uv: [0.5, 0.25], q: [1, 2, 3, 4], ids: [9, 8, 7], iv: [-5, 5],
    model: Array.from({ length: 16 }, (_, i) => i + 1), normal: [1, 2, 3, 4, 5, 6, 7, 8, 9], rot: [1, -1, 2, -2],
    hist: [1, 2, 3, 4, 5], pts: [[1, 1, 1], [2, 2, 2], [3, 3, 3]],
    lights: [{ color: [1, 0, 0], intensity: 2 }, { color: [0, 1, 0], intensity: 3 }],
    light: { color: [0, 0, 1], intensity: 4 }, padded: 1.5, aligned: [11, 12], both: [-1, -2, -3],
    grid: [[1, 2, 3], [4, 5, 6]], anon: { a: 0.75, b: [1, -2, 3, -4] }, last: 99,
  };

  it('reads what TypeGPU writes, and writes what TypeGPU reads', () => {
    const buf = new ArrayBuffer(L.size);
    writeToArrayBuffer(buf, Scene, value);
    expect(L.read(new Uint8Array(buf), 0)).toEqual(plain);
    const ours = new Uint8Array(L.size);
    L.write(ours, 0, plain);
    const back = readFromArrayBuffer(ours.buffer, Scene);
    expect([back.count, back.last, back.light.intensity, back.lights[1]!.intensity, back.anon.a]).toEqual([7, 99, 4, 3, 0.75]);
    expect([...back.pos, ...back.both, ...back.aligned]).toEqual([1, 2, 3, -1, -2, -3, 11, 12]);
    expect([...d.matToArray(back.model)]).toEqual(plain.model);
    expect([...d.matToArray(back.normal)]).toEqual(plain.normal);
    expect(back.grid).toEqual(plain.grid);
    // Byte for byte, on every byte either side owns.
    const theirs = new Uint8Array(buf);
    const owned = new Uint8Array(L.size);
    L.write(owned.fill(0), 0, plain);
    const mask = new Uint8Array(L.size);
    L.write(mask.fill(0xff), 0, plain);
    for (let i = 0; i < L.size; i++) if (owned[i] === mask[i]) expect(ours[i], `byte ${i}`).toBe(theirs[i]);
  });

  it('infers record shapes from the schema', () => {
    const r = L.read(new Uint8Array(L.size), 0);
    expectTypeOf(r.pos).toEqualTypeOf<readonly [number, number, number]>();
    expectTypeOf(r.count).toEqualTypeOf<number>();
    expectTypeOf(r.model).toEqualTypeOf<readonly number[]>();
    expectTypeOf(r.lights[0]!.color).toEqualTypeOf<readonly [number, number, number]>();
    expectTypeOf(r.both).toEqualTypeOf<readonly [number, number, number]>();
    expectTypeOf(r.grid).toEqualTypeOf<readonly (readonly number[])[]>();
  });

  it('refuses what cannot be a field, naming where and what to use', () => {
    const cases: [unknown, RegExp][] = [
      [d.f16, /f16 is not supported.*use d\.f32/],
      [d.vec3h, /use d\.vec3f/],
      [d.bool, /not host-shareable.*d\.u32/],
      [d.u16, /use d\.u32/],
      [d.atomic(d.u32), /vm_atomic_/],
      [d.arrayOf(d.u32, 0), /runtime-sized arrays cannot be fields/],
      [(d.arrayOf as unknown as (t: unknown) => unknown)(d.u32), /without a count/],
      [d.unstruct({ a: d.f32 }), /use d\.struct/],
      [d.disarrayOf(d.f32, 2), /use d\.arrayOf/],
      [d.location(0, d.f32), /shader inputs and outputs/],
      [d.arrayOf(d.location(0, d.f32), 2), /struct members only/], // TypeGPU itself refuses d.align/d.size there
      [d.float32x3, /"float32x3" cannot be a field/],
      [d.struct({ x: d.struct({ y: d.bool }) }), /X\.x\.x\.y: bool/],
    ];
    for (const [member, re] of cases) {
      const err = (() => { try { fromTypeGpu('X', d.struct({ x: member as never })); } catch (e) { return e; } return null; })();
      expect(err, String(re)).toBeInstanceOf(UnsupportedSchemaError);
      expect((err as Error).message).toMatch(re);
      expect((err as UnsupportedSchemaError).path).toMatch(/^X\.x/);
    }
    expect(() => fromTypeGpu('X', d.vec3f as never)).toThrow(/expected a TypeGPU struct schema/);
    expect(() => fromTypeGpu('vmX', d.struct({ a: d.u32 }))).toThrow(InvalidArgumentError);
    const A1 = d.struct({ a: d.u32 }).$name('Dup');
    const A2 = d.struct({ b: d.f32 }).$name('Dup');
    expect(() => fromTypeGpu('X', d.struct({ p: A1, q: A2 }))).toThrow(/two different structs would both be named Dup/);
    const same = fromTypeGpu('X', d.struct({ p: A1, q: A1, r: d.arrayOf(A1, 2) }));
    expect(same.nested.length).toBe(1);
  });
});

describe('toTypeGpu', () => {
  it('gives a schema with the same layout, attributes and nested names', () => {
    const Inner = defineStruct('Inner', { id: 'u32', dir: 'vec3f' });
    const L = defineStruct('Outer', {
      a: 'ptr', v: 'vec3f', s: 'f32', m: 'mat4x4f', m3: 'mat3x3f', m2: 'mat2x2f', xs: array('vec2i', 3),
      inner: Inner, inners: array(Inner, 2), wide: { type: 'u32', align: 32, size: 12 }, g: array(array('f32', 2), 2),
    });
    const S = toTypeGpu(L, d);
    expect([d.sizeOf(S), d.alignmentOf(S)]).toEqual([L.size, L.align]);
    for (const f of L.fields) expect(d.memoryLayoutOf(S, (s) => (s as Record<string, unknown>)[f.name]).offset, f.name).toBe(f.offset);
    expect(String((S.propTypes as Record<string, unknown>).inner)).toBe('struct:Inner');
    expect(String(S)).toBe('struct:Outer');
    // Round trip: the same WGSL accessors.
    expect(fromTypeGpu('Outer', S as never).wgsl).toBe(L.wgsl);
    // And TypeGPU reads the bytes we write.
    const bytes = new Uint8Array(L.size);
    L.write(bytes, 0, { a: 4096, v: [1, 2, 3], s: 4, inners: [{ id: 1, dir: [0, 0, 1] }, { id: 2, dir: [0, 1, 0] }], wide: 5 });
    const back = readFromArrayBuffer(bytes.buffer, S) as Record<string, unknown> & { inners: { id: number }[] };
    expect([back.a, back.s, back.wide, back.inners[1]!.id]).toEqual([4096, 4, 5, 2]);
  });

  it('refuses what this TypeGPU cannot express', () => {
    expect(() => toTypeGpu(defineStruct('N', { m: 'mat2x3f' }), d)).toThrow(/no mat2x3f.*array\('vec3f', 2\)/);
    expect(() => toTypeGpu(defineStruct('N', { m: array('mat4x3f', 2) }), d)).toThrow(UnsupportedSchemaError);
    expect(() => toTypeGpu(defineStruct('N', { type: 'u32' }), d)).toThrow(/"type" is a WGSL keyword or reserved word/);
    expect(() => toTypeGpu({ name: 'N' } as never, d)).toThrow(/defineStruct/);
    expect(() => toTypeGpu(defineStruct('N', { a: 'u32' }), {} as never)).toThrow(/typegpu\/data/);
  });
});

describe('WGSL reserved words', () => {
  it('are the spec\'s list, as TypeGPU keeps it too (less its own additions)', () => {
    const theirs = new Set([...bannedTokens].filter((w) => !['sampler', 'uniform', 'storage'].includes(w)));
    expect(new Set([...WGSL_KEYWORDS, ...WGSL_RESERVED])).toEqual(theirs);
  });
});
