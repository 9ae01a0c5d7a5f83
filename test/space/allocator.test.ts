import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { VirtualAllocator } from '../../src/space/allocator.ts';
import { DoubleFreeError, InvalidArgumentError, OutOfVirtualMemoryError, UnknownAllocationError } from '../../src/errors.ts';

describe('VirtualAllocator', () => {
  it('never hands out the reserved low bytes, and honours alignment', () => {
    const a = new VirtualAllocator(1 << 20, 256);
    const x = a.alloc(10, 16);
    expect(x).toBeGreaterThanOrEqual(256);
    expect(x % 16).toBe(0);
    const y = a.alloc(100, 4096);
    expect(y % 4096).toBe(0);
    expect(y).toBeGreaterThanOrEqual(x + 10);
  });

  it('fills the space exactly and refuses one byte more', () => {
    const a = new VirtualAllocator(4096, 256);
    const x = a.alloc(4096 - 256, 1);
    expect(x).toBe(256);
    expect(() => a.alloc(1, 1)).toThrow(OutOfVirtualMemoryError);
    a.free(x);
    expect(a.largestFree()).toBe(4096 - 256);
  });

  it('tells a double free from a foreign address', () => {
    const a = new VirtualAllocator(1 << 16, 0);
    const x = a.alloc(64, 16);
    a.free(x);
    expect(() => a.free(x)).toThrow(DoubleFreeError);
    expect(() => a.free(x + 16)).toThrow(UnknownAllocationError);
    const y = a.alloc(64, 16);
    expect(y).toBe(x);
    a.free(y);
  });

  it('rejects zero, negative, NaN and fractional sizes and non-power-of-two alignments', () => {
    const a = new VirtualAllocator(1 << 16, 0);
    for (const bad of [0, -1, Number.NaN, 1.5, Infinity]) expect(() => a.alloc(bad, 16)).toThrow(InvalidArgumentError);
    for (const bad of [0, 3, 12, -4]) expect(() => a.alloc(8, bad)).toThrow(InvalidArgumentError);
  });

  it('coalesces neighbours on free (property: random alloc/free never overlaps and frees back to one block)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 5000 }), fc.constantFrom(1, 4, 16, 256, 4096), fc.boolean()), { maxLength: 60 }), (ops) => {
        const size = 1 << 18;
        const a = new VirtualAllocator(size, 256);
        const live: [number, number][] = [];
        for (const [len, align, freeOne] of ops) {
          if (freeOne && live.length > 0) {
            const [addr] = live.splice(len % live.length, 1)[0]!;
            a.free(addr);
          } else {
            let addr: number;
            try {
              addr = a.alloc(len, align);
            } catch (e) {
              expect(e).toBeInstanceOf(OutOfVirtualMemoryError);
              continue;
            }
            expect(addr % align).toBe(0);
            expect(addr).toBeGreaterThanOrEqual(256);
            expect(addr + len).toBeLessThanOrEqual(size);
            for (const [b, l] of live) expect(addr + len <= b || b + l <= addr).toBe(true);
            live.push([addr, len]);
          }
        }
        expect(a.usedBytes).toBe(live.reduce((s, [, l]) => s + l, 0));
        for (const [addr] of live) a.free(addr);
        expect(a.freeBlocks()).toEqual([{ addr: 256, byteLength: size - 256 }]);
      }),
      { numRuns: 200 },
    );
  });
});
