// Memory pressure: a policy fed by the pool's event stream that tells the app
// when device memory is getting tight, so it can shed work, free allocations
// or shrink its working set before the runtime starts moving pages to and fro.
// It reads the pool's usage through the functions it is given and returns the
// pressure events to emit; it changes no runtime state (only its own memory of
// what it has reported).
//
//   high-water      device bytes in use reach `highWater` × capacity: 'begin';
//                   they fall to `lowWater` × capacity or below: 'end'. The gap
//                   is the hysteresis. The same for each memory group, its
//                   subtree's usage against its max (`group` names it).
//   eviction-storm  more than `stormPages` pages evicted within `stormWindowMs`:
//                   the working set is cycling through the pool: 'begin', once
//                   per storm; 'end' at the first event that finds the window's
//                   evictions fallen to stormPages × lowWater / highWater or
//                   below (the high-water marks' hysteresis, so that a rate
//                   hovering at the threshold does not flap). `group` names the
//                   memory group whose max made most of the window's evictions
//                   (a fault-in past its own max or a descendant's); absent
//                   when the pool's capacity did.
//   thrashing       forwarded from the thrashing detector's 'thrashing' event
//                   (src/policy/, issue 7 items 1–4), so that one subscription
//                   hears every kind of pressure.
//
// It is evaluated when an event passes, and hears events only while someone
// listens (EventBus.observe): usage that changes with no event (a space
// destroyed), and a storm that ends in silence, are seen at the next event.

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
  groups(): Iterable<PressureGroup>;
  /** The group whose max the eviction being heard now was made for; undefined: the pool's capacity (or none known). */
  evictionLimit?(): PressureGroup | undefined;
}

/** A memory group as the monitor sees it: its subtree's usage against its max in force. `key` is the same object from call to call. */
export interface PressureGroup {
  readonly key: object;
  readonly label: string;
  readonly maxFrames: number;
  readonly usedFrames: number;
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
  /** Evictions in the window: times, page counts and the limit that made them (undefined: the pool's), oldest first. */
  readonly #times: number[] = [];
  readonly #pages: number[] = [];
  readonly #limits: (PressureGroup | undefined)[] = [];
  #inWindow = 0;
  /** The storm under way (its group, for the 'end'), or undefined. */
  #storm: { readonly group: PressureGroup | undefined } | undefined;

  constructor(settings: PressureSettings, inputs: PressureInputs) {
    this.#s = settings;
    this.#in = inputs;
  }

  hear(e: HmmEvent): PressureEvent[] {
    if (e.type === 'pressure') return [];
    const out: PressureEvent[] = [];
    const ps = this.#in.pageSize;
    const base = { type: 'pressure', time: e.time, space: e.space, spaceId: e.spaceId } as const;
    if (e.type === 'eviction') this.#note(e.time, e.pages, this.#in.evictionLimit?.());
    else this.#expire(e.time);
    const storm = this.#flipStorm();
    if (storm) {
      const { phase, group } = storm;
      const used = group ? group.usedFrames : this.#in.usedFrames();
      const limit = group ? group.maxFrames : this.#in.capacityFrames;
      out.push({
        ...base, kind: 'eviction-storm', phase, ...(group ? { group: group.label } : {}),
        usedBytes: used * ps, limitBytes: limit * ps, pages: this.#inWindow, windowMs: this.#s.stormWindowMs,
      });
    }
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

  #note(time: number, pages: number, limit: PressureGroup | undefined): void {
    this.#times.push(time);
    this.#pages.push(pages);
    this.#limits.push(limit);
    this.#inWindow += pages;
    this.#expire(time);
  }

  /** Drop the evictions older than the window. */
  #expire(time: number): void {
    const w = this.#s.stormWindowMs;
    while (this.#times.length > 0 && this.#times[0]! <= time - w) {
      this.#times.shift();
      this.#limits.shift();
      this.#inWindow -= this.#pages.shift()!;
    }
  }

  /** A storm begins over stormPages and ends at the hysteresis mark (see the header). */
  #flipStorm(): { phase: 'begin' | 'end'; group: PressureGroup | undefined } | undefined {
    const s = this.#s;
    if (!this.#storm && this.#inWindow > s.stormPages) {
      this.#storm = { group: this.#mostEvicting() };
      return { phase: 'begin', group: this.#storm.group };
    }
    if (this.#storm && this.#inWindow <= (s.stormPages * s.lowWater) / s.highWater) {
      const { group } = this.#storm;
      this.#storm = undefined;
      // The group's numbers now, not when the storm began.
      const now = group ? ([...this.#in.groups()].find((g) => g.key === group.key) ?? group) : undefined;
      return { phase: 'end', group: now };
    }
    return undefined;
  }

  /** The limit that made the most of the window's evictions (undefined: the pool's capacity). */
  #mostEvicting(): PressureGroup | undefined {
    const by = new Map<object | undefined, { group: PressureGroup | undefined; pages: number }>();
    for (let i = 0; i < this.#times.length; i++) {
      const g = this.#limits[i];
      const k = g?.key;
      const e = by.get(k);
      // The latest numbers of each group.
      if (e) {
        e.pages += this.#pages[i]!;
        e.group = g;
      } else by.set(k, { group: g, pages: this.#pages[i]! });
    }
    let best: { group: PressureGroup | undefined; pages: number } | undefined;
    for (const e of by.values()) if (!best || e.pages > best.pages) best = e;
    return best?.group;
  }
}

export function createPressureMonitor(settings: PressureSettings, inputs: PressureInputs): PressureMonitor {
  return new Monitor(settings, inputs);
}
