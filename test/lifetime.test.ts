// Lifetimes without a GPU (src/lifetime.ts): the disposal symbols `using` looks up.

import { describe, expect, it } from 'vitest';
import { ASYNC_DISPOSE, DISPOSE } from '../src/lifetime.ts';

describe('disposal symbols', () => {
  it('are the platform symbols where they exist, so `using` and `await using` find our disposers', async () => {
    expect(DISPOSE).toBe(Symbol.dispose);
    expect(ASYNC_DISPOSE).toBe(Symbol.asyncDispose);
    const log: string[] = [];
    {
      using a = { [DISPOSE]: () => void log.push('a') };
      await using b = { [ASYNC_DISPOSE]: async () => void log.push('b') };
      void a;
      void b;
    }
    expect(log).toEqual(['b', 'a']);
  });
});
