// Slice prediction: which pages the next slice of a demand dispatch will touch,
// from the footprints of the slices that ran before it — UVM's fault-ahead
// prediction, adapted to a grid that runs slice after slice (src/fault/demand.ts).
//
// A footprint is cut into runs of consecutive pages. A kernel that streams
// through its data moves each run forward as its workgroups advance: a
// grid-stride loop has one run per stride row, a blocked kernel one run, and a
// table every workgroup reads is a run that stays put. So:
//
//   two slices seen, A then B, adjacent, with as many runs as each other:
//     run j moved by d_j pages over A's workgroups; the next slice's run starts
//     where B's is plus d_j scaled to B's workgroups — right after B's end when
//     B's run continues A's (a contiguous stream) — and is as long as B's,
//     scaled to the next slice's workgroups (a run that did not move stays)
//   one slice seen (or the runs do not match): every run of at least
//     MIN_STREAM_RUN pages continues right after itself, as long again
//     (scaled); shorter runs predict nothing — a random pattern's footprint is
//     mostly short runs, and a few long ones by chance cost a few pages once
//
// A prediction is only ever a prefetch: the slice's passes find what it missed
// as always, so a wrong one costs transfers, never exactness. It is judged
// when its slice has run: below PREDICTION_MIN_ACCURACY of it touched, the
// dispatch stops predicting (a pattern that is not a stream).
//
// Pure: no state; the caller keeps the history (the last two slices).

import { MIN_STREAM_RUN, PREDICTION_MIN_ACCURACY } from '../options.ts';

/** Pages added at each end of a predicted run. */
export const RUN_MARGIN = 1;

/** What one slice of the grid touched. */
export interface SliceFootprint {
  /** Its linear workgroups [lo, hi). */
  readonly lo: number;
  readonly hi: number;
  /** Every page its passes accessed, ascending. */
  readonly pages: Uint32Array;
  /** What was predicted for it (ascending), if anything. */
  readonly predicted?: Uint32Array | undefined;
}

interface Run {
  readonly start: number;
  readonly length: number;
}

/** Maximal runs of consecutive pages of an ascending list. */
export function runsOf(pages: ArrayLike<number>): Run[] {
  const out: Run[] = [];
  let i = 0;
  while (i < pages.length) {
    const start = pages[i]!;
    let j = i + 1;
    while (j < pages.length && pages[j] === pages[j - 1]! + 1) j++;
    out.push({ start, length: j - i });
    i = j;
  }
  return out;
}

/** How much of a prediction its slice touched: 1 when nothing was predicted. */
export function accuracy(f: SliceFootprint): number {
  const p = f.predicted;
  if (!p || p.length === 0) return 1;
  let hit = 0;
  let j = 0;
  for (const page of p) {
    while (j < f.pages.length && f.pages[j]! < page) j++;
    if (j < f.pages.length && f.pages[j] === page) hit++;
  }
  return hit / p.length;
}

/**
 * Pages the slice [lo, hi) is predicted to touch (ascending, within
 * [0, pageCount)), from the slices before it (oldest first). None when the
 * last slice is not right before it or its prediction missed too often.
 */
export function predictSlice(history: readonly SliceFootprint[], lo: number, hi: number, pageCount: number): number[] {
  const last = history[history.length - 1];
  if (!last || last.hi !== lo || hi <= lo || last.pages.length === 0) return [];
  if (accuracy(last) < PREDICTION_MIN_ACCURACY) return [];
  const nB = last.hi - last.lo;
  const scale = (hi - lo) / nB;
  const runsB = runsOf(last.pages);
  const out = new Set<number>();
  // Each predicted run one page wider at both ends: slices split the grid where they will, so a run's
  // ends fall on pages two slices share and its length rounds either way — a page short at an end
  // costs a pass (measured: grid-stride at 3×, 15 passes for 5 slices without the margin).
  const add = (start: number, length: number) => {
    for (let p = Math.max(0, start - RUN_MARGIN); p < Math.min(pageCount, start + length + RUN_MARGIN); p++) out.add(p);
  };
  const prev = history[history.length - 2];
  const runsA = prev && prev.hi === last.lo ? runsOf(prev.pages) : undefined;
  if (runsA && runsA.length === runsB.length) {
    const nA = prev!.hi - prev!.lo;
    for (let j = 0; j < runsB.length; j++) {
      const a = runsA[j]!;
      const b = runsB[j]!;
      const d = b.start - a.start;
      if (d === 0) continue; // stays put: resident already, or the slices' passes find it
      const length = Math.max(1, Math.round(b.length * scale));
      // A run that B continues from A's end (the page they split may be in both) is a contiguous
      // stream: it goes on from B's end. Its stride over A's workgroups, scaled, would be rounded
      // from a few pages when A is small (a scout): measured, grid-stride at 2× predicted each run of
      // a 5,006-workgroup slice 2 pages early from a 1,365-workgroup scout, and the slice's first
      // pass missed the page past its end.
      if (b.start >= a.start + a.length - 1 && b.start <= a.start + a.length) add(b.start + b.length, length);
      else add(b.start + Math.round((d * nB) / nA), length);
    }
    return [...out].sort((x, y) => x - y);
  }
  for (const b of runsB) {
    if (b.length >= MIN_STREAM_RUN) add(b.start + b.length, Math.max(1, Math.round(b.length * scale)));
  }
  return [...out].sort((x, y) => x - y);
}

