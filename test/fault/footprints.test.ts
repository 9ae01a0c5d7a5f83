// The known-footprint store (src/fault/footprints.ts): what a kernel's slice
// touched when it last ran the same way, bounded in entries and in pages, the
// least recently remembered dropped first.

import { describe, expect, it } from 'vitest';
import { footprintKey, KNOWN_FOOTPRINT_PAGES, KnownFootprints } from '../../src/fault/footprints.ts';

const pages = (n: number, from = 0) => Uint32Array.from({ length: n }, (_, i) => from + i);
const NONE = new Uint32Array(0);

describe('known footprints', () => {
  it('key a slice by grid, arguments and slice bounds', () => {
    expect(footprintKey([4, 1, 1], [8, 9], 0, 4)).toBe(footprintKey(new Uint32Array([4, 1, 1]), new Uint32Array([8, 9]), 0, 4));
    expect(footprintKey([4, 1, 1], [8, 9], 0, 4)).not.toBe(footprintKey([4, 1, 1], [8, 10], 0, 4));
    expect(footprintKey([4, 1, 1], [8, 9], 0, 4)).not.toBe(footprintKey([4, 1, 1], [8, 9], 0, 3));
    expect(footprintKey([4, 1, 1], [8, 9], 0, 4)).not.toBe(footprintKey([2, 2, 1], [8, 9], 0, 4));
  });

  it('remember the latest footprint of a key, and forget it', () => {
    const k = new KnownFootprints();
    k.remember('a', pages(3), pages(1));
    k.remember('a', pages(2, 10), NONE);
    expect(Array.from(k.get('a')!.need)).toEqual([10, 11]);
    expect(k.get('a')!.writes.length).toBe(0);
    expect(k.pages).toBe(2);
    k.forget('a');
    expect(k.get('a')).toBeUndefined();
    expect(k.pages).toBe(0);
    k.forget('a'); // twice: nothing
    expect(k.size).toBe(0);
  });

  it('hold at most maxEntries, the least recently remembered dropped first', () => {
    const k = new KnownFootprints(3, 1000);
    k.remember('a', pages(1), NONE);
    k.remember('b', pages(1), NONE);
    k.remember('c', pages(1), NONE);
    k.remember('a', pages(1), NONE); // a is the newest again
    k.remember('d', pages(1), NONE);
    expect(k.size).toBe(3);
    expect(k.get('b')).toBeUndefined();
    for (const key of ['a', 'c', 'd']) expect(k.get(key)).toBeDefined();
  });

  it('hold at most maxPages page numbers in all: at the budget all stay, one more drops the oldest', () => {
    const k = new KnownFootprints(64, 10);
    k.remember('a', pages(4), pages(2)); // 6
    k.remember('b', pages(4), NONE); // 10: at the budget
    expect(k.size).toBe(2);
    expect(k.pages).toBe(10);
    k.remember('c', pages(1), NONE); // 11: a goes
    expect(k.get('a')).toBeUndefined();
    expect(k.pages).toBe(5);
    // One footprint larger than the budget on its own is not kept (and drops the key's old one).
    k.remember('b', pages(11), NONE);
    expect(k.get('b')).toBeUndefined();
    expect(k.get('c')).toBeDefined();
    expect(k.pages).toBe(1);
    k.remember('e', pages(10), NONE); // exactly the budget: kept, c goes
    expect(k.get('e')).toBeDefined();
    expect(k.pages).toBe(10);
  });

  it('default to a budget that bounds memory for large pools', () => {
    expect(KNOWN_FOOTPRINT_PAGES * 4).toBeLessThanOrEqual(8 * 1024 * 1024);
  });
});
