import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { coalesce } from '../../src/device/coalesce.ts';

describe('coalesce', () => {
  it('merges consecutive pages in consecutive frames', () => {
    expect(coalesce([1, 2, 3, 7], [10, 11, 12, 13], 64)).toEqual([
      { page: 1, frame: 10, count: 3 },
      { page: 7, frame: 13, count: 1 },
    ]);
  });

  it('breaks runs at window boundaries and at frame gaps', () => {
    expect(coalesce([0, 1, 2, 3], [2, 3, 4, 5], 4)).toEqual([
      { page: 0, frame: 2, count: 2 },
      { page: 2, frame: 4, count: 2 },
    ]);
    expect(coalesce([0, 1], [5, 3], 8)).toEqual([
      { page: 0, frame: 5, count: 1 },
      { page: 1, frame: 3, count: 1 },
    ]);
  });

  it('covers every page exactly once (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 200 }), { maxLength: 50 }), fc.integer({ min: 0, max: 3 }), (raw, wshift) => {
        const pages = raw.sort((a, b) => a - b);
        const frames = pages.map((p, i) => (i % 3 === 0 ? p + 1 : p));
        const runs = coalesce(pages, frames, 1 << wshift);
        const back: [number, number][] = [];
        for (const r of runs) {
          for (let k = 0; k < r.count; k++) back.push([r.page + k, r.frame + k]);
          expect(Math.floor(r.frame / (1 << wshift))).toBe(Math.floor((r.frame + r.count - 1) / (1 << wshift)));
        }
        expect(back).toEqual(pages.map((p, i) => [p, frames[i]!]));
      }),
    );
  });
});
