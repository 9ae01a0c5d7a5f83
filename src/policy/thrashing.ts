// Thrashing detection: UVM's perf_thrashing. A page thrashes when its data
// is handed back and forth between host and device: `threshold` (3)
// hand-overs within `lapseMs`. A hand-over is a migration driven by an access
// from the side that did not have the page last:
//
//   device side   an upload or clear for a dispatch (causes 'declared', 'demand')
//   host side     a write-back for a host read or partial write (cause 'explicit'),
//                 and a device copy dropped because the host wrote the page
//                 (an invalidation: UVM's revocation)
//
// Everything else is ignored: evictions and the re-faults after them are
// capacity misses, not ping-pong (UVM too counts only fault-driven
// migrations), and prefetches, pins, snapshots and restores are the runtime's
// or the user's own doing. Two migrations from the same side in a row (a page
// evicted and faulted in again) are not a hand-over either.
//
// Decision: the pages found, with the mitigation — 'pin': the hub keeps them
// on the device for `pinMs` (evicted only as a last resort, host writes
// written through instead of dropping the copy), after which they are
// ordinary pages again and detection starts over; 'none': only reported.
// While a page is held, detection of it is suspended (the mitigation itself
// changes how it moves). Throttling (UVM's other mitigation: make the faulting
// side wait so the other can use the page) is not offered: host operations
// and dispatches here are issued by one program in order, so delaying one
// only delays it — no other accessor gains from the wait.
//
// State, per page: last side (u8), hand-overs in the current lapse (u8) and
// when the lapse began (f32 milliseconds since the policy's first note: exact
// to the millisecond for 4.6 hours, to 2 ms for the next 4.6): 6 bytes a
// page, allocated when the policy is.

import { PageArray } from '../space/page-array.ts';
import type { ResolvedThrashing } from '../options.ts';
import type { InvalidationNote, MigrationNote, Policy, PolicyView, Side, ThrashDecision } from './policy.ts';

const NONE = 0;
const DEVICE = 1;
const HOST = 2;

/** Which side a migration was driven by, or undefined when it is not a hand-over at all. */
export function sideOf(direction: 'to-device' | 'to-host', cause: string): Side | undefined {
  if (direction === 'to-device') return cause === 'declared' || cause === 'demand' ? 'device' : undefined;
  return cause === 'explicit' ? 'host' : undefined;
}

class Thrashing implements Policy {
  readonly name = 'thrashing';
  readonly #o: ResolvedThrashing;
  // Per page, made where pages were handed over (src/space/page-array.ts): 6 bytes a page touched.
  readonly #side: PageArray;
  readonly #count: PageArray;
  readonly #since: PageArray;
  /** The clock time the offsets in #since count from. */
  #epoch: number | undefined;

  constructor(pageCount: number, o: ResolvedThrashing) {
    this.#o = o;
    this.#side = new PageArray(Uint8Array, pageCount);
    this.#count = new PageArray(Uint8Array, pageCount);
    this.#since = new PageArray(Float32Array, pageCount);
  }

  onMigration(note: MigrationNote, view: PolicyView): ThrashDecision | undefined {
    const side = sideOf(note.direction, note.cause);
    return side === undefined ? undefined : this.#handOver(side === 'device' ? DEVICE : HOST, note.pages, note.now, view);
  }

  onInvalidation(note: InvalidationNote, view: PolicyView): ThrashDecision | undefined {
    return this.#handOver(HOST, note.pages, note.now, view);
  }

  onForget(first: number, end: number): void {
    this.#side.clear(first, end); // NONE is 0
    this.#count.clear(first, end);
    this.#since.clear(first, end);
  }

  #handOver(side: number, pages: ArrayLike<number>, clock: number, view: PolicyView): ThrashDecision | undefined {
    const { threshold, lapseMs } = this.#o;
    const now = clock - (this.#epoch ??= clock);
    let found: number[] | undefined;
    let most = 0;
    for (let i = 0; i < pages.length; i++) {
      const p = pages[i]!;
      if (this.#side.get(p) === side || view.held(p)) continue;
      this.#side.set(p, side);
      let c = this.#count.get(p);
      if (c === 0 || now - this.#since.get(p) > lapseMs) {
        this.#since.set(p, now);
        c = 1;
      } else {
        c = Math.min(c + 1, 255);
      }
      this.#count.set(p, c);
      if (c < threshold) continue;
      (found ??= []).push(p);
      most = Math.max(most, c);
      this.#count.set(p, 0); // found once per `threshold` hand-overs; after a hold expires it starts over
    }
    if (!found) return undefined;
    found.sort((a, b) => a - b);
    const pin = this.#o.mitigation === 'pin';
    return { pages: found, migrations: most, lapseMs, mitigation: this.#o.mitigation, pinMs: pin ? this.#o.pinMs : 0 };
  }
}

/** The thrashing policy for a space of `pageCount` pages (the hub creates it only when enabled). */
export function createThrashing(pageCount: number, options: ResolvedThrashing): Policy {
  return new Thrashing(pageCount, options);
}
