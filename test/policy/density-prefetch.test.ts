// Density prefetch (src/policy/density-prefetch.ts) as a pure function of a
// fault batch and what is present: the UVM bitmap tree, the threshold on both
// sides, blocks and the end of the space, and what each pattern fetches.

import { describe, expect, it } from 'vitest';
import { createDensityPrefetch } from '../../src/policy/density-prefetch.ts';
import { resolveDensityPrefetch } from '../../src/options.ts';
import type { FaultView } from '../../src/policy/policy.ts';

const PS = 4096;

function policy(blockPages: number, threshold = 0.51) {
  return createDensityPrefetch(resolveDensityPrefetch({ blockSize: blockPages * PS, threshold }, PS));
}

function view(pageCount: number, faulted: number[], present: Set<number>, prefetchable: (p: number) => boolean = () => true): FaultView {
  return { pageCount, faulted, present: (p) => present.has(p), prefetchable };
}

/**
 * A walk that finds one new page per pass (a pointer chase): each pass faults the first page of
 * `order` not yet present, and everything fetched becomes present. Returns the passes taken.
 */
function walk(order: number[], pageCount: number, prefetch: ReturnType<typeof policy> | undefined): { passes: number; fetched: number } {
  const present = new Set<number>();
  let passes = 0;
  let fetched = 0;
  for (const p of order) {
    if (present.has(p)) continue;
    passes++;
    present.add(p);
    const extra = prefetch?.onFault!(view(pageCount, [p], new Set([...present].filter((q) => q !== p)))) ?? [];
    for (const q of extra) present.add(q);
    fetched += extra.length;
  }
  return { passes, fetched };
}

describe('density prefetch', () => {
  it('fetches a subtree once more than the threshold of it is present or faulted, and not at or below it', () => {
    const pol = policy(4);
    // Block of 4: pages 0 and 1 present, page 2 faults → [0,4) has 3 of 4 = 75% → page 3 comes too.
    expect(pol.onFault!(view(4, [2], new Set([0, 1])))).toEqual([3]);
    // Page 0 present, page 1 faults → [0,2) is full but [0,4) is 2 of 4 = 50%, not over 51%: nothing.
    expect(pol.onFault!(view(4, [1], new Set([0])))).toEqual([]);
    // The threshold is strict: 75% passes 0.74 but not 0.75.
    expect(policy(4, 0.74).onFault!(view(4, [2], new Set([0, 1])))).toEqual([3]);
    expect(policy(4, 0.75).onFault!(view(4, [2], new Set([0, 1])))).toEqual([]);
    // A lower threshold fetches from half on.
    expect(policy(4, 0.49).onFault!(view(4, [1], new Set([0])))).toEqual([2, 3]);
  });

  it('takes the largest subtree over the threshold even when a smaller one on the way is not', () => {
    // Block of 8: pages 0–4 present, page 7 faults. [6,8) is 1 of 2, [4,8) 2 of 4 (both not over),
    // but [0,8) is 6 of 8 = 75%: pages 5 and 6 are fetched.
    expect(policy(8).onFault!(view(8, [7], new Set([0, 1, 2, 3, 4])))).toEqual([5, 6]);
  });

  it('counts what one fault fetched for the next fault of the same batch', () => {
    // Block of 8, pages 0 and 1 present; faults at 2 and 4 in one batch. For 2: [0,4) is 3 of 4 → 3 is
    // fetched. For 4: [0,8) now has 0–4 = 5 of 8 → 5, 6, 7 are fetched. Alone, 4 would fetch nothing.
    expect(policy(8).onFault!(view(8, [2, 4], new Set([0, 1])))).toEqual([3, 5, 6, 7]);
    expect(policy(8).onFault!(view(8, [4], new Set([0, 1])))).toEqual([]);
  });

  it('stays inside the block, and clips the last block to the end of the space', () => {
    const pol = policy(8);
    // Pages 8..10 present in block 1; a fault at 11 fills [8,12) but never reaches block 0 or past block 1.
    expect(pol.onFault!(view(16, [11], new Set([8, 9, 10, 12])))).toEqual([13, 14, 15]);
    // A space of 10 pages: block 1 is [8,10). Page 8 present, 9 faults: [8,10) is full; nothing beyond the space.
    expect(pol.onFault!(view(10, [9], new Set([8])))).toEqual([]);
    // Clipped subtree sizes: space of 11 pages, block 1 = [8,11): 8 present, 9 faults → [8,12)∩space = 3 pages,
    // 2 of 3 = 67% → page 10.
    expect(pol.onFault!(view(11, [9], new Set([8])))).toEqual([10]);
  });

  it('leaves out pages that may not be prefetched (advice, no data and no allocation)', () => {
    const pol = policy(4);
    expect(pol.onFault!(view(4, [3], new Set([0, 1]), (p) => p !== 2))).toEqual([]);
    expect(pol.onFault!(view(8, [2], new Set([0, 1, 4, 5, 6]), (p) => p !== 3))).toEqual([]);
  });

  it('with one page a block it does nothing', () => {
    expect(policy(1).onFault!(view(4, [1], new Set([0, 2, 3])))).toEqual([]);
  });

  it('a sequential walk takes a few passes a block instead of one a page; a stride-2 walk fetches nothing', () => {
    const n = 512;
    const seq = Array.from({ length: n }, (_, i) => i);
    const without = walk(seq, n, undefined);
    const withIt = walk(seq, n, policy(512));
    expect(without).toEqual({ passes: 512, fetched: 0 });
    // Each level of the tree is reached after one or two more faults (half plus one of 2, 4, …, 512).
    expect(withIt.passes).toBeLessThanOrEqual(2 * Math.log2(n));
    expect(withIt.passes + withIt.fetched).toBe(n); // every page once, none twice
    const strided = Array.from({ length: n / 2 }, (_, i) => 2 * i);
    expect(walk(strided, n, policy(512))).toEqual({ passes: n / 2, fetched: 0 });
  });

  it('a random walk fetches only pages it visits later (a permutation), in fewer passes', () => {
    const n = 512;
    const order = Array.from({ length: n }, (_, i) => i);
    let x = 12345;
    for (let i = n - 1; i > 0; i--) {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      const j = x % (i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const r = walk(order, n, policy(512));
    expect(r.passes + r.fetched).toBe(n);
    expect(r.passes).toBeLessThan(n);
    expect(r.fetched).toBeGreaterThan(0);
  });
});
