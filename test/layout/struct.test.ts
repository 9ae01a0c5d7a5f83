import { describe, expect, it } from 'vitest';
import { defineStruct } from '../../src/layout/struct.ts';
import { InvalidArgumentError } from '../../src/errors.ts';
import { createKernel } from '../../src/kernel/kernel.ts';
import { link } from '../../src/kernel/link.ts';

describe('defineStruct', () => {
  it('lays fields out with WGSL alignment and pads the size to the struct alignment', () => {
    const S = defineStruct('S', { a: 'u32', v: 'vec4f', b: 'f32', w: 'vec2i', p: 'ptr' });
    expect(S.offsets).toEqual({ a: 0, v: 16, b: 32, w: 40, p: 48 });
    expect([S.size, S.align]).toEqual([64, 16]);
    const T = defineStruct('T', { key: 'u32', left: 'ptr', right: 'ptr' });
    expect([T.size, T.align]).toEqual([12, 4]);
  });

  it('round-trips every field type through host bytes', () => {
    const S = defineStruct('S', { a: 'u32', i: 'i32', f: 'f32', p: 'ptr', u2: 'vec2u', i4: 'vec4i', f4: 'vec4f' });
    const bytes = new Uint8Array(S.size * 2);
    const rec = { a: 0xffffffff, i: -5, f: 1.5, p: 4096, u2: [1, 2], i4: [-1, -2, 3, 4], f4: [0.5, -0.25, 8, 1e10] };
    S.write(bytes, S.size, rec);
    expect(S.read(bytes, S.size)).toEqual({ ...rec, f4: [0.5, -0.25, 8, Math.fround(1e10)] });
    expect(S.read(bytes, 0).a).toBe(0);
    S.write(bytes, S.size, { a: 7 }); // partial: other fields unchanged
    expect(S.read(bytes, S.size).i).toBe(-5);
  });

  it('emits accessors that the prelude-linked kernel can call', () => {
    const Node = defineStruct('Node', { key: 'u32', next: 'ptr' });
    expect(Node.wgsl).toContain('fn Node_key(p: u32) -> u32 { return vm_load_u32(p + 0u); }');
    expect(Node.wgsl).toContain('fn Node_set_next(p: u32, v: u32) { vm_store_u32(p + 4u, v); }');
    const k = createKernel({ code: 'fn kernel(inv: VmInvocation) {\n  let n = Node_next(0u);\n}', structs: [Node] });
    const src = link(k, { pageShift: 16, windowCount: 1, windowWordShift: 20, demand: false, replayPerInvocation: false, accessCounters: false });
    const lines = src.code.split('\n');
    expect(lines[src.userFirstLine]).toBe('  let n = Node_next(0u);'); // user line 2 stays line 2
  });

  it('refuses bad names, types, values and offsets', () => {
    expect(() => defineStruct('vmNode', { a: 'u32' })).toThrow(InvalidArgumentError);
    expect(() => defineStruct('1x', { a: 'u32' })).toThrow(InvalidArgumentError);
    expect(() => defineStruct('N', {})).toThrow(/at least one field/);
    expect(() => defineStruct('N', { Bad: 'u32' })).toThrow(/field "Bad"/);
    expect(() => defineStruct('N', { set_x: 'u32' })).toThrow(/set_/);
    expect(() => defineStruct('N', { a: 'u64' as never })).toThrow(/unknown type/);
    const N = defineStruct('N', { a: 'u32', i: 'i32', v: 'vec2f' });
    const b = new Uint8Array(N.size);
    expect(() => N.write(b, 0, { a: -1 })).toThrow(/0 to 2\^32-1/);
    expect(() => N.write(b, 0, { a: 2 ** 32 })).toThrow(InvalidArgumentError);
    expect(() => N.write(b, 0, { i: 2 ** 31 })).toThrow(/i32/);
    expect(() => N.write(b, 0, { a: 1.5 })).toThrow(InvalidArgumentError);
    expect(() => N.write(b, 0, { v: [1] })).toThrow(/2 numbers/);
    expect(() => N.write(b, 4, { a: 1 })).toThrow(/outside/);
    expect(() => N.read(b, -4)).toThrow(/outside/);
    expect(() => createKernel({ code: 'fn kernel(inv: VmInvocation) {}', structs: [N, N] })).toThrow(/twice/);
  });
});
