// Copy coalescing: turns per-page (page, frame) pairs into runs where both
// consecutive pages and consecutive frames (in one window) line up, so a run
// moves in one copy command instead of one per page.

export interface CopyRun {
  /** First page of the run (in the space). */
  readonly page: number;
  /** First frame of the run (in the pool). */
  readonly frame: number;
  /** Pages in the run. */
  readonly count: number;
}

/**
 * `pages` and `frames` are parallel, `pages` ascending. Runs break where pages
 * or frames are not consecutive or a window boundary is crossed.
 */
export function coalesce(pages: ArrayLike<number>, frames: ArrayLike<number>, windowFrames: number): CopyRun[] {
  const runs: CopyRun[] = [];
  let i = 0;
  while (i < pages.length) {
    const p0 = pages[i]!;
    const f0 = frames[i]!;
    const windowEnd = (Math.floor(f0 / windowFrames) + 1) * windowFrames;
    let j = i + 1;
    while (j < pages.length && pages[j] === p0 + (j - i) && frames[j] === f0 + (j - i) && frames[j]! < windowEnd) j++;
    runs.push({ page: p0, frame: f0, count: j - i });
    i = j;
  }
  return runs;
}
