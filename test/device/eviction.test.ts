import { describe, expect, it } from 'vitest';
import { FrameTable } from '../../src/device/frames.ts';
import { chooseVictims, chooseVictimsInTiers, countEvictable } from '../../src/device/eviction.ts';

function table(n: number): FrameTable {
  const f = new FrameTable(n, n);
  f.takeRun(n, 1, 0); // page i in frame i, all referenced
  return f;
}

describe('chooseVictims (CLOCK)', () => {
  const all = { evictable: () => true, dirty: () => false };

  it('gives referenced frames a second chance', () => {
    const f = table(4);
    for (let i = 0; i < f.frameCount; i++) f.unreference(i);
    f.reference(0);
    expect(chooseVictims(f, 1, all)).toEqual([1]);
    expect(f.referenced[0]).toBe(0); // the hand passed it and cleared its bit
  });

  it('finds every evictable frame even when all are referenced', () => {
    const f = table(4);
    expect(chooseVictims(f, 4, all).sort()).toEqual([0, 1, 2, 3]);
  });

  it('never picks pinned or locked pages, and reports how many could be evicted', () => {
    const f = table(4);
    const q = { evictable: (_s: number, p: number) => p !== 1 && p !== 2, dirty: () => false };
    expect(chooseVictims(f, 4, q).sort()).toEqual([0, 3]);
    expect(countEvictable(f, q)).toBe(2);
  });

  it('prefers clean pages over dirty ones within a sweep', () => {
    const f = table(4);
    for (let i = 0; i < f.frameCount; i++) f.unreference(i);
    const q = { evictable: () => true, dirty: (_s: number, p: number) => p < 2 };
    expect(chooseVictims(f, 2, q).sort()).toEqual([2, 3]);
    // Choosing changes nothing but reference bits: asked for all four, clean come first, then dirty.
    const g = table(4);
    for (let i = 0; i < g.frameCount; i++) g.unreference(i);
    expect(chooseVictims(g, 4, q)).toEqual([2, 3, 0, 1]);
  });

  it('takes tier 0 before tier 1, and tier 2 only when the others cannot give enough', () => {
    const tiers = [1, 2, 0, 1, 2, 0]; // frame i holds page i
    const q = { evictable: () => true, dirty: () => false, tier: (_s: number, p: number) => tiers[p]! };
    expect(chooseVictims(table(6), 2, q).sort()).toEqual([2, 5]);
    expect(chooseVictims(table(6), 3, q).slice(0, 2).sort()).toEqual([2, 5]);
    expect(chooseVictims(table(6), 4, q).sort()).toEqual([0, 2, 3, 5]);
    // Last resort: still evictable, so asking for everything gets everything.
    expect(chooseVictims(table(6), 6, q).sort()).toEqual([0, 1, 2, 3, 4, 5]);
    const five = chooseVictims(table(6), 5, q);
    expect(five.slice(0, 4).sort()).toEqual([0, 2, 3, 5]);
    expect([1, 4]).toContain(five[4]);
    // Within a tier it is still CLOCK: a referenced tier-0 frame loses its bit before an unreferenced one goes.
    const f = table(6);
    for (let i = 0; i < f.frameCount; i++) f.unreference(i);
    f.reference(2);
    expect(chooseVictims(f, 1, q)).toEqual([5]);
    expect(f.referenced[2]).toBe(0);
  });

  it('with every frame in one tier, tiers change nothing', () => {
    const plain = { evictable: () => true, dirty: (_s: number, p: number) => p < 2 };
    const tiered = { ...plain, tier: () => 1 };
    for (const want of [1, 2, 3, 4]) {
      const a = table(4);
      const b = table(4);
      for (let i = 0; i < a.frameCount; i++) a.unreference(i);
      for (let i = 0; i < b.frameCount; i++) b.unreference(i);
      expect(chooseVictims(a, want, tiered)).toEqual(chooseVictims(b, want, plain));
    }
  });

  it('asks for nothing when nothing is wanted, and skips free frames', () => {
    const f = new FrameTable(4, 4);
    expect(chooseVictims(f, 0, all)).toEqual([]);
    expect(chooseVictims(f, 2, all)).toEqual([]);
  });

  it('two choices for one request share what they took: no frame twice', () => {
    const f = table(4);
    for (let i = 0; i < f.frameCount; i++) f.unreference(i);
    const chosen = new Uint8Array(4);
    const first = chooseVictims(f, 2, all, chosen);
    const second = chooseVictims(f, 4, all, chosen);
    expect([...first, ...second].sort()).toEqual([0, 1, 2, 3]);
  });

  it('asks the group predicate with what this call has taken so far', () => {
    const f = table(4);
    const seen: number[] = [];
    // At most one frame from any space: every frame here belongs to space 1.
    const q = { ...all, eligible: (_s: number, taken: ReadonlyMap<number, number>) => (seen.push(taken.get(1) ?? 0), (taken.get(1) ?? 0) < 1) };
    expect(chooseVictims(f, 4, q)).toHaveLength(1);
    expect(seen[0]).toBe(0);
    expect(Math.max(...seen)).toBe(1);
    expect(countEvictable(f, q)).toBe(1);
  });

  it('tells `took` of every choice before asking `eligible` again; countEvictable tells it nothing', () => {
    const f = table(4);
    for (let i = 0; i < f.frameCount; i++) f.unreference(i);
    const log: string[] = [];
    let left = 2; // a predicate with its own count, as a reclaim plan keeps
    const q = {
      ...all,
      eligible: () => (log.push('ask'), left > 0),
      took: (s: number, p: number) => (log.push(`took ${s}:${p}`), left--),
    };
    expect(chooseVictims(f, 4, q)).toEqual([0, 1]);
    expect(log.slice(0, 4)).toEqual(['ask', 'took 1:0', 'ask', 'took 1:1']);
    expect(log.filter((e) => e.startsWith('took'))).toHaveLength(2);
    log.length = 0;
    left = 4;
    expect(countEvictable(f, q)).toBe(4);
    expect(log.every((e) => e === 'ask')).toBe(true);
  });

  it('chooseVictimsInTiers: group tiers major, advice tiers minor, one `chosen` for all', () => {
    const f = table(6);
    for (let i = 0; i < f.frameCount; i++) f.unreference(i);
    // Group tier 0 admits pages 3..5, group tier 1 admits everything; advice: page 5 last resort, page 4 first.
    const advice = (_s: number, p: number): number => (p === 5 ? 2 : p === 4 ? 0 : 1);
    const g0 = { ...all, tier: advice, eligible: (_s: number) => true, evictable: (_s: number, p: number) => p >= 3 };
    const g1 = { ...all, tier: advice };
    expect(chooseVictimsInTiers(f, 2, [g0, g1])).toEqual([4, 3]);
    const chosen = new Uint8Array(6);
    const v = chooseVictimsInTiers(f, 5, [g0, g1], chosen);
    expect(v.slice(0, 3)).toEqual([4, 3, 5]); // all of tier 0 first (its own advice order), then tier 1
    expect(new Set(v).size).toBe(5);
    expect(v.slice(3).every((x) => x < 3)).toBe(true);
    expect(chooseVictimsInTiers(f, 3, [g0, g1], chosen)).toEqual([v.includes(0) ? (v.includes(1) ? 2 : 1) : 0]);
    expect(chooseVictimsInTiers(f, 0, [g0, g1])).toEqual([]);
  });
});

