// Lifetimes and cancellation, the platform's way: the disposal symbols that
// `using` / `await using` look up, and an AbortSignal's path through one
// operation.
//
// Disposal symbols. Symbol.dispose and Symbol.asyncDispose exist in Node 20
// (18.18+) and in current browsers; where they do not, the runtime keys its
// disposers as esbuild's `using` helper looks them up (Symbol.for('Symbol.dispose')),
// so code compiled by esbuild or Vite still disposes our objects there. The
// values are computed once, without touching the global Symbol (the package
// has no side effects).
//
// Cancellation. An operation given a signal goes through three phases:
//
//   waiting    its turn has not come (the space's chain, earlier dispatches,
//              compiling, the pool lock): an abort rejects the caller at once;
//              the operation keeps its place in issue order and does nothing
//              when its turn comes (a check point throws first), so nothing
//              issued after it is reordered.
//   running    begin() was called: it has started to change things (taken the
//              pool lock, run a pass). An abort is seen at its next check point,
//              where it undoes what must be undone and rejects.
//   past it    its last check point is behind it: it completes, the abort too
//              late (as fetch resolves once the response is complete).
//
// The rejection is the signal's reason, as fetch does: a DOMException named
// 'AbortError' for controller.abort(), or whatever reason abort(reason) gave.

import { InvalidArgumentError } from './errors.ts';

/** Symbol.dispose, or the key esbuild's `using` helper falls back to where it does not exist. */
export const DISPOSE: typeof Symbol.dispose = (Symbol.dispose ?? Symbol.for('Symbol.dispose')) as typeof Symbol.dispose;
/** Symbol.asyncDispose, or the key esbuild's `await using` helper falls back to where it does not exist. */
export const ASYNC_DISPOSE: typeof Symbol.asyncDispose = (Symbol.asyncDispose ?? Symbol.for('Symbol.asyncDispose')) as typeof Symbol.asyncDispose;

/** An AbortSignal, by its interface (signals from another realm — an iframe, a test environment — are signals too). */
function isSignal(v: unknown): v is AbortSignal {
  if (typeof AbortSignal !== 'undefined' && v instanceof AbortSignal) return true;
  if (typeof v !== 'object' || v === null) return false;
  const s = v as Partial<AbortSignal>;
  return typeof s.aborted === 'boolean' && typeof s.addEventListener === 'function' && typeof s.removeEventListener === 'function';
}

/** One operation's abort signal, through the phases drawn at the top of this file. */
export class Cancellation {
  #begun = false;
  readonly signal: AbortSignal;

  constructor(signal: AbortSignal) {
    this.signal = signal;
  }

  get aborted(): boolean {
    return this.signal.aborted;
  }

  /** A check point: if the signal has aborted, throw its reason (the caller undoes what it must first). */
  check(): void {
    if (this.signal.aborted) throw this.signal.reason;
  }

  /** The operation starts to change things: from now on an abort is seen only at its check points. */
  begin(): void {
    this.#begun = true;
  }

  /**
   * The caller's promise: settles as `p` does, or rejects with the signal's
   * reason as soon as it aborts while the operation is still waiting.
   */
  guard<T>(p: Promise<T>): Promise<T> {
    const signal = this.signal;
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        if (!this.#begun) reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }
}

/**
 * The `signal` option of `what`, checked: undefined when none was given, a
 * typed error for anything that is not an AbortSignal.
 */
export function cancellation(signal: unknown, what: string): Cancellation | undefined {
  if (signal === undefined) return undefined;
  if (!isSignal(signal)) {
    throw new InvalidArgumentError(`${what}: signal must be an AbortSignal (from new AbortController().signal or AbortSignal.timeout(ms)), got ${signal === null ? 'null' : typeof signal}`);
  }
  return new Cancellation(signal);
}
