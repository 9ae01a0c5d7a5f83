// A per-page number array that costs memory only where pages were set: the
// side tables of policies and strict mode (thrashing counts, hold times,
// page hashes) for spaces of up to 2^28 pages. A space of at most DENSE_PAGES
// pages gets one typed array (as before: one load per read); a larger one a
// directory of CHUNK_PAGES-page chunks made on the first set of a page in
// them, like the page table (src/space/page-table.ts). Unset pages read 0.

import { CHUNK_PAGES, DENSE_PAGES } from './page-table.ts';

type Numbers = Uint8Array | Uint32Array | Float32Array | Float64Array;
type NumbersConstructor = new (length: number) => Numbers;

export class PageArray {
  readonly pageCount: number;
  readonly #make: NumbersConstructor;
  readonly #dense: Numbers | undefined;
  readonly #dir: (Numbers | undefined)[];

  constructor(make: NumbersConstructor, pageCount: number, densePages = DENSE_PAGES) {
    this.pageCount = pageCount;
    this.#make = make;
    this.#dense = pageCount <= densePages ? new make(pageCount) : undefined;
    this.#dir = this.#dense ? [] : new Array<Numbers | undefined>(Math.ceil(pageCount / CHUNK_PAGES));
  }

  get(p: number): number {
    if (this.#dense) return this.#dense[p]!;
    const c = this.#dir[Math.floor(p / CHUNK_PAGES)];
    return c ? c[p % CHUNK_PAGES]! : 0;
  }

  set(p: number, v: number): void {
    if (this.#dense) {
      this.#dense[p] = v;
      return;
    }
    const i = Math.floor(p / CHUNK_PAGES);
    const c = this.#dir[i] ?? (this.#dir[i] = new this.#make(CHUNK_PAGES));
    c[p % CHUNK_PAGES] = v;
  }

  /** Pages [first, end) read 0 again. */
  clear(first: number, end: number): void {
    if (this.#dense) {
      this.#dense.fill(0, first, end);
      return;
    }
    for (let i = Math.floor(first / CHUNK_PAGES); i * CHUNK_PAGES < end; i++) {
      const c = this.#dir[i];
      if (!c) continue;
      const lo = Math.max(first, i * CHUNK_PAGES);
      const hi = Math.min(end, (i + 1) * CHUNK_PAGES);
      if (lo === i * CHUNK_PAGES && hi === (i + 1) * CHUNK_PAGES) this.#dir[i] = undefined;
      else c.fill(0, lo - i * CHUNK_PAGES, hi - i * CHUNK_PAGES);
    }
  }

  /** Bytes held (for tests and the metadata figures). */
  byteSize(): number {
    if (this.#dense) return this.#dense.byteLength;
    let n = this.#dir.length * 8;
    for (const c of this.#dir) if (c) n += c.byteLength;
    return n;
  }
}
