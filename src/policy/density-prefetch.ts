// Density prefetch: UVM's perf_prefetch. The space is cut into blocks
// (default 2 MiB, UVM's VA block); over the pages of a block stands a
// complete binary tree whose nodes count the pages under them that are
// resident, about to be, or faulted. For each faulted page the policy walks
// from its leaf to the root and takes the largest subtree in which more than
// `threshold` (51 %) of the pages are counted; the rest of that subtree is
// fetched along with the fault. Pages picked for one fault count for the next,
// as in UVM.
//
// What it does to patterns: a sequential walk that finds one new page per
// pass fetches 1, 3, 7, 15, 31, … pages ahead (each level is reached at half
// plus one), so a block takes O(log) passes instead of one per page — a
// 512-page block (2 MiB of 4 KiB pages) 17 instead of 512, a 32-page one 6
// (test/policy/density-prefetch.test.ts); a stride-2 pattern never fills more
// than half of any subtree and fetches nothing extra; a random pattern
// fetches a subtree once most of it has been touched.
//
// Demand mode only. A declared dispatch's fault batch is its whole declared
// set, made resident in one migration before the kernel runs: there are no
// later passes for a prefetch to save, and any page outside the set is one
// the kernel may not even touch (its PTE grants nothing), so prefetching it
// could only evict a page some other dispatch declared. space.prefetch() is
// the tool for staging the next declared dispatch's ranges.
//
// State: one scratch tree, reused (no per-page state survives a call).

import type { ResolvedDensityPrefetch } from '../options.ts';
import type { FaultView, Policy } from './policy.ts';

class DensityPrefetch implements Policy {
  readonly name = 'density-prefetch';
  readonly #threshold: number;
  readonly #blockPages: number;
  readonly #levels: number;
  /** Heap-ordered counts: node 1 is the root, leaves are [blockPages, 2·blockPages). */
  readonly #tree: Uint32Array;

  constructor(o: ResolvedDensityPrefetch) {
    this.#threshold = o.threshold;
    this.#blockPages = o.blockPages;
    this.#levels = Math.log2(o.blockPages);
    this.#tree = new Uint32Array(2 * o.blockPages);
  }

  onFault(view: FaultView): readonly number[] {
    const B = this.#blockPages;
    const faulted = view.faulted;
    if (B < 2 || faulted.length === 0) return [];
    const out: number[] = [];
    let i = 0;
    while (i < faulted.length) {
      const block = Math.floor(faulted[i]! / B);
      let j = i;
      while (j < faulted.length && Math.floor(faulted[j]! / B) === block) j++;
      this.#block(view, block, faulted, i, j, out);
      i = j;
    }
    return out.sort((a, b) => a - b);
  }

  /** Faulted pages faulted[from, to) all lie in `block`. */
  #block(view: FaultView, block: number, faulted: readonly number[], from: number, to: number, out: number[]): void {
    const B = this.#blockPages;
    const tree = this.#tree;
    const base = block * B;
    const n = Math.min(B, view.pageCount - base);
    for (let k = 0; k < B; k++) tree[B + k] = k < n && view.present(base + k) ? 1 : 0;
    for (let k = from; k < to; k++) tree[B + faulted[k]! - base] = 1;
    for (let node = B - 1; node >= 1; node--) tree[node] = tree[2 * node]! + tree[2 * node + 1]!;
    for (let k = from; k < to; k++) {
      const leaf = faulted[k]! - base;
      // The largest subtree over the threshold, walking from the leaf up (UVM: the last one found wins).
      let lo = leaf;
      let hi = leaf + 1;
      for (let level = 1; level <= this.#levels; level++) {
        const size = 1 << level;
        const start = leaf & ~(size - 1);
        const end = Math.min(start + size, n);
        const count = tree[(B + leaf) >>> level]!;
        if (count > this.#threshold * (end - start)) {
          lo = start;
          hi = end;
        }
      }
      for (let q = lo; q < hi; q++) {
        if (tree[B + q] !== 0 || !view.prefetchable(base + q)) continue;
        out.push(base + q);
        for (let node = B + q; node >= 1; node >>>= 1) tree[node]!++;
      }
    }
  }
}

/** The density-prefetch policy with resolved options (the hub creates it only when enabled). */
export function createDensityPrefetch(options: ResolvedDensityPrefetch): Policy {
  return new DensityPrefetch(options);
}
