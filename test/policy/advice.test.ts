// Advice (src/policy/advice.ts): parsing with loud errors, and the decisions
// the mechanisms take from the bits — eviction tier, write-through on host
// writes, density prefetch, prefetch to host.

import { describe, expect, it } from 'vitest';
import {
  adviceBits, adviceOf, evictionTier, holdAllowed, keepOnPrefetchToHost, prefetchAllowed, Tier, writeThroughOnHostWrite,
} from '../../src/policy/advice.ts';
import { ADVICE_MASK, PageFlag } from '../../src/space/page-table.ts';
import { InvalidArgumentError } from '../../src/errors.ts';

const apply = (flags: number, advice: unknown) => {
  const { set, clear } = adviceBits(advice);
  return (flags & ~clear) | set;
};

describe('advice', () => {
  it('sets and clears only the bits of the keys given, and reads back', () => {
    let f: number = PageFlag.Locked; // other bits are never touched
    f = apply(f, { readMostly: true, preferredLocation: 'device' });
    expect(adviceOf(f)).toEqual({ readMostly: true, preferredLocation: 'device', accessedBy: 'none' });
    f = apply(f, { preferredLocation: 'host' });
    expect(adviceOf(f)).toEqual({ readMostly: true, preferredLocation: 'host', accessedBy: 'none' });
    f = apply(f, { accessedBy: 'device', readMostly: false });
    expect(adviceOf(f)).toEqual({ readMostly: false, preferredLocation: 'host', accessedBy: 'device' });
    f = apply(f, { preferredLocation: 'none', accessedBy: 'none' });
    expect(adviceOf(f)).toEqual({ readMostly: false, preferredLocation: 'none', accessedBy: 'none' });
    expect(f).toBe(PageFlag.Locked);
    expect(ADVICE_MASK & (PageFlag.Locked | PageFlag.InFlight)).toBe(0);
  });

  it('refuses what is not advice, naming the fix', () => {
    for (const bad of [undefined, null, 3, {}, { readMostly: 1 }, { preferredLocation: 'gpu' }, { accessedBy: 'host' }, { readmostly: true }]) {
      expect(() => adviceBits(bad)).toThrow(InvalidArgumentError);
    }
    expect(() => adviceBits({ preferredLocation: 'gpu' })).toThrow(/'host', 'device' or 'none'/);
    expect(() => adviceBits({ readmostly: true })).toThrow(/unknown advice "readmostly"/);
    expect(() => adviceBits({})).toThrow(/no advice given/);
  });

  it('eviction tiers: preferred host first, preferred device or held last, the rest between', () => {
    expect(evictionTier(0, false)).toBe(Tier.Normal);
    expect(evictionTier(PageFlag.PreferHost, false)).toBe(Tier.First);
    expect(evictionTier(PageFlag.PreferHost, true)).toBe(Tier.First);
    expect(evictionTier(PageFlag.PreferDevice, false)).toBe(Tier.LastResort);
    expect(evictionTier(0, true)).toBe(Tier.LastResort);
    expect(evictionTier(PageFlag.ReadMostly | PageFlag.AccessedByDevice, false)).toBe(Tier.Normal);
  });

  it('host writes keep the device copy for preferred-device, accessed-by-device and held pages, never for read-mostly or preferred-host ones', () => {
    expect(writeThroughOnHostWrite(0, false)).toBe(false);
    expect(writeThroughOnHostWrite(PageFlag.PreferDevice, false)).toBe(true);
    expect(writeThroughOnHostWrite(PageFlag.AccessedByDevice, false)).toBe(true);
    expect(writeThroughOnHostWrite(0, true)).toBe(true);
    expect(writeThroughOnHostWrite(PageFlag.ReadMostly | PageFlag.PreferDevice, true)).toBe(false);
    expect(writeThroughOnHostWrite(PageFlag.PreferHost | PageFlag.AccessedByDevice, true)).toBe(false);
  });

  it('preferred host pages are never prefetched unasked nor held; read-mostly pages keep their copy on prefetch to host', () => {
    expect(prefetchAllowed(0)).toBe(true);
    expect(prefetchAllowed(PageFlag.PreferHost)).toBe(false);
    expect(holdAllowed(PageFlag.PreferDevice)).toBe(true);
    expect(holdAllowed(PageFlag.PreferHost)).toBe(false);
    expect(keepOnPrefetchToHost(PageFlag.ReadMostly)).toBe(true);
    expect(keepOnPrefetchToHost(PageFlag.PreferDevice | PageFlag.AccessedByDevice)).toBe(false);
  });
});
