import { describe, expect, it } from 'vitest';
import { FREE, FrameTable } from '../../src/device/frames.ts';

describe('FrameTable', () => {
  it('hands out runs that never cross a window', () => {
    const f = new FrameTable(8, 4);
    expect(f.takeRun(3, 1, 0)).toEqual([0, 3]);
    expect(f.takeRun(3, 1, 3)).toEqual([3, 1]); // frame 3 ends window 0
    expect(f.takeRun(10, 1, 4)).toEqual([4, 4]);
    expect(f.freeCount).toBe(0);
    expect(f.takeRun(1, 1, 9)).toEqual([0, 0]);
    f.checkInvariants();
  });

  it('records owners and pages, and releases back to free', () => {
    const f = new FrameTable(4, 4);
    f.takeRun(2, 7, 100);
    expect([f.owner[0], f.page[0], f.owner[1], f.page[1]]).toEqual([7, 100, 7, 101]);
    f.release(0);
    expect(f.owner[0]).toBe(FREE);
    expect(f.freeCount).toBe(3);
    expect(() => f.release(0)).toThrow(/already free/);
    f.reassign(1, 8, 5);
    expect([f.owner[1], f.page[1]]).toEqual([8, 5]);
    f.checkInvariants();
  });

  it('wraps its next-fit cursor to reuse freed frames', () => {
    const f = new FrameTable(4, 4);
    f.takeRun(4, 1, 0);
    f.release(1);
    expect(f.takeRun(2, 1, 10)).toEqual([1, 1]);
  });

  it('truncate retires a free tail (a window given back): frames, free count, cursor and hand stay inside', () => {
    const f = new FrameTable(8, 4);
    f.takeRun(2, 1, 0);
    f.takeRun(4, 1, 2); // frames 2–3 (window 0 ends at 4)… then 4–7 below
    f.takeRun(4, 1, 4);
    f.release(4);
    f.release(5);
    f.release(6);
    expect(() => f.truncate(4)).toThrow(/frame 7 is in use/);
    f.release(7);
    f.hand = 6;
    f.truncate(4);
    expect([f.frameCount, f.freeCount, f.hand]).toEqual([4, 0, 0]);
    f.checkInvariants();
    f.release(1);
    expect(f.takeRun(4, 2, 0)).toEqual([1, 1]); // never a retired frame
    expect(f.takeRun(1, 2, 0)).toEqual([0, 0]);
    expect(() => f.truncate(0)).toThrow(/truncate\(0\)/);
    expect(() => f.truncate(5)).toThrow(/truncate\(5\)/);
  });
});
