// Lifetimes and cancellation without a GPU (src/lifetime.ts): the disposal
// symbols `using` looks up, and an AbortSignal's phases — waiting (the caller
// is told at once), begun (only check points stop it), the reason given.

import { describe, expect, it } from 'vitest';
import { ASYNC_DISPOSE, Cancellation, cancellation, DISPOSE } from '../src/lifetime.ts';
import { InvalidArgumentError } from '../src/index.ts';

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

describe('cancellation', () => {
  it('is undefined without a signal, and refuses what is not an AbortSignal with a typed error', () => {
    expect(cancellation(undefined, 'read')).toBeUndefined();
    for (const bad of [null, 1, 'abort', {}, { aborted: 'no' }, () => undefined]) {
      expect(() => cancellation(bad, 'read')).toThrow(InvalidArgumentError);
    }
    expect(() => cancellation({}, 'read')).toThrow(/read: signal must be an AbortSignal/);
    expect(cancellation(new AbortController().signal, 'read')).toBeInstanceOf(Cancellation);
    expect(cancellation(AbortSignal.timeout(1000), 'read')).toBeInstanceOf(Cancellation);
  });

  it('a check point throws the standard AbortError, or the reason abort() was given (as fetch rejects)', () => {
    const ac = new AbortController();
    const c = cancellation(ac.signal, 'x')!;
    expect(() => c.check()).not.toThrow();
    ac.abort();
    let err: unknown;
    try {
      c.check();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DOMException);
    expect((err as DOMException).name).toBe('AbortError');
    const ac2 = new AbortController();
    const reason = new Error('user left the page');
    ac2.abort(reason);
    expect(() => cancellation(ac2.signal, 'x')!.check()).toThrow(reason);
  });

  it('while waiting, the caller is rejected at once; once begun, only the operation says when it stopped', async () => {
    const ac = new AbortController();
    const waiting = cancellation(ac.signal, 'x')!;
    const never = new Promise<number>(() => undefined);
    const p = waiting.guard(never);
    ac.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });

    const ac2 = new AbortController();
    const begun = cancellation(ac2.signal, 'x')!;
    let finish!: (v: number) => void;
    const op = new Promise<number>((r) => (finish = r));
    const q = begun.guard(op);
    begun.begin();
    ac2.abort();
    let settled = false;
    void q.then(() => (settled = true), () => (settled = true));
    await new Promise((r) => setTimeout(r, 5));
    expect(settled).toBe(false); // the operation has not reached a check point yet
    finish(7); // …and it completed: the abort came too late
    await expect(q).resolves.toBe(7);
  });

  it('the guard passes the operation\'s own result and error through, and lets go of the signal', async () => {
    const ac = new AbortController();
    const c = cancellation(ac.signal, 'x')!;
    await expect(c.guard(Promise.resolve(3))).resolves.toBe(3);
    await expect(c.guard(Promise.reject(new RangeError('no')))).rejects.toThrow(RangeError);
    ac.abort(); // no listener left to reject anything
  });
});
