// Memory pressure: a policy fed by the pool's event stream that tells the app
// when device memory is getting tight, so it can shed work, free allocations
// or shrink its working set before the runtime starts moving pages to and fro.
// It reads the pool's usage through the functions it is given and returns the
// pressure events to emit; it changes no runtime state (only its own memory of
// what it has reported).
//
//   high-water      device bytes in use reach `highWater` × capacity: 'begin';
//                   they fall to `lowWater` × capacity or below: 'end'. The gap
//                   is the hysteresis. The same for each memory group with its
//                   max as the limit (`group` names it).
//   eviction-storm  more than `stormPages` pages evicted within `stormWindowMs`:
//                   the working set is cycling through the pool. Reported once
//                   per window at most.
//   thrashing       forwarded from the thrashing detector's 'thrashing' event
//                   (src/policy/, issue 7 items 1–4), so that one subscription
//                   hears every kind of pressure.
//
// It is evaluated when an event passes, and hears events only while someone
// listens (EventBus.observe): usage that changes with no event (a space
// destroyed) is seen at the next event.

import type { HmmEvent, PressureEvent } from '../events.ts';

export interface PressureSettings {
  readonly highWater: number;
  readonly lowWater: number;
  readonly stormPages: number;
  readonly stormWindowMs: number;
}

/** What the monitor reads: the pool's usage now. */
export interface PressureInputs {
  readonly pageSize: number;
  readonly capacityFrames: number;
  usedFrames(): number;
  /** Groups with a max of their own (not the root), each with an object that stays the same from call to call. */
  groups(): Iterable<{ readonly key: object; readonly label: string; readonly maxFrames: number; readonly usedFrames: number }>;
}

export interface PressureMonitor {
  /** The pressure events that `event` reveals (none for a pressure event). */
  hear(event: HmmEvent): PressureEvent[];
}

class Monitor implements PressureMonitor {
  readonly #s: PressureSettings;
  readonly #in: PressureInputs;
  #poolHigh = false;
  /** The groups (by key) now at high water. */
  readonly #groupHigh = new WeakSet<object>();
  /** Evictions in the window: times and page counts, oldest first. */
  readonly #times: number[] = [];
  readonly #pages: number[] = [];
  #inWindow = 0;
  #lastStorm = Number.NEGATIVE_INFINITY;

  constructor(settings: PressureSettings, inputs: PressureInputs) {
    this.#s = settings;
    this.#in = inputs;
  }

  hear(e: HmmEvent): PressureEvent[] {
    if (e.type === 'pressure') return [];
    const out: PressureEvent[] = [];
    const ps = this.#in.pageSize;
    const base = { type: 'pressure', time: e.time, space: e.space, spaceId: e.spaceId } as const;
    if (e.type === 'eviction') this.#storm(e.time, e.pages, (pages, used) =>
      out.push({ ...base, kind: 'eviction-storm', phase: 'begin', usedBytes: used * ps, limitBytes: this.#in.capacityFrames * ps, pages, windowMs: this.#s.stormWindowMs }));
    if (e.type === 'thrashing') {
      out.push({ ...base, kind: 'thrashing', phase: 'begin', usedBytes: this.#in.usedFrames() * ps, limitBytes: this.#in.capacityFrames * ps, pages: e.pages, windowMs: 0 });
    }
    const used = this.#in.usedFrames();
    const cap = this.#in.capacityFrames;
    const flip = this.#flip(this.#poolHigh, used, cap);
    if (flip) {
      this.#poolHigh = flip === 'begin';
      out.push({ ...base, kind: 'high-water', phase: flip, usedBytes: used * ps, limitBytes: cap * ps, pages: 0, windowMs: 0 });
    }
    for (const g of this.#in.groups()) {
      const u = g.usedFrames;
      const f = this.#flip(this.#groupHigh.has(g.key), u, g.maxFrames);
      if (!f) continue;
      if (f === 'begin') this.#groupHigh.add(g.key);
      else this.#groupHigh.delete(g.key);
      out.push({ ...base, kind: 'high-water', phase: f, group: g.label, usedBytes: u * ps, limitBytes: g.maxFrames * ps, pages: 0, windowMs: 0 });
    }
    return out;
  }

  /** 'begin' when usage crosses the high mark, 'end' when it falls to the low mark, else undefined. */
  #flip(high: boolean, used: number, limit: number): 'begin' | 'end' | undefined {
    if (!high && used >= this.#s.highWater * limit) return 'begin';
    if (high && used <= this.#s.lowWater * limit) return 'end';
    return undefined;
  }

  #storm(time: number, pages: number, report: (pages: number, used: number) => void): void {
    const w = this.#s.stormWindowMs;
    this.#times.push(time);
    this.#pages.push(pages);
    this.#inWindow += pages;
    while (this.#times.length > 0 && this.#times[0]! <= time - w) {
      this.#times.shift();
      this.#inWindow -= this.#pages.shift()!;
    }
    if (this.#inWindow > this.#s.stormPages && time - this.#lastStorm >= w) {
      this.#lastStorm = time;
      report(this.#inWindow, this.#in.usedFrames());
    }
  }
}

export function createPressureMonitor(settings: PressureSettings, inputs: PressureInputs): PressureMonitor {
  return new Monitor(settings, inputs);
}
