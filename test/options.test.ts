import { describe, expect, it } from 'vitest';
import {
  checkPageSize, DEFAULT_PREFETCH_BLOCK, DEFAULT_PREFETCH_THRESHOLD, DEFAULT_THRASH_LAPSE_MS, DEFAULT_THRASH_PIN_MS, DEFAULT_THRASH_THRESHOLD,
  MAX_PREFETCH_BLOCK, resolveDensityPrefetch, resolvePoolOptions, resolveThrashing,
} from '../src/options.ts';
import { BadPageSizeError, InvalidArgumentError } from '../src/errors.ts';

const lavapipe = { maxStorageBufferBindingSize: 128 << 20, maxBufferSize: 2 ** 32 - 1, maxStorageBuffersPerShaderStage: 16 };
const MiB = 1 << 20;

describe('page size', () => {
  it('accepts powers of two from 4 KiB to 2 MiB', () => {
    expect(checkPageSize(4096)).toBe(12);
    expect(checkPageSize(65536)).toBe(16);
    expect(checkPageSize(2 * MiB)).toBe(21);
  });
  it('refuses sizes just outside the limits and non-powers of two', () => {
    for (const bad of [2048, 4095, 4097, 3 * 4096, 4 * MiB, 0, -4096, Number.NaN]) {
      expect(() => checkPageSize(bad)).toThrow(BadPageSizeError);
    }
  });
});

describe('resolvePoolOptions', () => {
  it('splits a 512 MiB pool into four 128 MiB windows on lavapipe', () => {
    const r = resolvePoolOptions({ capacity: 512 * MiB }, lavapipe);
    expect([r.windowSize, r.windowCount]).toEqual([128 * MiB, 4]);
    expect(r.pinLimit).toBe(256 * MiB);
  });
  it('uses one window for a small pool, and a default capacity', () => {
    expect(resolvePoolOptions({ capacity: 4 * MiB }, lavapipe).windowCount).toBe(1);
    expect(resolvePoolOptions({}, lavapipe).capacity).toBe(256 * MiB);
    const small = { ...lavapipe, maxStorageBuffersPerShaderStage: 8 };
    expect(resolvePoolOptions({}, small).capacity).toBe(256 * MiB);
  });
  it('refuses a pool needing more windows than the device can bind, naming the numbers', () => {
    expect(() => resolvePoolOptions({ capacity: 14 * 128 * MiB }, lavapipe)).not.toThrow();
    expect(() => resolvePoolOptions({ capacity: 14 * 128 * MiB + 65536 }, lavapipe)).toThrow(/15 windows/);
  });
  it('refuses a capacity that is not a multiple of the page size, unknown options, and a pin limit over capacity', () => {
    expect(() => resolvePoolOptions({ capacity: MiB + 4096 }, lavapipe)).toThrow(InvalidArgumentError);
    expect(() => resolvePoolOptions({ capacity: MiB, pinLimit: 2 * MiB }, lavapipe)).toThrow(/pinLimit/);
    expect(() => resolvePoolOptions({ capcity: MiB } as never, lavapipe)).toThrow(/unknown pool option "capcity"/);
  });
  it('access counters default on; accessCounters and pressure are checked', () => {
    const r = resolvePoolOptions({}, lavapipe);
    expect(r.accessCounters).toBe(true);
    expect(r.pressure).toEqual({ highWater: 0.9, lowWater: 0.75, stormPages: undefined, stormWindowMs: 1000 });
    expect(resolvePoolOptions({ accessCounters: false }, lavapipe).accessCounters).toBe(false);
    expect(() => resolvePoolOptions({ accessCounters: 'no' } as never, lavapipe)).toThrow(/accessCounters must be true or false/);
    expect(resolvePoolOptions({ pressure: { stormPages: 3 } }, lavapipe).pressure.stormPages).toBe(3);
    expect(() => resolvePoolOptions({ pressure: { highWater: 2 } }, lavapipe)).toThrow(/pressure.highWater/);
  });
});

describe('policy options', () => {
  it('density prefetch: defaults, the switch, and the limits on both sides', () => {
    expect(resolveDensityPrefetch(undefined, 4096)).toEqual({ enabled: true, threshold: DEFAULT_PREFETCH_THRESHOLD, blockSize: DEFAULT_PREFETCH_BLOCK, blockPages: 512 });
    expect(resolveDensityPrefetch(false, 65536).enabled).toBe(false);
    expect(resolveDensityPrefetch({ enabled: false }, 65536).blockPages).toBe(32);
    expect(resolveDensityPrefetch({ blockSize: 4096 }, 4096).blockPages).toBe(1);
    expect(() => resolveDensityPrefetch({ blockSize: 2048 }, 4096)).toThrow(/from the page size \(4096\)/);
    expect(resolveDensityPrefetch({ blockSize: MAX_PREFETCH_BLOCK }, 4096).blockPages).toBe(MAX_PREFETCH_BLOCK / 4096);
    expect(() => resolveDensityPrefetch({ blockSize: 2 * MAX_PREFETCH_BLOCK }, 4096)).toThrow(InvalidArgumentError);
    expect(() => resolveDensityPrefetch({ blockSize: 3 * MiB }, 4096)).toThrow(/power of two/);
    expect(resolveDensityPrefetch({ threshold: 0.001 }, 4096).threshold).toBe(0.001);
    expect(resolveDensityPrefetch({ threshold: 0.999 }, 4096).threshold).toBe(0.999);
    for (const bad of [0, 1, -0.5, Number.NaN, '0.5']) expect(() => resolveDensityPrefetch({ threshold: bad as number }, 4096)).toThrow(/between 0 and 1/);
    expect(() => resolveDensityPrefetch({ threshhold: 0.5 } as never, 4096)).toThrow(/unknown densityPrefetch option "threshhold"/);
    expect(() => resolveDensityPrefetch({ enabled: 'yes' as never }, 4096)).toThrow(/true or false/);
  });
  it('thrashing: defaults, the switch, and the limits on both sides', () => {
    expect(resolveThrashing(undefined)).toEqual({
      enabled: true, threshold: DEFAULT_THRASH_THRESHOLD, lapseMs: DEFAULT_THRASH_LAPSE_MS, mitigation: 'pin', pinMs: DEFAULT_THRASH_PIN_MS,
    });
    expect(resolveThrashing(false).enabled).toBe(false);
    expect(resolveThrashing({ threshold: 2 }).threshold).toBe(2);
    expect(resolveThrashing({ threshold: 255 }).threshold).toBe(255);
    for (const bad of [1, 256, 2.5]) expect(() => resolveThrashing({ threshold: bad })).toThrow(/from 2 to 255/);
    expect(resolveThrashing({ lapseMs: 0.5, pinMs: 1 })).toMatchObject({ lapseMs: 0.5, pinMs: 1 });
    for (const bad of [0, -1, Infinity]) {
      expect(() => resolveThrashing({ lapseMs: bad })).toThrow(/lapseMs must be a positive number/);
      expect(() => resolveThrashing({ pinMs: bad })).toThrow(/pinMs must be a positive number/);
    }
    expect(resolveThrashing({ mitigation: 'none' }).mitigation).toBe('none');
    expect(() => resolveThrashing({ mitigation: 'throttle' as never })).toThrow(/'pin' or 'none'/);
    expect(() => resolveThrashing({ lapse: 5 } as never)).toThrow(/unknown thrashing option "lapse"/);
  });
});
