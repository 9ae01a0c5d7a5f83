import { describe, expect, it } from 'vitest';
import { ptrFromWords, ptrWords } from '../../src/layout/ptr.ts';
import { InvalidArgumentError } from '../../src/errors.ts';

describe('ptrWords / ptrFromWords', () => {
  it('split an address into the low and high words a VmPtr holds, and join them back exactly', () => {
    for (const a of [0, 4, 2 ** 32 - 4, 2 ** 32, 2 ** 32 + 4, 40 * 2 ** 30 + 0x1234, 2 ** 40 - 4, 2 ** 53 - 1]) {
      const [lo, hi] = ptrWords(a);
      expect(lo).toBe(a % 2 ** 32);
      expect(hi).toBe(Math.floor(a / 2 ** 32));
      expect(ptrFromWords(lo, hi)).toBe(a);
    }
  });

  it('refuse what is not an address', () => {
    for (const bad of [-1, 1.5, 2 ** 53, Number.NaN, '4' as unknown as number]) expect(() => ptrWords(bad)).toThrow(InvalidArgumentError);
  });
});