/**
 * Pages of the last slice's footprint that the stream has moved past: those
 * in runs of at least MIN_STREAM_RUN pages that the slice before it did not
 * touch (a page two footprints share is a table every slice reads, and a
 * short run may be one). A demand dispatch evicts them before the current
 * slice's pass — leaving out what is predicted for that slice and the next —
 * so that the next slice's pages can come in while the pass runs
 * (src/fault/demand.ts, two slices in flight). Only ever an early eviction: a
 * wrong one costs a fault, never exactness. Ascending.
 */
export function retiring(history: readonly SliceFootprint[]): number[] {
  const last = history[history.length - 1];
  if (!last) return [];
  const prev = history[history.length - 2];
  const shared = new Set(prev ? prev.pages : []);
  const out: number[] = [];
  for (const r of runsOf(last.pages)) {
    if (r.length < MIN_STREAM_RUN) continue;
    for (let p = r.start; p < r.start + r.length; p++) if (!shared.has(p)) out.push(p);
  }
  return out;
}

/**
 * The page right after each run of `pages` (ascending; within [0, pageCount)):
 * where a run of writes goes on. A probe predicts an append's slots from the
 * counter as it was, the same slot for every invocation, so the commit's
 * appends run past the last page it saw (src/fault/demand.ts adds these to a
 * commit's write set; the Graph500 BFS at 4x aborted 9-10 commits a level on
 * its next frontier without them).
 */
export function pastRuns(pages: ArrayLike<number>, pageCount: number): number[] {
  const out: number[] = [];
  for (const r of runsOf(pages)) if (r.start + r.length < pageCount) out.push(r.start + r.length);
  return out;
}

/**
 * Pages most slices of a dispatch touch — a table they all read (the offsets
 * and parents of a graph search) — as opposed to a stream's pages, which one
 * slice reads. Counted per slice; a page is hot once at least HOT_SLICES
 * slices have run and it was in at least half of their footprints. A demand
 * dispatch holds the hot pages resident across its slices (src/fault/demand.ts
 * passes them with each slice's prediction): between two slices CLOCK sees
 * only which pages the last passes referenced, so a table page the last slice
 * happened not to read went first, and the next slice's first pass missed it
 * (measured on the Graph500 BFS at 4x: 1-8 of the 33 offset pages each slice,
 * and with each, the adjacency pages of the vertices on it, a second probe).
 * Only ever a prefetch; it takes room the slice's own pages leave.
 */
export class SliceHeat {
  readonly #count = new Map<number, number>();
  #slices = 0;

  /**
   * `seed`: the hot pages of the kernel's last dispatch on the space (the levels of a graph search
   * read the same tables), counted as if HOT_PRIOR slices had touched them all: hot from the first
   * slice, and cold again once this dispatch's own slices, as many, have not touched them.
   */
  constructor(seed: readonly number[] = []) {
    if (seed.length === 0) return;
    this.#slices = HOT_PRIOR;
    for (const p of seed) this.#count.set(p, HOT_PRIOR);
  }

  /** A slice ran and touched `pages` (each once). */
  heard(pages: ArrayLike<number>): void {
    this.#slices++;
    for (let i = 0; i < pages.length; i++) {
      const p = pages[i]!;
      this.#count.set(p, (this.#count.get(p) ?? 0) + 1);
    }
  }

  /** The hot pages, most often touched first. */
  hot(): number[] {
    if (this.#slices < HOT_SLICES) return [];
    const out: [number, number][] = [];
    for (const [p, c] of this.#count) if (c * 2 >= this.#slices) out.push([p, c]);
    return out.sort((a, b) => b[1] - a[1] || a[0] - b[0]).map(([p]) => p);
  }
}

/** Slices seen before any page counts as hot (one slice's footprint is all "hot"). */
export const HOT_SLICES = 3;
/** The weight of a seed (SliceHeat's constructor), in slices. */
export const HOT_PRIOR = 4;
