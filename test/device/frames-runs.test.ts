// Contiguous runs in the frame table (zero-translation bindings): finding a
// free run inside one window, choosing the slice cheapest to clear, and the
// bookkeeping of a compaction's moves.

import { describe, expect, it } from 'vitest';
import { FREE, FrameTable } from '../../src/device/frames.ts';

describe('FrameTable runs', () => {
  it('findFreeRun finds a run inside one window, never across a boundary', () => {
    const f = new FrameTable(8, 4);
    f.takeRun(2, 1, 0); // 0–1
    expect(f.findFreeRun(2)).toBe(2);
    expect(f.findFreeRun(3)).toBe(4); // 2–3 then the boundary: window 1
    expect(f.findFreeRun(4)).toBe(4);
    f.takeRun(1, 1, 10); // next fit: frame 2
    f.takeRun(1, 1, 20); // frame 3
    f.takeRun(1, 1, 30); // frame 4
    expect(f.findFreeRun(3)).toBe(5);
    expect(f.findFreeRun(4)).toBe(-1); // 3 free in window 1, none in window 0
    expect(() => f.findFreeRun(5)).toThrow(/windows of 4 frames/);
    // Only the windows asked for.
    expect(f.findFreeRun(1, (w) => w === 0)).toBe(-1);
    expect(f.findFreeRun(1, (w) => w === 1)).toBe(5);
  });

  it('seek makes the next takeRun start at a run found free', () => {
    const f = new FrameTable(8, 8);
    f.takeRun(8, 1, 0);
    for (const x of [1, 3, 5, 6, 7]) f.release(x);
    const s = f.findFreeRun(3);
    expect(s).toBe(5);
    f.seek(s);
    expect(f.takeRun(3, 2, 0)).toEqual([5, 3]);
    expect(() => f.seek(8)).toThrow(/seek\(8\)/);
  });

  it('cheapestRun counts moves, skips immovable frames and unwanted windows, and prefers pages in place', () => {
    const f = new FrameTable(8, 4);
    f.takeRun(4, 1, 0);
    f.takeRun(4, 1, 4); // every frame owned
    const none = () => 0;
    // Every frame costs 1: the first run wins on ties.
    expect(f.cheapestRun(2, () => 1, none)).toBe(0);
    // Frame 1 immovable: runs holding it are out.
    expect(f.cheapestRun(2, (x) => (x === 1 ? Infinity : 1), none)).toBe(2);
    // Pages already in place at 5–6 save their moves.
    expect(f.cheapestRun(2, () => 1, (s) => (s === 5 ? 2 : 0))).toBe(5);
    // Only window 0 accepted.
    expect(f.cheapestRun(2, () => 1, (s) => (s === 5 ? 2 : 0), (w) => w === 0)).toBe(0);
    // Free frames cost nothing.
    f.release(6);
    f.release(7);
    expect(f.cheapestRun(2, () => 1, none)).toBe(6);
    // No run without an immovable frame.
    expect(f.cheapestRun(4, (x) => (x % 4 === 0 ? Infinity : 1), none)).toBe(-1);
  });

  it('move swaps owners, frees sources nobody moved into, and keeps the counts', () => {
    const f = new FrameTable(8, 4);
    f.takeRun(2, 1, 100); // frames 0–1: space 1 pages 100–101
    f.takeRun(1, 2, 7); // frame 2: space 2 page 7
    // Space 1 page 101 goes to frame 2, space 2's page 7 to frame 1 (a swap), page 100 to the free frame 3.
    f.move([{ from: 1, to: 2 }, { from: 2, to: 1 }, { from: 0, to: 3 }]);
    expect([f.owner[0], f.owner[1], f.page[1], f.owner[2], f.page[2], f.owner[3], f.page[3]]).toEqual([FREE, 2, 7, 1, 101, 1, 100]);
    expect(f.freeCount).toBe(5);
    expect([f.ownedCount(1), f.ownedCount(2)]).toEqual([2, 1]);
    f.checkInvariants();
    expect(() => f.move([{ from: 0, to: 4 }])).toThrow(/frame 0 is free/);
    expect(() => f.move([{ from: 1, to: 2 }])).toThrow(/not free for its new page/);
  });
});
