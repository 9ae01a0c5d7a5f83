// Slice prediction (src/policy/slice-prediction.ts): streams are predicted from
// one slice and from two, runs that stay put are left alone, scaled to the
// next slice's size; random footprints and a prediction that missed predict
// nothing.

import { describe, expect, it } from 'vitest';
import { accuracy, HOT_PRIOR, HOT_SLICES, pastRuns, predictSlice, retiring, RUN_MARGIN, runsOf, SliceHeat, type SliceFootprint } from '../../src/policy/slice-prediction.ts';
import { MIN_STREAM_RUN, PREDICTION_MIN_ACCURACY } from '../../src/options.ts';

function xorshift32(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
/** What a prediction of these runs holds: each run RUN_MARGIN pages wider at both ends, inside [0, pageCount). */
const widen = (pages: number[], pageCount = 1000) => {
  const out = new Set<number>();
  for (const r of runsOf(Uint32Array.from(pages).sort())) {
    for (let p = Math.max(0, r.start - RUN_MARGIN); p < Math.min(pageCount, r.start + r.length + RUN_MARGIN); p++) out.add(p);
  }
  return [...out].sort((a, b) => a - b);
};
const fp = (lo: number, hi: number, pages: number[], predicted?: number[]): SliceFootprint => ({
  lo, hi, pages: Uint32Array.from(new Set(pages)).sort(), ...(predicted ? { predicted: Uint32Array.from(predicted) } : {}),
});

/** A grid-stride footprint: `rows` rows of `rowPages` pages, slice k of `parts` covering the k-th part of each. */
const gridStride = (k: number, parts: number, rows: number, rowPages: number, extra: number[] = []) => {
  const per = rowPages / parts;
  return [...range(0, rows).flatMap((r) => range(r * rowPages + k * per, r * rowPages + (k + 1) * per)), ...extra];
};

describe('runs and accuracy', () => {
  it('cuts an ascending list into maximal runs', () => {
    expect(runsOf([])).toEqual([]);
    expect(runsOf([3])).toEqual([{ start: 3, length: 1 }]);
    expect(runsOf([1, 2, 3, 7, 9, 10])).toEqual([{ start: 1, length: 3 }, { start: 7, length: 1 }, { start: 9, length: 2 }]);
  });

  it('is the fraction of the prediction the slice touched, 1 without one', () => {
    expect(accuracy(fp(0, 4, [1, 2, 3]))).toBe(1);
    expect(accuracy(fp(0, 4, [1, 2, 3], []))).toBe(1);
    expect(accuracy(fp(0, 4, [1, 2, 3], [2, 3, 4, 5]))).toBe(0.5);
    expect(accuracy(fp(0, 4, [1, 2, 3], [8]))).toBe(0);
  });
});

describe('predictSlice', () => {
  it('one slice seen: every long run goes on after itself, as long again', () => {
    const first = fp(0, 100, gridStride(0, 3, 8, 48, [400]));
    // Each of the 8 rows' runs of 16 pages continues with the next 16; the lone page 400 predicts nothing.
    expect(predictSlice([first], 100, 200, 1000)).toEqual(widen(gridStride(1, 3, 8, 48)));
  });

  it('scales a run to the next slice`s size', () => {
    const first = fp(0, 100, range(10, 30));
    expect(predictSlice([first], 100, 150, 1000)).toEqual(widen(range(30, 40)));
    expect(predictSlice([first], 100, 300, 1000)).toEqual(widen(range(30, 70)));
  });

  it(`runs shorter than MIN_STREAM_RUN (${MIN_STREAM_RUN}) predict nothing from one slice: a random footprint`, () => {
    const short = fp(0, 10, [1, 2, 3, 8, 20, 21, 22]);
    expect(predictSlice([short], 10, 20, 100)).toEqual([]);
    const long = fp(0, 10, range(1, 1 + MIN_STREAM_RUN));
    expect(predictSlice([long], 10, 20, 100)).toEqual(widen(range(1 + MIN_STREAM_RUN, 1 + 2 * MIN_STREAM_RUN), 100));
  });

  it('two slices seen: each run moves by what it moved, and a run that stayed (a table) predicts nothing', () => {
    // Two streams moving by 5 and by 2 pages a slice, and a table at 90 that stays.
    const a = fp(0, 10, [...range(0, 5), ...range(40, 42), 90]);
    const b = fp(10, 20, [...range(5, 10), ...range(42, 44), 90]);
    expect(predictSlice([a, b], 20, 30, 100)).toEqual(widen([...range(10, 15), ...range(44, 46)], 100));
    // Short runs count too once two slices agree (the second stream is 2 pages long).
    expect(MIN_STREAM_RUN).toBeGreaterThan(2);
  });

  it('two slices of different sizes: the step scales with the workgroups', () => {
    const a = fp(0, 10, range(0, 10));
    const b = fp(10, 30, range(10, 30));
    // 1 page a workgroup: the next 5 workgroups read the next 5 pages.
    expect(predictSlice([a, b], 30, 35, 100)).toEqual(widen(range(30, 35), 100));
  });

  it('a contiguous stream after a small slice (a scout) goes on from the last run\'s end, not from a rounded step', () => {
    // 5.3 pages over the scout's 1,365 workgroups, 20 over the next 5,006: the step scaled from the scout
    // (5 × 5006 / 1365 = 18.3) would start the next run 2 pages early and end it a page short.
    const scout = fp(0, 1365, [...range(192, 197), ...range(256, 261)]);
    const next = fp(1365, 6371, [...range(197, 217), ...range(261, 281)]);
    expect(predictSlice([scout, next], 6371, 11377, 1000)).toEqual(widen([...range(217, 237), ...range(281, 301)], 1000));
    // A strided pattern (runs that do not continue each other) still moves by its step.
    const a = fp(0, 10, range(0, 5));
    const b = fp(10, 20, range(10, 15));
    expect(predictSlice([a, b], 20, 30, 100)).toEqual(widen(range(20, 25), 100));
  });

  it('stays inside the space', () => {
    const first = fp(0, 10, range(90, 100));
    expect(predictSlice([first], 10, 20, 100)).toEqual([99]); // past the end: only the margin before it
    expect(predictSlice([fp(0, 10, range(80, 90))], 10, 30, 100)).toEqual(range(89, 100));
  });

  it('predicts nothing for a slice that does not follow the last one, or after a prediction that missed', () => {
    const first = fp(0, 10, range(0, 10));
    expect(predictSlice([first], 11, 20, 100)).toEqual([]);
    expect(predictSlice([], 0, 10, 100)).toEqual([]);
    const below = Math.floor(10 * PREDICTION_MIN_ACCURACY) - 1;
    const missed = fp(0, 10, range(0, 10), [...range(0, below), ...range(50, 50 + 10 - below)]);
    expect(accuracy(missed)).toBeLessThan(PREDICTION_MIN_ACCURACY);
    expect(predictSlice([missed], 10, 20, 100)).toEqual([]);
  });

  it('a random block order: most of what it predicts from one slice is wrong, and little is predicted', () => {
    const next = xorshift32(7);
    const perm = range(0, 384);
    for (let i = perm.length - 1; i > 0; i--) {
      const j = next() % (i + 1);
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
    const first = fp(0, 128, perm.slice(0, 128));
    const guess = predictSlice([first], 128, 256, 384);
    const truth = new Set(perm.slice(128, 256));
    expect(guess.length).toBeLessThan(128 / 4);
    const hits = guess.filter((p) => truth.has(p)).length;
    expect(accuracy(fp(128, 256, [...truth], guess))).toBe(guess.length === 0 ? 1 : hits / guess.length);
  });
});

describe('retiring: what a stream has moved past', () => {
  it('the last slice\'s stream runs, not a table that two slices share nor a run too short to be a stream', () => {
    const table = [900]; // one page every workgroup reads
    const a = fp(0, 10, [...gridStride(0, 4, 2, 40), ...table]);
    const b = fp(10, 20, [...gridStride(1, 4, 2, 40), ...table]);
    // Rows of 40 pages in quarters: b holds pages 10-19 and 50-59.
    expect(retiring([a, b])).toEqual([...range(10, 20), ...range(50, 60)]);
    // From one slice, the table is a run of one page: too short to be taken for a stream.
    expect(retiring([a])).toEqual([...range(0, 10), ...range(40, 50)]);
    expect(retiring([])).toEqual([]);
  });

  it('a run that two slices share stays, whatever its length (a large table read by every slice)', () => {
    const big = range(500, 500 + 2 * MIN_STREAM_RUN);
    const a = fp(0, 10, [...range(0, 10), ...big]);
    const b = fp(10, 20, [...range(10, 20), ...big]);
    expect(retiring([a, b])).toEqual(range(10, 20));
  });

  it('a random footprint retires only its chance runs of MIN_STREAM_RUN or more', () => {
    const next = xorshift32(11);
    const pages = new Set<number>();
    while (pages.size < 64) pages.add(next() % 1024);
    const f = fp(0, 64, [...pages]);
    const long = runsOf(f.pages).filter((r) => r.length >= MIN_STREAM_RUN).flatMap((r) => range(r.start, r.start + r.length));
    expect(retiring([f])).toEqual(long);
  });
});

describe('pastRuns: where a run of writes goes on', () => {
  it('the page after each run, inside the space', () => {
    expect(pastRuns(Uint32Array.from([3, 4, 5, 9, 20, 21]), 100)).toEqual([6, 10, 22]);
    expect(pastRuns(Uint32Array.from([98, 99]), 100)).toEqual([]);
    expect(pastRuns(new Uint32Array(0), 100)).toEqual([]);
  });
});

describe('SliceHeat: the pages most slices of a dispatch touch', () => {
  it('none before HOT_SLICES slices; then the pages in at least half of them, most often touched first', () => {
    const h = new SliceHeat();
    h.heard([1, 2, 10]);
    h.heard([1, 2, 11]);
    expect(h.hot()).toEqual([]);
    h.heard([1, 3, 12]);
    expect(HOT_SLICES).toBe(3);
    expect(h.hot()).toEqual([1, 2]); // 1 in all three; 2 in two of three; 3, 10-12 in one
    h.heard([3, 13]);
    expect(h.hot()).toEqual([1, 2, 3]); // four slices: 1 (3), 2 (2), 3 (2)
  });

  it('a seed counts as HOT_PRIOR slices that touched it: hot at once, cold once as many of the dispatch\'s own have not', () => {
    const h = new SliceHeat([5, 6]);
    expect(h.hot()).toEqual([5, 6]);
    for (let i = 0; i < HOT_PRIOR; i++) h.heard([6, 100 + i]);
    expect(h.hot()).toEqual([6, 5]); // 5: HOT_PRIOR of 2 HOT_PRIOR slices, still half
    h.heard([6]);
    expect(h.hot()).toEqual([6]);
  });
});
