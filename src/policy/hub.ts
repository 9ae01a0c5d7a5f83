// The policy hub of one address space: where the mechanisms meet the
// policies. The fault handler, the migration engine and the host-write path
// tell it what they did (a fault batch, a migration, an invalidation); it
// hands each note to the space's policies (density prefetch, thrashing),
// checks and applies their decisions, and emits the 'thrashing' events. The
// mechanisms ask it the questions that advice and decisions answer: which
// eviction tier a page is in, whether a host write keeps a page's device copy.
//
// State it owns (decisions applied): `holdUntil`, per page, the time until
// which thrashing mitigation keeps the page on the device (0: not held). Only
// the hub writes it (applying a ThrashDecision, or forgetting freed pages);
// expiry is lazy, by comparing with the clock. A hold is not a pin: the page
// stays evictable as a last resort (the progress guarantee, DESIGN §2.5) and
// is not counted against the pin limit.
//
// Callbacks that throw: see policy.ts (the policy is switched off, reported once).

import { PageArray } from '../space/page-array.ts';
import { assert, fail } from '../assert.ts';
import type { ResolvedDensityPrefetch, ResolvedThrashing } from '../options.ts';
import type { PolicyPort, SpaceCore } from '../space/state.ts';
import { PageState } from '../space/page-table.ts';
import type { Allocation } from '../space/allocator.ts';
import { evictionTier, holdAllowed, prefetchAllowed, Tier, writeThroughOnHostWrite } from './advice.ts';
import { pastRuns, predictSlice, retiring, type SliceFootprint, type SliceHeat } from './slice-prediction.ts';
import { createDensityPrefetch } from './density-prefetch.ts';
import type { Policy, PolicyView, ThrashDecision } from './policy.ts';
import { createThrashing } from './thrashing.ts';

export interface SpacePolicies {
  readonly densityPrefetch: ResolvedDensityPrefetch;
  readonly thrashing: ResolvedThrashing;
}

export class PolicyHub implements PolicyPort {
  readonly #space: SpaceCore;
  readonly options: SpacePolicies;
  #faultPolicy: Policy | undefined;
  #migrationPolicy: Policy | undefined;
  /** Per page: clock time until which thrashing mitigation holds it on the device; allocated at the first hold. */
  #holdUntil: PageArray | undefined;
  /** Some page may be in a tier other than Normal (advice with a preferred location was given, or a page was held). */
  #tiered = false;
  #allocs: Allocation[] = [];
  #allocsVersion = -1;
  /** The policies' time source: performance.now(); tests may replace it. */
  clock: () => number = () => performance.now();

  /**
   * The built-in policies, as the options enable them; `plugins` replaces
   * them (the fault-side and the migration-side policy) — for tests, and the
   * place where another policy would plug in.
   */
  constructor(space: SpaceCore, options: SpacePolicies, plugins?: { readonly fault?: Policy; readonly migration?: Policy }) {
    this.#space = space;
    this.options = options;
    if (plugins) {
      this.#faultPolicy = plugins.fault;
      this.#migrationPolicy = plugins.migration;
      return;
    }
    if (options.densityPrefetch.enabled && options.densityPrefetch.blockPages > 1) this.#faultPolicy = createDensityPrefetch(options.densityPrefetch);
    if (options.thrashing.enabled) this.#migrationPolicy = createThrashing(space.pageCount, options.thrashing);
  }

