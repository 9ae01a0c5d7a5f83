import { expect, test } from 'vitest';
import { PageArray } from '../../src/space/page-array.ts';
import { CHUNK_PAGES } from '../../src/space/page-table.ts';

test('a dense page array reads what was set, 0 elsewhere, and clears ranges', () => {
  const a = new PageArray(Float64Array, 100);
  a.set(3, 1.5);
  a.set(99, 7);
  expect([a.get(3), a.get(99), a.get(4)]).toEqual([1.5, 7, 0]);
  a.clear(0, 50);
  expect([a.get(3), a.get(99)]).toEqual([0, 7]);
  expect(a.byteSize()).toBe(800);
});

test('a page array of 2^28 pages holds chunks only where pages were set; clearing a whole chunk gives it back', () => {
  const pages = 2 ** 28;
  const a = new PageArray(Uint32Array, pages);
  const empty = a.byteSize();
  expect(empty).toBe((pages / CHUNK_PAGES) * 8);
  const far = [0, 5000, 2 ** 27 + 1, pages - 1];
  far.forEach((p, k) => a.set(p, k + 1));
  expect(far.map((p) => a.get(p))).toEqual([1, 2, 3, 4]);
  expect(a.get(2 ** 26)).toBe(0);
  expect(a.byteSize() - empty).toBe(far.length * CHUNK_PAGES * 4);
  a.clear(pages - CHUNK_PAGES, pages); // the last chunk, whole
  expect(a.get(pages - 1)).toBe(0);
  expect(a.byteSize() - empty).toBe(3 * CHUNK_PAGES * 4);
  a.clear(1, 5001); // part of chunks 0 and 4
  expect([a.get(0), a.get(5000)]).toEqual([1, 0]);
});
