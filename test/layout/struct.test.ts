import { describe, expect, it } from 'vitest';
import { array, defineStruct } from '../../src/layout/struct.ts';
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

  it('64-bit pointers: ptr fields are 8-byte VmPtrs, accessors take VmPtr, from { pointers: 64 } or a space over 4 GiB', () => {
    const N = defineStruct('N', { key: 'u32', next: 'ptr', far: 'ptr64' }, { pointers: 64 });
    expect(N.pointerBits).toBe(64);
    expect(N.offsets).toEqual({ key: 0, next: 8, far: 16 });
    expect([N.size, N.align]).toEqual([24, 8]);
    expect(N.wgsl).toContain('fn N_key(p: VmPtr) -> u32 { return vm_ptr_load_u32(vm_ptr_add(p, 0u)); }');
    expect(N.wgsl).toContain('fn N_set_next(p: VmPtr, v: vec2<u32>) { vm_ptr_store_vec2u(vm_ptr_add(p, 8u), v); }');
    // An address past 2^32 round-trips exactly, low word first.
    const bytes = new Uint8Array(N.size);
    const addr = 40 * 2 ** 30 + 0x1234_5678;
    N.write(bytes, 0, { key: 1, next: addr, far: 2 ** 53 - 1 });
    expect(N.read(bytes, 0)).toEqual({ key: 1, next: addr, far: 2 ** 53 - 1 });
    expect([...new Uint32Array(bytes.buffer, 8, 2)]).toEqual([addr % 2 ** 32, Math.floor(addr / 2 ** 32)]);
    expect(() => N.write(bytes, 0, { next: -1 })).toThrow(/not an address/);
    expect(() => N.write(bytes, 0, { next: 2 ** 53 })).toThrow(/not an address/);
    // From the space: over 4 GiB 64-bit, at most 4 GiB 32-bit (today's layout, unchanged).
    expect(defineStruct('A', { p: 'ptr' }, { space: { size: 2 ** 32 + 65536 } }).size).toBe(8);
    const narrow = defineStruct('B', { p: 'ptr' }, { space: { size: 2 ** 32 } });
    expect([narrow.size, narrow.pointerBits]).toEqual([4, 32]);
    expect(narrow.wgsl).toBe(defineStruct('B', { p: 'ptr' }).wgsl);
    // A ptr64 field in a 32-bit layout: a VmPtr value, u32 accessors.
    const M = defineStruct('M', { a: 'u32', q: 'ptr64' });
    expect(M.offsets).toEqual({ a: 0, q: 8 });
    expect(M.wgsl).toContain('fn M_q(p: u32) -> vec2<u32> { return vm_load_vec2u(p + 8u); }');
    // What a 64-bit layout cannot hold, each with its fix.
    expect(() => defineStruct('C', { a: array('ptr', 4) }, { pointers: 64 })).toThrow(/use array\('ptr64', n\)/);
    expect(defineStruct('D', { n: N }, { pointers: 64 }).wgsl).toContain('fn D_n_ptr(p: VmPtr) -> VmPtr { return vm_ptr_add(p, 0u); }');
    expect(() => defineStruct('E', { n: M }, { pointers: 64 })).toThrow(/same \{ pointers \}/);
    expect(() => defineStruct('F', { n: N })).toThrow(/same \{ pointers \}/);
    expect(() => defineStruct('G', { p: { type: 'ptr', size: 4 } }, { pointers: 64 })).toThrow(/at least 8/);
    expect(() => defineStruct('H', { p: 'ptr' }, { pointers: 48 as 64 })).toThrow(/32 or 64/);
    expect(() => defineStruct('I', { p: 'ptr' }, { space: {} as { size: number } })).toThrow(/AddressSpace/);
    expect(() => defineStruct('J', { p: 'ptr' }, { bits: 64 } as object)).toThrow(/unknown option/);
    expect(array('ptr64', 3).stride).toBe(8);
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
