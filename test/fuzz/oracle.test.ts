// The fuzz oracle's own rules, checked without a GPU: where the oracle models
// a runtime mechanism instead of just storing bytes — the allocator's first-fit
// placement, free() zeroing whole pages — it must agree with the mechanism, or
// the differential fuzzer would report the oracle's bugs as the runtime's.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VirtualAllocator } from '../../src/space/allocator.ts';
import { bytesFrom, listBytes, SpaceOracle } from './model.ts';

describe('fuzz oracle', () => {
  it('places allocations exactly where VirtualAllocator does, and runs out of room when it does', () => {
    const step = fc.oneof(
      fc.record({ alloc: fc.integer({ min: 1, max: 30_000 }), align: fc.constantFrom(4, 16, 256, 4096) }),
      fc.record({ free: fc.nat() }),
    );
    fc.assert(fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
      const size = 32 * 4096;
      const real = new VirtualAllocator(size, 256);
      const model = new SpaceOracle(size, 4096);
      for (const s of steps) {
        if ('alloc' in s) {
          const want = model.allocAddress(s.alloc, s.align);
          let got: number | undefined;
          try {
            got = real.alloc(s.alloc, s.align);
          } catch {
            got = undefined;
          }
          expect(got).toBe(want);
          if (want !== undefined) model.alloc(want, s.alloc);
        } else {
          const live = [...model.live.keys()].sort((a, b) => a - b);
          if (live.length === 0) continue;
          const addr = live[s.free % live.length]!;
          real.free(addr);
          model.free(addr);
        }
      }
      expect(real.live().map((a) => [a.addr, a.byteLength])).toEqual([...model.live].sort((a, b) => a[0] - b[0]));
    }), { seed: 7, numRuns: 300 });
  });

  it('free() zeroes only the whole pages of the block, and drops their pins', () => {
    const o = new SpaceOracle(8 * 4096, 4096);
    o.bytes.fill(7);
    o.pins.fill(1);
    o.alloc(4096 + 100, 3 * 4096); // covers page 2 whole, pages 1 and 4 in part
    expect(o.free(4096 + 100)).toBe(2); // pages 2 and 3
    expect(o.bytes.subarray(2 * 4096, 4 * 4096).every((b) => b === 0)).toBe(true);
    expect(o.bytes[2 * 4096 - 1]).toBe(7);
    expect(o.bytes[4 * 4096]).toBe(7);
    expect([...o.pins]).toEqual([1, 1, 0, 0, 1, 1, 1, 1]);
  });

  it('builds data and lists deterministically from a seed; a list visits every node once', () => {
    expect(bytesFrom(42, 64)).toEqual(bytesFrom(42, 64));
    expect(bytesFrom(42, 64)).not.toEqual(bytesFrom(43, 64));
    const nodes = 37;
    const list = new Uint32Array(listBytes(nodes, 9).buffer);
    const seen = new Set<number>();
    for (let i = 0, k = 0; k < nodes; k++, i = list[i * 2]!) seen.add(i);
    expect(seen.size).toBe(nodes);
  });
});
