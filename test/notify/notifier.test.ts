import { describe, expect, it } from 'vitest';
import { IntervalNotifier } from '../../src/notify/notifier.ts';

describe('IntervalNotifier', () => {
  it('runs callbacks with an odd sequence number, and leaves it even, two higher', () => {
    const n = new IntervalNotifier();
    const seen: number[] = [];
    const sub = n.subscribe(100, 200, (ev) => {
      seen.push(ev.seq, sub.seq);
      expect([ev.start, ev.end]).toEqual([150, 200]);
    });
    const s0 = sub.readBegin();
    let applied = false;
    n.invalidate(150, 300, () => {
      applied = true;
      expect(sub.seq % 2).toBe(1); // the change is applied while the interval is invalidating
    });
    expect(applied).toBe(true);
    expect(seen).toEqual([1, 1]);
    expect(sub.seq).toBe(2);
    expect(sub.readRetry(s0)).toBe(true);
    expect(sub.readRetry(sub.readBegin())).toBe(false);
  });

  it('leaves intervals that do not overlap alone (half-open ranges)', () => {
    const n = new IntervalNotifier();
    const a = n.subscribe(0, 100);
    const b = n.subscribe(100, 200);
    const sa = a.readBegin();
    const sb = b.readBegin();
    n.invalidate(100, 101, () => {});
    expect(a.readRetry(sa)).toBe(false);
    expect(b.readRetry(sb)).toBe(true);
  });

  it('stops notifying a removed subscription; remove is idempotent', () => {
    const n = new IntervalNotifier();
    let calls = 0;
    const s = n.subscribe(0, 10, () => calls++);
    s.remove();
    s.remove();
    n.invalidate(0, 10, () => {});
    expect(calls).toBe(0);
    expect(n.subscriberCount).toBe(0);
  });

  it('makes every interval even again when a callback throws, and rethrows', () => {
    const n = new IntervalNotifier();
    const a = n.subscribe(0, 10, () => {
      throw new Error('subscriber bug');
    });
    const b = n.subscribe(0, 10);
    expect(() => n.invalidate(0, 10, () => {})).toThrow('subscriber bug');
    expect(a.seq % 2).toBe(0);
    expect(b.seq % 2).toBe(0);
    expect(() => a.readBegin()).not.toThrow();
  });

  it('refuses a nested invalidation (an internal bug)', () => {
    const n = new IntervalNotifier();
    n.subscribe(0, 10);
    expect(() => n.invalidate(0, 10, () => n.invalidate(0, 10, () => {}))).toThrow(/nested/);
  });
});