  /** Call a policy; a throw switches it off for this space and is reported once (policy.ts). */
  #call<R>(policy: Policy, what: string, fn: () => R): R | undefined {
    try {
      return fn();
    } catch (e) {
      if (policy === this.#faultPolicy) this.#faultPolicy = undefined;
      if (policy === this.#migrationPolicy) this.#migrationPolicy = undefined;
      console.error(`webgpu-hmm: policy "${policy.name}" threw in ${what} and was switched off for space "${this.#space.label}":`, e);
      return undefined;
    }
  }

  // ---- questions the mechanisms ask ----

  /** Some policy listens to migrations and invalidations (callers may skip building page lists otherwise). */
  get hearsMigrations(): boolean {
    return this.#migrationPolicy !== undefined;
  }

  get tiered(): boolean {
    return this.#tiered;
  }

  /** Advice with a preferred location was given: eviction must ask for tiers from now on. */
  noteTiers(): void {
    this.#tiered = true;
  }

  held(p: number, now = this.clock()): boolean {
    const h = this.#holdUntil;
    return h !== undefined && h.get(p) > now;
  }

  /** A function giving each page's eviction tier, with the clock read once (eviction asks for many pages). */
  tiers(): (p: number) => number {
    const t = this.#space.table;
    if (!this.#tiered) return () => Tier.Normal;
    const now = this.clock();
    return (p) => evictionTier(t.flagsOf(p), this.held(p, now));
  }

  /** A host write to resident, unpinned page p: write the bytes through to its frame instead of dropping it? */
  writeThrough(p: number): boolean {
    const f = this.#space.table.flagsOf(p);
    return writeThroughOnHostWrite(f, this.#holdUntil !== undefined && this.held(p));
  }

  // ---- notes from the mechanisms ----

  /**
   * A demand fault batch: pages to fetch with it (ascending; none present,
   * at most `room`). `lockSet` is what this round makes resident anyway.
   */
  prefetchFor(faulted: readonly number[], lockSet: ReadonlySet<number>, room: number): number[] {
    const policy = this.#faultPolicy;
    if (!policy?.onFault || room <= 0 || faulted.length === 0) return [];
    const space = this.#space;
    const t = space.table;
    const present = (p: number) => t.isResident(p) || lockSet.has(p);
    const pages = this.#call(policy, 'onFault', () => policy.onFault!({
      pageCount: space.pageCount,
      faulted,
      present,
      prefetchable: (p) => this.#prefetchable(p),
    }));
    if (!pages || pages.length === 0) return [];
    for (let i = 0; i < pages.length; i++) {
      const p = pages[i]!;
      if (!(Number.isInteger(p) && p >= 0 && p < space.pageCount && !present(p))) fail(`density prefetch chose page ${p}, which is outside the space or present`);
      assert(i === 0 || p > pages[i - 1]!, 'density prefetch pages are not ascending and unique');
    }
    return pages.length > room ? pages.slice(0, room) : [...pages];
  }

  /** A page prefetch may move: advice allows it, and it holds data or is allocated. */
  #prefetchable(p: number): boolean {
    const t = this.#space.table;
    return prefetchAllowed(t.flagsOf(p)) && (t.stateOf(p) !== PageState.Unpopulated || this.#allocated(p));
  }

