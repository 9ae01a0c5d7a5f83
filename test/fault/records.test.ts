// The record layout of access counters: which words a declared pass clears and
// reads back, how its bits are found in the packed read-back, and the
// accessed-written map of two bits a page that every pass shares.

import { describe, expect, it } from 'vitest';
import { AW_PAGE_SHIFT, BITMAP_BASE, LOG_END, MAP_ACCESSED, MAP_COUNT, MAP_MISS_SEEN, MAP_NEEDED, MAP_SPEC_SEEN, MAP_WRITE_SEEN, MAP_WRITTEN } from '../../src/abi.ts';
import { bitmapPages, bitmapWords, counterBit, counterRegions, passReadBytes, testBit } from '../../src/fault/records.ts';

describe('access counter regions', () => {
  it('cover the accessed-written words of the declared pages, 16 pages a word', () => {
    expect(AW_PAGE_SHIFT).toBe(4);
    // Pages 15..32 span words 0, 1, 2.
    expect(counterRegions(15, 32)).toEqual([{ offset: BITMAP_BASE * 4, bytes: 12 }]);
    // Pages 16..31: one word.
    expect(counterRegions(16, 31)).toEqual([{ offset: (BITMAP_BASE + 1) * 4, bytes: 4 }]);
    // One page: one word; the last page of a 1000-page space.
    expect(counterRegions(999, 999)).toEqual([{ offset: (BITMAP_BASE + 62) * 4, bytes: 4 }]);
  });

  it('fit, packed after the violation records, in the read-back buffer sized for a demand pass', () => {
    for (const pageCount of [1, 16, 17, 32, 33, 65536]) {
      const all = counterRegions(0, pageCount - 1).reduce((n, r) => n + r.bytes, 0);
      expect(LOG_END * 4 + all).toBeLessThanOrEqual(passReadBytes(pageCount));
      // Within the two maps' words, before the miss-seen map.
      const end = counterRegions(0, pageCount - 1).at(-1)!;
      expect(end.offset + end.bytes).toBeLessThanOrEqual((BITMAP_BASE + MAP_MISS_SEEN * bitmapWords(pageCount)) * 4);
    }
  });

  it('are read back packed: two bits a page, accessed then written', () => {
    const first = 40; // word 2 (pages 32..47) is the first read back
    const rec = new Uint32Array(LOG_END + 5);
    rec[LOG_END + 0] = 1 << ((40 & 15) * 2); // accessed: page 40
    rec[LOG_END + 0] = rec[LOG_END + 0]! | (1 << ((41 & 15) * 2 + 1)); // written (only): page 41
    rec[LOG_END + 4] = (1 << ((100 & 15) * 2)) | (1 << ((100 & 15) * 2 + 1)); // page 100 (word 6): both
    rec[LOG_END + 1] = 1 << 31; // page 63: written
    expect(counterBit(rec, first, MAP_ACCESSED, 40)).toBe(true);
    expect(counterBit(rec, first, MAP_WRITTEN, 40)).toBe(false);
    expect(counterBit(rec, first, MAP_ACCESSED, 41)).toBe(false);
    expect(counterBit(rec, first, MAP_WRITTEN, 41)).toBe(true);
    expect(counterBit(rec, first, MAP_ACCESSED, 100)).toBe(true);
    expect(counterBit(rec, first, MAP_WRITTEN, 100)).toBe(true);
    expect(counterBit(rec, first, MAP_WRITTEN, 63)).toBe(true);
    expect(counterBit(rec, first, MAP_ACCESSED, 63)).toBe(false);
  });
});

describe('page bitmaps of a whole record', () => {
  it('decode the accessed-written map (two bits a page) and the fault map (four bits a page)', () => {
    const pageCount = 70;
    const bw = bitmapWords(pageCount); // 3
    const rec = new Uint32Array(BITMAP_BASE + 6 * bw);
    const set = (map: number, p: number): void => {
      const [w, bit] = map === MAP_ACCESSED || map === MAP_WRITTEN
        ? [BITMAP_BASE + (p >> 4), (p & 15) * 2 + map]
        : [BITMAP_BASE + 2 * bw + (p >> 3), (p & 7) * 4 + map - MAP_MISS_SEEN];
      rec[w] = rec[w]! | (1 << bit);
    };
    const accessed = [0, 15, 16, 47, 69];
    const written = [15, 31, 69];
    const missed = [1, 7, 8, 32, 69];
    const hinted = [7, 63, 69];
    const intents = [0, 69];
    const needed = [1, 2, 3, 68, 69];
    const maps: [number, number[]][] = [
      [MAP_ACCESSED, accessed], [MAP_WRITTEN, written], [MAP_MISS_SEEN, missed],
      [MAP_SPEC_SEEN, hinted], [MAP_WRITE_SEEN, intents], [MAP_NEEDED, needed],
    ];
    for (const [m, pages] of maps) for (const p of pages) set(m, p);
    for (const [m, pages] of maps) {
      expect(bitmapPages(rec, pageCount, m)).toEqual(pages);
      for (let p = 0; p < pageCount; p++) expect(testBit(rec, pageCount, m, p)).toBe(pages.includes(p));
    }
    // The whole record: nothing past the six maps' words.
    expect(rec.length).toBe(BITMAP_BASE + MAP_COUNT * bw);
  });
});
