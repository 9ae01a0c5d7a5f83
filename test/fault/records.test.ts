// The record layout of access counters: which words a declared pass clears and
// reads back, and how its bits are found in the packed read-back.

import { describe, expect, it } from 'vitest';
import { BITMAP_BASE, LOG_END, MAP_ACCESSED, MAP_WRITTEN } from '../../src/abi.ts';
import { bitmapWords, counterBit, counterRegions, passReadBytes } from '../../src/fault/records.ts';

describe('access counter regions', () => {
  it('cover the bitmap words of the declared pages, in both bitmaps', () => {
    const pageCount = 1000;
    const bw = bitmapWords(pageCount);
    // Pages 31..64 span words 0, 1, 2.
    expect(counterRegions(pageCount, 31, 64)).toEqual([
      { offset: BITMAP_BASE * 4, bytes: 12 },
      { offset: (BITMAP_BASE + bw) * 4, bytes: 12 },
    ]);
    // One page: one word each; the last page of the space.
    expect(counterRegions(pageCount, 999, 999)).toEqual([
      { offset: (BITMAP_BASE + 31) * 4, bytes: 4 },
      { offset: (BITMAP_BASE + bw + 31) * 4, bytes: 4 },
    ]);
  });

  it('fit, packed after the violation records, in the read-back buffer sized for a demand pass', () => {
    for (const pageCount of [1, 32, 33, 65536]) {
      const all = counterRegions(pageCount, 0, pageCount - 1).reduce((n, r) => n + r.bytes, 0);
      expect(LOG_END * 4 + all).toBeLessThanOrEqual(passReadBytes(pageCount));
    }
  });

  it('are read back packed: accessed words, then written words', () => {
    const first = 40;
    const last = 100; // words 1..3: three words per bitmap
    const rec = new Uint32Array(LOG_END + 6);
    rec[LOG_END + 0] = 1 << (40 & 31); // accessed: page 40 (word 1)
    rec[LOG_END + 2] = 1 << (100 & 31); // accessed: page 100 (word 3)
    rec[LOG_END + 3] = 1 << (41 & 31); // written: page 41 (word 1, the first of the written words)
    expect(counterBit(rec, first, last, MAP_ACCESSED, 40)).toBe(true);
    expect(counterBit(rec, first, last, MAP_ACCESSED, 41)).toBe(false);
    expect(counterBit(rec, first, last, MAP_ACCESSED, 100)).toBe(true);
    expect(counterBit(rec, first, last, MAP_WRITTEN, 41)).toBe(true);
    expect(counterBit(rec, first, last, MAP_WRITTEN, 40)).toBe(false);
  });
});