  /**
   * The next slice of a demand dispatch: the pages to fetch before its first
   * pass, predicted from the slices before it (src/policy/slice-prediction.ts;
   * ascending; only pages prefetch may move and that hold data). Resident ones
   * are kept: the fault-in holds them while it evicts for the rest (a page two
   * slices share would otherwise be the first to go).
   */
  predictSlice(history: readonly SliceFootprint[], lo: number, hi: number): number[] {
    return predictSlice(history, lo, hi, this.#space.pageCount).filter((p) => this.#prefetchable(p));
  }

  /**
   * The pages most of a demand dispatch's slices touched so far
   * (src/policy/slice-prediction.ts SliceHeat), held resident for the next
   * slice: those prefetch may move, as predictSlice's. Most often touched first.
   */
  hotPages(heat: Pick<SliceHeat, 'hot'>): number[] {
    return heat.hot().filter((p) => this.#prefetchable(p));
  }

  /**
   * Pages a demand transaction's commit may also write: the page after each
   * run of its write set (src/policy/slice-prediction.ts `pastRuns`), where it
   * holds data (a page never written stays without a frame until the kernel
   * writes it: fetching it would populate it with zeros). Ascending.
   */
  writeAhead(writes: ReadonlySet<number>): number[] {
    const space = this.#space;
    const t = space.table;
    return pastRuns(Uint32Array.from(writes).sort(), space.pageCount).filter(
      (p) => t.stateOf(p) !== PageState.Unpopulated, // past a maximal run: never in it
    );
  }

  /**
   * Pages of a demand dispatch's last slices that it may evict early, before
   * the current slice's pass (src/policy/slice-prediction.ts `retiring`):
   * never one that advice or the thrashing policy holds (evicted last).
   */
  retiring(history: readonly SliceFootprint[]): number[] {
    const out = retiring(history);
    if (!this.#tiered) return out;
    const tier = this.tiers();
    return out.filter((p) => tier(p) !== Tier.LastResort);
  }

  /**
   * A finished migration (the record of src/migrate/record.ts, which calls
   * this for every one): copied and cleared pages alike. The policy decides
   * which causes matter to it (thrashing: hand-overs only).
   */
  heard(r: { readonly direction: 'to-device' | 'to-host'; readonly cause: string; readonly pages: readonly number[]; readonly cleared: readonly number[] }): void {
    if (!this.#migrationPolicy?.onMigration) return;
    this.migrated(r.direction, r.cause, r.cleared.length === 0 ? r.pages : [...r.pages, ...r.cleared].sort((x, y) => x - y));
  }

  /** Pages moved (installed or written back) by the migration engine, with its cause. */
  migrated(direction: 'to-device' | 'to-host', cause: string, pages: ArrayLike<number>): void {
    const policy = this.#migrationPolicy;
    if (!policy?.onMigration || pages.length === 0) return;
    const now = this.clock();
    const d = this.#call(policy, 'onMigration', () => policy.onMigration!({ direction, cause, pages, now }, this.#view(now)));
    if (d) this.#apply(d, now);
  }

  /** Device copies dropped because the host wrote the pages. */
  invalidated(pages: ArrayLike<number>): void {
    const policy = this.#migrationPolicy;
    if (!policy?.onInvalidation || pages.length === 0) return;
    const now = this.clock();
    const d = this.#call(policy, 'onInvalidation', () => policy.onInvalidation!({ pages, now }, this.#view(now)));
    if (d) this.#apply(d, now);
  }

  /** Pages [first, end) were freed: their holds end and the policies forget them. */
  forget(first: number, end: number): void {
    this.#holdUntil?.clear(first, end);
    for (const policy of [this.#faultPolicy, this.#migrationPolicy]) {
      if (policy?.onForget) this.#call(policy, 'onForget', () => policy.onForget!(first, end));
    }
  }

  #view(now: number): PolicyView {
    return { held: (p) => this.held(p, now) };
  }

  /** Apply a thrashing decision: hold the pages advice allows (mitigation 'pin'), and report every run. */
  #apply(d: ThrashDecision, now: number): void {
    const space = this.#space;
    const t = space.table;
    const pin = d.mitigation === 'pin';
    const heldPages: number[] = [];
    const reported: number[] = [];
    for (const p of d.pages) {
      if (!(Number.isInteger(p) && p >= 0 && p < space.pageCount)) fail(`thrashing chose page ${p}, outside the space`);
      if (pin && holdAllowed(t.flagsOf(p))) heldPages.push(p);
      else reported.push(p);
    }
    if (heldPages.length > 0) {
      const h = (this.#holdUntil ??= new PageArray(Float64Array, space.pageCount));
      for (const p of heldPages) h.set(p, now + d.pinMs);
      this.#tiered = true;
    }
    const bus = space.pool.events;
    if (!bus.active) return;
    const emit = (list: number[], mitigation: 'pin' | 'none') => {
      const ps = space.pageSize;
      for (let i = 0; i < list.length;) {
        let j = i + 1;
        while (j < list.length && list[j] === list[j - 1]! + 1) j++;
        bus.emit({
          type: 'thrashing', time: performance.now(), space: space.label, spaceId: space.id, addr: list[i]! * ps, byteLength: (j - i) * ps,
          pages: j - i, migrations: d.migrations, lapseMs: d.lapseMs, mitigation, pinMs: mitigation === 'pin' ? d.pinMs : 0,
          pageList: Uint32Array.from(list.slice(i, j)),
        });
        i = j;
      }
    };
    emit(heldPages, 'pin');
    emit(reported, 'none');
  }

  /** Does page p hold bytes of a live allocation? (The allocator's list, cached until it changes.) */
  #allocated(p: number): boolean {
    const a = this.#space.allocator;
    if (a.version !== this.#allocsVersion) {
      this.#allocs = a.live();
      this.#allocsVersion = a.version;
    }
    const ps = this.#space.pageSize;
    const lo = p * ps;
    const hi = lo + ps;
    // The first allocation that ends after lo.
    const allocs = this.#allocs;
    let l = 0;
    let h = allocs.length;
    while (l < h) {
      const m = (l + h) >>> 1;
      const x = allocs[m]!;
      if (x.addr + x.byteLength <= lo) l = m + 1;
      else h = m;
    }
    return l < allocs.length && allocs[l]!.addr < hi;
  }
}
