// The interval notifier: the runtime's `mmu_interval_notifier`. Every host
// write to an address space goes through `invalidate()` before its bytes land.
// Subscribers (the migration engine's in-flight batches, dispatch preparation,
// users) each watch one interval and carry a sequence number that is odd while
// an invalidation of that interval runs and advances by two per invalidation.
//
// Async work that read state it must not act on if a host write intervened
// follows the retry protocol of `mmu_interval_read_begin/read_retry`:
//
//   migration / dispatch prep                host (JS)
//   ─────────────────────────                ─────────
//   seq = sub.readBegin()        (even)
//   collect pages, allocate,
//   copy host→staging …
//   await GPU / mapAsync ─────────────────▶  write(addr, bytes)
//                                              notifier.invalidate(range)
//                                                seq += 1 (odd)
//                                                callbacks: drop device copies,
//                                                  batches mark pages stale
//                                                seq += 1 (even)
//                                              bytes land in host memory
//   ◀───────────────────────────────────────
//   if sub.readRetry(seq): start over          (seq moved: what we copied is stale)
//   else: program the device (sync, no await between the check and the submit)
//
// The bug class HMM documents — a sequence number not refreshed across retries —
// cannot happen here: `readBegin()` is the only way to get a number, and every
// retry loop calls it at the top of the loop.
//
// Host writes are synchronous from invalidate() to the end of the copy, so
// in JavaScript no other task ever observes an odd number; `readBegin()` still
// refuses one (an invalidation callback that starts async work would see it).

import { assert, fail } from '../assert.ts';

/** What a subscription's callback hears: the part of a host write that falls in its interval. */
export interface InvalidationEvent {
  /** First byte address invalidated. */
  readonly start: number;
  /** One past the last byte address invalidated. */
  readonly end: number;
  /** The subscription's sequence number during this invalidation (odd). */
  readonly seq: number;
}

/** Called synchronously during a host write to the subscribed interval, before the bytes land. */
export type InvalidateCallback = (event: InvalidationEvent) => void;

/**
 * A watch on `[start, end)` of a space, from `space.subscribe()`: its sequence number
 * advances by two per host write to the interval, so async work can detect that
 * what it read went stale (`readBegin()` … `readRetry(seq)`), as Linux HMM's interval notifier.
 *
 * @example
 * ```ts
 * const sub = space.subscribe(a, 4096);
 * let bytes: Uint8Array;
 * do {
 *   const seq = sub.readBegin();
 *   bytes = await space.read(a, 4096);
 *   if (!sub.readRetry(seq)) break; // no host write to the interval meanwhile
 * } while (true);
 * sub.remove();
 * ```
 */
export interface IntervalSubscription {
  /** First byte address of the interval. */
  readonly start: number;
  /** One past the last byte address of the interval. */
  readonly end: number;
  /** The current sequence number; odd while an invalidation is running. */
  readonly seq: number;
  /** Begin a read-side critical section: returns the (even) sequence number to pass to readRetry. */
  readBegin(): number;
  /** True when an invalidation of this interval happened since `readBegin()` returned `seq`. */
  readRetry(seq: number): boolean;
  /** Stop receiving invalidations. Idempotent. */
  remove(): void;
}

class Subscription implements IntervalSubscription {
  readonly start: number;
  readonly end: number;
  seq = 0;
  removed = false;
  readonly callback: InvalidateCallback | undefined;
  readonly #owner: IntervalNotifier;

  constructor(owner: IntervalNotifier, start: number, end: number, callback: InvalidateCallback | undefined) {
    this.#owner = owner;
    this.start = start;
    this.end = end;
    this.callback = callback;
  }

  readBegin(): number {
    assert((this.seq & 1) === 0, 'readBegin() during an invalidation of the same interval');
    return this.seq;
  }

  readRetry(seq: number): boolean {
    return this.seq !== seq;
  }

  remove(): void {
    if (this.removed) return;
    this.removed = true;
    this.#owner.detach(this);
  }
}

export class IntervalNotifier {
  #subs: Subscription[] = [];
  #invalidating = false;
  /** Invalidations delivered, all subscribers together (for stats). */
  invalidations = 0;

  /** An invalidation is running (its callbacks or its `apply`). */
  get busy(): boolean {
    return this.#invalidating;
  }

  get subscriberCount(): number {
    return this.#subs.length;
  }

  subscribe(start: number, end: number, callback?: InvalidateCallback): IntervalSubscription {
    if (!(start <= end)) fail(`subscribe: start ${start} > end ${end}`);
    const sub = new Subscription(this, start, end, callback);
    this.#subs.push(sub);
    return sub;
  }

  /** @internal Called by Subscription.remove(). */
  detach(sub: Subscription): void {
    const i = this.#subs.indexOf(sub);
    if (i >= 0) this.#subs.splice(i, 1);
  }

  /**
   * Invalidate [start, end): bump every overlapping subscription to odd, run
   * its callback, run `apply` (the state change: drop device copies, copy the
   * host bytes in), then bump to even. Callbacks must not throw; one that does
   * is a bug in the subscriber and is rethrown after every subscription has
   * been made even again, so no interval stays "invalidating" forever.
   */
  invalidate(start: number, end: number, apply: () => void): void {
    assert(!this.#invalidating, 'nested invalidation');
    if (start >= end) {
      apply();
      return;
    }
    this.#invalidating = true;
    const hit = this.#subs.filter((s) => s.start < end && start < s.end);
    let failure: unknown;
    try {
      for (const s of hit) {
        s.seq++;
        this.invalidations++;
        if (s.callback) {
          try {
            s.callback({ start: Math.max(start, s.start), end: Math.min(end, s.end), seq: s.seq });
          } catch (e) {
            failure ??= e;
          }
        }
      }
      apply();
    } finally {
      for (const s of hit) s.seq++;
      this.#invalidating = false;
    }
    if (failure !== undefined) throw failure;
  }
}
