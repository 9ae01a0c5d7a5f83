// Demand paging with exact replay: the runtime's replayable faults. WebGPU has
// no GPU page faults, so a miss is a translation the prelude finds without a
// frame: it records the page in the pass's fault bitmaps (one bit per page:
// every miss of a pass is reported, deduplicated, however many), and the
// invocation *stalls* — from then on it stores nothing and its misses are only
// hints — because the 0 its load returned may steer it anywhere. After the pass
// the runtime reads the batch, makes the pages resident with the migration
// engine, and runs the pass again. What makes this exact is how the passes
// are allowed to write.
//
// Transaction (any kernel: in-place updates, atomics, appends)
// ------------------------------------------------------------
//   PROBE   read-only pass. Loads of resident pages see real data; stores and
//           atomics change nothing (an atomic returns the current value) and
//           record write intent for pages not yet in the write set. Repeat,
//           servicing misses, until a probe misses nothing — or, from the
//           second probe that missed, commit at once after servicing it: the
//           commit aborts on a miss and its record serves as the probe's
//           (tried while at least half of the last such commits complete).
//           In a sliced dispatch also from the first, while its slices write
//           little beyond the pages most of them write, and after an aborted
//           commit. A commit's write set also holds the page after each of its
//           runs (an append runs past the slot every invocation of a probe
//           saw) and, sliced, the pages most slices wrote (SliceHeat).
//   SNAPSHOT the write set's device-dirty pages are copied on the device
//           (src/migrate/device-snapshot.ts; written back to the host instead
//           when the copy passes the write-back cap, and, in a sliced
//           dispatch, for a page no earlier slice wrote: its undo log keeps
//           that host copy); the other pages' host copies are valid: together
//           they are the snapshot of every page the commit may write.
//   COMMIT  the real run: stores land only on write-set pages (PTE WRITE); a
//           miss, or a store to any other page, sets the abort flag.
//   ABORT   the write set's pages the commit wrote are copied back from the
//           snapshot (the device copy, or the host), the sets are widened
//           with what the commit recorded, and probing starts again.
//   DONE    written pages become Device (dirty); the rest stay Shared.
// A commit that completes saw only resident pages and wrote only snapshot
// pages: it is one clean run. An aborted one is undone in full, because every
// page it could change is restored. A completed commit is never run again.
//
// Replay (kernels created with `idempotent: true`)
// ------------------------------------------------
// Stores land on any resident page. A slice's first pass runs a variant that
// keeps no completion record (src/kernel/link.ts firstPass: on lavapipe the
// record's code alone made every invocation about 1.4x as slow, taken or not);
// if it stalls anywhere, the next pass runs the whole slice again, fresh — the
// kernel is idempotent. From then on an invocation that did not stall sets its
// completion word, and later passes skip it, so only invocations that faulted
// run again. Kernels that synchronize a workgroup (barriers, workgroup memory),
// and dispatches over MAX_REPLAY_INVOCATIONS, keep a bit per workgroup instead:
// it is set when none of its invocations stalled, and the whole workgroup runs
// again otherwise. Written pages are marked Device after every pass, before its
// faults are serviced, so evictions write them back.
// Kernels that call add/sub/xor/exchange atomics are refused as idempotent at
// createKernel(): a replayed workgroup would apply them twice.
// A resumable kernel (one that calls vm_save_u32: shaders/prelude.wgsl) keeps
// its saved state beside each completion word; an invocation that stalled after
// saving runs again from that state, so it needs the page it resumes on and the
// pages it reads from the top (marked needed at the stall), not its whole path:
//
//   pass k      runs from its state s (or the top); saves s' at each step; stalls on page P
//   record      word = P + 2, marker = 1, slots = s'; REC_ADVANCED += (s' != s)
//   fault-in    P, and the top's pages, in the room a partial round leaves
//   pass k+1    vm_resume_u32 gives s'
//
// A pass whose saved states moved counts as progress although they stalled again
// (#runReplay). The states outlive the dispatch in the record, so it leaves them
// to be cleared before the next one (a transaction by rounds reads the words).
//
// Progress and slices
// -------------------
// Each round makes resident, and holds Locked while it migrates, the pages the
// last pass accessed plus the pages it missed, so a round's own faults never
// evict what the next pass needs up to the point where it stalled: every
// stalled invocation gets further each round, and the rounds end. (Pages that
// density prefetch adds for the misses, src/policy/density-prefetch.ts, and
// the passes' hints ride along in the same migration, only in the room the
// lock set leaves, and are never locked later: they cannot take that away.)
// When the accessed and missed pages do not fit in the pool, the grid is split
// into as many equal parts as that footprint needs (each filling at most
// DEMAND_SLICE_FILL of the frames: src/options.ts) and the parts run one after
// the other — a schedule WebGPU allows for any kernel, since it promises
// nothing about which workgroups run at the same time. A grid planned in
// slices from the start begins with a scout, a slice DEMAND_SCOUT_FRACTION of
// the size: its first pass finds nothing resident and does no work, so it had
// better be small. Each slice after it is predicted from the ones before
// (src/policy/slice-prediction.ts), its pages fetched before its first pass;
// in replay mode two slices are in flight:
//
//   before slice k's first pass   retire pages the stream has moved past (not
//                                 slice k's) until k+1's predicted pages fit
//                                 in free frames
//   submit pass k                 (the page table flushed: it sees k's pages)
//   fetch k+1's predicted pages   into free frames only, every resident page
//                                 held (pass k may write any of them); the
//                                 copies queue behind pass k, which cannot
//                                 see the new pages
//   await pass k's record
//
// A sliced transaction holds the pages most of its slices touched so far (a
// table they all read: src/policy/slice-prediction.ts SliceHeat) for the next
// one, seeded from the kernel's last sliced dispatch on the space.
//
// Transactions by rounds (kernels without workgroup synchronization, once the
// grid is split): the rest of the grid runs as one slice whose unit of commit is
// the invocation, not the workgroup (#runRounds). A word per invocation:
//
//   PROBE r   invocations not done run (the kernel as a probe); each that ran
//             without a miss is marked r, the others 0
//   COMMIT r  only the invocations marked r run (snapshot and abort as above);
//             kept: they are done. Aborted: restored, committed again with what
//             it missed (appends past the probe's slot), and else the marks r
//             are lost (vm_u.lost_round: the next probe runs them again)
//   fault-in  the round's misses, in the room the pages it accessed leave
//
// Any subset of a grid's invocations may run first in WebGPU when none waits
// on another. Rounds that stop progressing (ROUNDS_IDLE poor rounds) give the
// rest to parts, each again by rounds; a lost round's marks are forgotten
// before that (a pass of round 0), since each part probes only its own.
//
// Only a single workgroup
// whose working set does not fit fails, with WorkingSetTooLargeError naming the
// sizes. Once a transaction dispatch has been split, the host bytes of every
// page a slice will write are kept (an undo log, pages written by this
// dispatch only), so a failure in a later slice puts back the state from
// before the dispatch: a transaction dispatch applies all of its workgroups or
// none. A replay-mode dispatch that fails may have written part of its output;
// running it again is safe, since it is idempotent.
//
// Cancellation (the dispatch's `signal`, src/lifetime.ts)
// -------------------------------------------------------
// An abort is seen at pass boundaries: before a slice, before each fault-in,
// before a snapshot and commit, and after a commit's record is back. There the
// dispatch stops as a failed one does. A transaction leaves the space as it
// was: before its first commit nothing but residency has changed (probes store
// nothing); a commit whose record comes back after the abort is undone like an
// aborted commit (its pages copied back from the host snapshot); a sliced one
// also replays its undo log. A replay-mode dispatch keeps what the workgroups
// that completed wrote (valid, device-dirty), like a failed one. Pages moved
// on the way — faulted in, snapshot, evicted — stay valid where they are. Once
// the last commit (or replay pass) is kept the dispatch completes: an abort
// then is too late.
//
// Interleaving with the host (a demand dispatch holds the pool lock for its
// whole run; the space's host operations issued after it wait in its chain):
//
//   dispatch (pool lock held)                host
//   ─────────────────────────                ────
//   seq = sub.readBegin()
//   makeResident(lock ∪ hints)  ── await ──  free(addr): invalidate → seq odd/bumped,
//                                              device copies of the freed pages dropped
//   sub.readRetry(seq)? → again
//   grant W (write set), flush PTEs,
//   submit pass                 (synchronous from the check to the submit)
//   await record                ── await ──  free(addr) again: the page is remembered
//                                              as stale; finalize leaves it alone
//   mark written pages Device, except stale ones
//
// A pass never sees a frame the host has dropped: the drop clears the page's
// frame and marks its entry changed, and the changed entries are flushed
// before every submit.

import type { Kernel } from '../kernel/kernel.ts';
import { MAP_ACCESSED, MAP_NEEDED, MAP_WRITTEN, Mode, MODE_NAMES, REC_ABORT, REC_ADVANCED, REC_READY } from '../abi.ts';
import type { DirtyJournal } from './journal.ts';
import { AccessViolationError, WorkingSetTooLargeError, type Violation } from '../errors.ts';
import { emptyReport, makeResident, restoreFromHost, retire, writeBackPages, type MigrationReport } from '../migrate/migrate.ts';
import { snapshotBuffer, takeDeviceSnapshot, type DeviceSnapshot } from '../migrate/device-snapshot.ts';
import { PageState } from '../space/page-table.ts';
import type { IntervalSubscription } from '../notify/notifier.ts';
import type { Cancellation } from '../lifetime.ts';
import type { SpaceCore } from '../space/state.ts';
import { checkBypass, reportUnexpectedFaults } from '../space/strict.ts';
import { PassResources } from './pass-resources.ts';
import { footprintKey, footprintsOf, perSpaceKernel } from './footprints.ts';
import { DEMAND_PARTIAL_PROGRESS, DEMAND_PREDICTED_COVERAGE, DEMAND_SAMPLE_MIN_WORKGROUPS, DEMAND_SAMPLES, DEMAND_SCOUT_FRACTION, DEMAND_SLICE_FILL, PREDICTION_MIN_ACCURACY } from '../options.ts';
import { accuracy, HOT_SLICES, SliceHeat, type SliceFootprint } from '../policy/slice-prediction.ts';
import { prepare, readPass, recordStride, replayUnit, submitPass, wordPerInvocation, type Checked, type DispatchOrder, type Prepared } from './pass.ts';
import type { DemandStats, DispatchResult } from './dispatch-types.ts';
import { bitmapPages, decodeFaults, decodeViolations, passClearBytes, passReadBytes, testBit, violationCount, type FaultBatch } from './records.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function emptyStats(): Mutable<DemandStats> {
  return {
    passes: 0, probes: 0, commits: 0, aborts: 0, replays: 0, samples: 0, slices: 0, faultBatches: 0,
    pagesFaulted: 0, pagesPrefetched: 0, pagesDensityPrefetched: 0, pagesPredicted: 0, snapshotPages: 0, restoredPages: 0, resumedAdvances: 0,
  };
}

const EMPTY = new Uint32Array(0);

/** Ascending unique pages of the union of the lists. */
function union(...lists: Iterable<number>[]): Uint32Array {
  const s = new Set<number>();
  for (const l of lists) for (const p of l) s.add(p);
  return Uint32Array.from(s).sort();
}

/** [lo, hi) in `parts` nearly equal consecutive ranges. */
function cut(lo: number, hi: number, parts: number): [number, number][] {
  const out: [number, number][] = [];
  for (let k = 0; k < parts; k++) out.push([lo + Math.floor(((hi - lo) * k) / parts), lo + Math.floor(((hi - lo) * (k + 1)) / parts)]);
  return out;
}

/**
 * How a speculation went, over its last OUTCOME_WINDOW tries: worth trying
 * while at least half of them succeeded (and always for the first few); when
 * it is not, every OUTCOME_WINDOW-th chance is tried all the same, so a
 * dispatch whose slices change character (the first slices of a graph search
 * find its tables cold, the later ones warm) learns again.
 */
class Outcomes {
  readonly #last: boolean[] = [];
  #skipped = 0;

  worth(): boolean {
    const n = this.#last.length;
    if (n < OUTCOME_WINDOW / 2) return true;
    let kept = 0;
    for (const k of this.#last) if (k) kept++;
    if (kept * 2 >= n) return true;
    if (++this.#skipped < OUTCOME_WINDOW) return false;
    this.#skipped = 0;
    return true;
  }

  heard(kept: boolean): void {
    this.#last.push(kept);
    if (this.#last.length > OUTCOME_WINDOW) this.#last.shift();
  }
}
const OUTCOME_WINDOW = 8;
/** #runRounds: rounds in a row that commit nothing, or few (ROUNDS_POOR), before the rest goes to parts. */
const ROUNDS_IDLE = 4;
/** #runRounds: a slice whose rounds stopped progressing is cut into this many times the parts its footprint asks for. */
const ROUNDS_PARTS = 8;
/** #runRounds: a round that commits fewer than one in this many of its slice's invocations is idle. */
const ROUNDS_POOR = 256;
/** #runRounds: commits of one round's marks after the first aborted, before the round counts as lost. */
const ROUNDS_RECOMMIT = 2;
/** #runRounds: rounds of one slice before the rest goes to smaller parts (a round may commit a few invocations only). */
const ROUNDS_MAX = 48;
/** #hotCovered: at most one written page in this many beyond the hot writes. */
const HOT_UNCOVERED = 8;

/** A slice needs more frames than the pool can free: split it, or fail if it is one workgroup. */
class DoesNotFit {
  constructor(readonly pages: number, readonly available: number) {}
}

/**
 * A replay slice's first pass (#firstPass): the first-pass variant over every
 * invocation (`fast`), over each workgroup's invocation 0 (`sample`), or the
 * completing variant, fresh (`full`).
 */
type FirstPass = 'fast' | 'sample' | 'full';

/** How a replay pass runs (src/fault/pass.ts PassSpec), and what runs while it does. */
interface ReplayPass {
  readonly skipWaiting?: boolean;
  readonly fresh?: boolean;
  /** Work to do between the submit and the wait for the record (#makeRoom's fetch). */
  readonly during?: (() => Promise<void>) | undefined;
  /** The completing variant (Prepared.completing) or the sample (Prepared.sampling); absent: the first-pass one. */
  readonly pipeline?: GPUComputePipeline | undefined;
  /** A transaction by rounds (#runRounds): the pass's round and the round whose commit was lost. */
  readonly round?: number;
  readonly lostRound?: number;
}

/** The slice after the running one: its predicted pages, and old pages that may go to make room. */
interface NextSlice {
  readonly pages: readonly number[];
  readonly retire: readonly number[];
}

/**
 * The hot pages of a kernel's last sliced transaction on a space (SliceHeat): what its next
 * dispatch holds from its first slice on — the levels of a graph search read and write the same
 * tables, and each level's heat would otherwise start cold.
 */
interface HotPages {
  readonly touched: readonly number[];
  readonly written: readonly number[];
}
const hotPages = perSpaceKernel<{ last?: HotPages }>(() => ({}));

/**
 * How a kernel's second samples went on a space (DEMAND_SAMPLES): one that missed nothing the
 * first had not brought in was wasted — a kernel whose first sample's hints were right (a stream),
 * or whose slices touch more than the pool, so that no footprint is kept and every dispatch samples
 * its cold slices again (the curve's random-warp pattern: 8 → 10 passes a dispatch). Tried while
 * at least half of the last ones found something (Outcomes), across the kernel's dispatches.
 */
const resamplingOf = perSpaceKernel(() => new Outcomes());

class DemandRun {
  readonly #space: SpaceCore;
  readonly #prep: Prepared;
  readonly #replay: boolean;
  /** Replay completion is tracked per invocation: a stalled invocation skips itself while its page has no frame. */
  readonly #replayPerInvocation: boolean;
  readonly stats = emptyStats();
  readonly report: MigrationReport = emptyReport();
  retries = 0;
  /** expectNoFaults: every page this dispatch found not resident and brought in. */
  readonly broughtIn = new Set<number>();
  /** Violations of the passes whose results were kept, deduplicated. */
  readonly violations: Violation[] = [];
  violationCount = 0;
  readonly #seenViolations = new Set<string>();
  /** Pages a host write invalidated since the last submit. */
  readonly #stale = new Set<number>();
  readonly #sub: IntervalSubscription;
  /** Replay mode: the running slice has had a pass of the completing variant, so its completion words are exact. */
  #wordsExact = false;
  /** Transaction mode, once the grid is split: host bytes from before the dispatch of every page a commit may write. */
  #undo: Map<number, Uint8Array> | undefined;
  readonly #clearBytes: number;
  readonly #readBytes: number;
  readonly #journal: DirtyJournal;
  readonly #cancel: Cancellation | undefined;

  constructor(space: SpaceCore, prep: Prepared, journal: DirtyJournal, cancel: Cancellation | undefined) {
    this.#space = space;
    this.#prep = prep;
    this.#journal = journal;
    this.#cancel = cancel;
    this.#replay = prep.kernel.idempotent;
    this.#replayPerInvocation = replayUnit(prep.kernel, prep.total) === 'invocation';
    const ps = space.pageSize;
    this.#sub = space.notifier.subscribe(0, space.size, (ev) => {
      for (let p = Math.floor(ev.start / ps); p * ps < ev.end; p++) this.#stale.add(p);
    });
    this.#clearBytes = passClearBytes(space.pageCount);
    this.#readBytes = passReadBytes(space.pageCount);
  }

  close(): void {
    this.#sub.remove();
  }

  /** Pages the space's allocations cover (allocated bytes, rounded up to whole pages). */
  #allocatedPages(): number {
    return Math.ceil(this.#space.allocator.usedBytes / this.#space.pageSize);
  }

  /** Frames this set of pages could have: all but those pinned by pages outside it, within what the memory groups allow. */
  #available(pages: Uint32Array): number {
    return this.#space.pool.groups.availableFrames(this.#space, pages).available;
  }

  /**
   * Make `pages` resident, with what density prefetch adds for the pages that
   * `missed` (src/policy/density-prefetch.ts) and as many `hints` as there is
   * room for, retrying past host invalidations. Prefetched pages and hints
   * only take room the lock set leaves; they are not locked in later rounds.
   */
  async #fault(pages: Uint32Array, hints: readonly number[], missed: readonly number[] = [], predicted: readonly number[] = []): Promise<void> {
    const space = this.#space;
    const t = space.table;
    const available = this.#available(pages);
    if (pages.length > available) throw new DoesNotFit(pages.length, available);
    const inSet = new Set(pages);
    const room = available - pages.length;
    // A slice's predicted pages first (src/policy/slice-prediction.ts), then density prefetch, then hints
    // (in a sliced transaction: hints, then density prefetch in free frames).
    // Resident predicted pages are held too, so that what is fetched for the slice does not evict them.
    const ahead = predicted.filter((p) => !inSet.has(p)).slice(0, room);
    for (const p of ahead) inSet.add(p);
    // In a sliced transaction the stalled invocations' hints come first (the next pages of what they
    // were reading: exact for a dependent read), and density prefetch fills free frames only, never
    // evicting for a page nobody asked for. Each round of such a slice evicts for what it fetches:
    // measured on the Graph500 BFS at 4x (bench/demand-bfs.ts), density took 17k pages a level
    // against 6k faulted, evicting pages the slice's later probes needed and the room of its hints;
    // so limited, 2.5 -> 1.9-2.1 s a BFS (alternated runs). Slice prediction stands in for it across slices.
    /** At most `n` hints, none in the set so far nor in `taken`, nor resident. */
    const hintsFor = (n: number, taken: ReadonlySet<number> = new Set()): number[] =>
      hints.filter((p) => !inSet.has(p) && !taken.has(p) && !t.isResident(p)).slice(0, n);
    let dense: number[];
    let extra: number[];
    if (this.#undo) {
      extra = hintsFor(room - ahead.length);
      let incoming = extra.length;
      for (const p of inSet) if (!t.isResident(p)) incoming++;
      for (const p of extra) inSet.add(p);
      const free = Math.min(room - ahead.length - extra.length, space.pool.frames.freeCount - incoming);
      dense = free > 0 ? space.policies.prefetchFor(missed, inSet, free) : [];
    } else {
      dense = space.policies.prefetchFor(missed, inSet, room - ahead.length);
      extra = hintsFor(room - ahead.length - dense.length, new Set(dense));
    }
    const denseSet = new Set(dense);
    for (const p of ahead) denseSet.add(p); // moved as prefetch, like density prefetch's pages
    const all = extra.length || denseSet.size ? union(pages, denseSet, extra) : pages;
    let missing = 0;
    for (const p of pages) if (!t.isResident(p)) missing++;
    if (this.#prep.expectNoFaults) for (const p of all) if (!t.isResident(p)) this.broughtIn.add(p);
    this.stats.pagesFaulted += missing;
    space.pool.counters.pagesFaulted += missing;
    this.stats.pagesPrefetched += extra.length;
    this.stats.pagesDensityPrefetched += dense.length;
    for (const p of ahead) if (!t.isResident(p)) this.stats.pagesPredicted++;
    for (;;) {
      const seq = this.#sub.readBegin();
      try {
        await makeResident(space, all, this.report, 'demand', denseSet);
      } catch (e) {
        if (e instanceof WorkingSetTooLargeError) throw new DoesNotFit(all.length, available);
        throw e;
      }
      space.check();
      if (!this.#sub.readRetry(seq)) return;
      this.retries++;
    }
  }

  /** Grant WRITE on `writable`, flush the page table, submit one pass of [lo, hi) and read its record. */
  async #pass(mode: Mode, lo: number, hi: number, writable: Iterable<number>, replay: ReplayPass = {}): Promise<Uint32Array> {
    const { skipWaiting = false, fresh = false, during, pipeline, round, lostRound } = replay;
    const space = this.#space;
    const pool = space.pool;
    const t = space.table;
    space.check();
    const w: number[] = [];
    for (const p of writable) if (t.isResident(p)) w.push(p);
    space.gpt.grant(EMPTY, Uint32Array.from(w).sort());
    space.gpt.flush(pool.device.queue);
    this.#stale.clear();
    const start = pool.events.now();
    const sub = submitPass(space, this.#prep, { mode, sliceBase: lo, sliceEnd: hi, skipWaiting, fresh, pipeline, round, lostRound, clearBytes: this.#clearBytes, readBytes: this.#readBytes });
    this.stats.passes++;
    pool.counters.demandPasses++;
    if (during) await during();
    const rec = await readPass(space, this.#prep.kernel.label, sub);
    if (pool.events.active) {
      pool.events.emit({
        type: 'pass', time: performance.now(), start, space: space.label, spaceId: space.id, kernel: this.#prep.kernel.label,
        mode: MODE_NAMES[mode], aborted: mode === Mode.Commit && rec[REC_ABORT]! !== 0, workgroups: hi - lo,
      });
    }
    // CLOCK's referenced bits, from what the pass touched.
    for (const p of bitmapPages(rec, space.pageCount, MAP_ACCESSED)) {
      const f = t.frameOf(p);
      if (t.isResident(p)) pool.frames.reference(f);
    }
    return rec;
  }

  #batch(f: FaultBatch): void {
    const pool = this.#space.pool;
    this.stats.faultBatches++;
    pool.counters.faultBatches++;
    if (pool.events.active) {
      pool.events.emit({
        type: 'fault-batch', time: performance.now(), space: this.#space.label, spaceId: this.#space.id, kernel: this.#prep.kernel.label,
        misses: f.misses.length, hints: f.speculative.length, writes: f.writes.length,
        pageList: Uint32Array.from(f.misses).sort(),
      });
    }
  }

  /** Pages the pass wrote become device-dirty — unless a host write dropped them meanwhile. */
  #markWritten(rec: Uint32Array, candidates: Iterable<number>): void {
    const t = this.#space.table;
    const stamp = t.newDirtyStamp();
    for (const p of candidates) {
      if (!this.#stale.has(p) && t.isResident(p) && testBit(rec, this.#space.pageCount, MAP_WRITTEN, p)) {
        // Stamped: a declared dispatch still in flight must not put it back to clean (fault/access-bits.ts).
        this.#journal.markDirty(p, stamp);
      }
    }
  }

  #keepViolations(rec: Uint32Array): void {
    const listed = decodeViolations(rec);
    let fresh = 0;
    // A pass run again repeats its violations: each counts once, keyed by address, kind, invocation
    // and which occurrence of those it is in its pass — so accesses one invocation repeats within a
    // pass (a load and a store of the same bad address) count apart, as in declared mode. (Keyed
    // without the occurrence, the count depended on how many of them fit in the 32 listed.)
    const nth = new Map<string, number>();
    for (const v of listed) {
      const base = `${v.addr}:${v.kind}:${v.invocation.join(',')}`;
      const n = (nth.get(base) ?? 0) + 1;
      nth.set(base, n);
      const key = `${base}#${n}`;
      if (this.#seenViolations.has(key)) continue;
      this.#seenViolations.add(key);
      this.violations.push(v);
      fresh++;
    }
    // Beyond the listed ones a replayed workgroup's violations cannot be told apart: they are counted again.
    this.violationCount += fresh + (violationCount(rec) - listed.length);
  }

  async run(): Promise<void> {
    const prep = this.#prep;
    let res: PassResources | undefined;
    if (this.#replay) {
      const [x, y, z] = prep.kernel.workgroupSize;
      // A word per invocation, or a bit per workgroup; all 0 (zeroed here if the last dispatch left some set).
      const words = replayUnit(prep.kernel, prep.total) === 'invocation' ? prep.total * x * y * z * recordStride(prep.kernel) : Math.ceil(prep.total / 32);
      res = PassResources.of(this.#space);
      await res.ensureCompletionWords(words);
    }
    /**
     * Slices that ran a pass and were then cut (they did not fit): their completion words are
     * exact, so the parts' first passes read them. A slice that only overlaps one runs fresh: the
     * words its finished invocations left set are stale, and cost a rerun at worst (the kernel is
     * idempotent) — but the dispatch then leaves words set.
     */
    const ran: [number, number][] = [];
    let wordsLeftSet = false;
    const slices = this.#plan();
    /** The last two slices that ran, for predicting the next one's pages. */
    const history: SliceFootprint[] = [];
    /**
     * A sliced transaction runs the rest of its grid by rounds (#runRounds), as one slice; if that
     * stops progressing, in parts, each still by rounds (invocations committed by a round are done,
     * and only the rounds variant knows to skip them).
     */
    const byRounds = this.#roundsApply();
    let mergeRest = true;
    /**
     * Transactions: pages most slices touch, held for the next one, and pages most slices write, in
     * each commit's write set (SliceHeat; seeded from the kernel's last sliced dispatch).
     */
    const seed = this.#replay ? undefined : hotPages(this.#space, this.#prep.kernel).last;
    const heat = this.#replay ? undefined : new SliceHeat(seed?.touched);
    const writeHeat = this.#replay ? undefined : new SliceHeat(seed?.written);
    let predicting = true;
    let first = true;
    try {
      while (slices.length > 0) {
        this.#cancel?.check(); // a pass boundary: the catch below rolls back what earlier slices committed
        let [lo, hi] = slices.shift()!;
        // Sliced (an undo log is kept): the rest of the grid as one slice, by rounds.
        const rounds = byRounds && this.#undo !== undefined;
        if (rounds && mergeRest && slices.length > 0) {
          const rest = slices.splice(0);
          hi = rest[rest.length - 1]![1];
        }
        const predicted = predicting && history.length > 0 ? this.#space.policies.predictSlice(history, lo, hi) : [];
        // Two slices in flight: the next slice's predicted pages come in while this one's first pass runs.
        const next = this.#replay && predicting && slices.length > 0 ? this.#predictNext(history, lo, slices[0]![1], predicted) : undefined;
        const inside = ran.some(([a, b]) => a <= lo && hi <= b);
        if (!inside && ran.some(([a, b]) => a < hi && lo < b)) wordsLeftSet = true;
        const passesBefore = this.stats.passes;
        this.#wordsExact = false;
        try {
          let pages: Uint32Array;
          if (this.#replay) {
            pages = await this.#runReplay(lo, hi, first, predicted, !inside, next, this.#firstPass(lo, hi, predicted, history));
          } else {
            // The stream's prediction first, then the hot pages (in the room it leaves).
            const taken = new Set(predicted);
            const t = this.#space.table;
            const hot = this.#space.policies.hotPages(heat!).filter((p) => !taken.has(p));
            const hotWrites = this.#space.policies.hotPages(writeHeat!).filter((p) => t.stateOf(p) !== PageState.Unpopulated);
            const ahead = hot.length > 0 ? [...predicted, ...hot] : predicted;
            pages = rounds ? await this.#runRounds(lo, hi, first, ahead, hotWrites, hot) : await this.#runTransaction(lo, hi, first, ahead, hotWrites);
            heat!.heard(this.#kept.accessed);
            writeHeat!.heard(this.#kept.written);
            // The slice wrote little beyond the hot writes it was given: the next may commit after its first probe.
            const given = new Set(hotWrites);
            let beyond = 0;
            for (const p of this.#kept.written) if (!given.has(p)) beyond++;
            this.#hotCovered = this.#kept.written.length > 0 && beyond * HOT_UNCOVERED <= this.#kept.written.length;
          }
          this.stats.slices++;
          const f: SliceFootprint = { lo, hi, pages, predicted: Uint32Array.from(predicted) };
          if (accuracy(f) < PREDICTION_MIN_ACCURACY) predicting = false;
          history.push(f);
          if (history.length > 2) history.shift();
          // A transaction's hot pages (SliceHeat) are shared by every slice: the room they leave is what
          // a larger slice fills.
          let shared = 0;
          if (heat) {
            const hot = new Set(heat.hot());
            for (const p of pages) if (hot.has(p)) shared++;
          }
          this.#resize(slices, f, shared);
        } catch (e) {
          if (!(e instanceof DoesNotFit)) throw e;
          // Rounds that stopped progressing: the rest runs in parts, each by rounds.
          if (rounds) mergeRest = false;
          // (A slice that ran only its first-pass variant has no completion words: its parts run fresh.)
          if (this.stats.passes > passesBefore && (!this.#replay || this.#wordsExact)) ran.push([lo, hi]);
          if (hi - lo === 1 && first) {
            // The declared ranges seed the first slice only as hints: a single workgroup whose hints
            // do not fit runs again without them before its own working set is judged (found by the
            // differential fuzzer: a whole-space read hint made a one-workgroup dispatch fail).
            slices.unshift([lo, hi]);
            first = false;
            continue;
          }
          if (hi - lo === 1) throw this.#tooLarge(lo, e);
          // As many equal parts as the footprint found so far needs, each filling at most
          // DEMAND_SLICE_FILL of the frames available (room for hints and what the footprint has not
          // shown yet); a part that still does not fit is split again. (Halving took a wasted pass
          // per halving: log2 of them before a 3× oversubscribed grid fit.)
          const room = Math.max(1, Math.floor(e.available * DEMAND_SLICE_FILL));
          // (Rounds that stopped progressing: what is left needs more pages at once than a round brings,
          // and a part by rounds that is too large costs a probe of its pending invocations a round.)
          const parts = Math.min(hi - lo, Math.max(2, Math.ceil(e.pages / room) * (rounds ? ROUNDS_PARTS : 1)));
          slices.unshift(...cut(lo, hi, parts));
          if (!this.#replay) this.#undo ??= new Map();
        }
        first = false;
      }
      // A resumable kernel's records keep its saved states (prelude: vm_save_u32) after it completes:
      // the next dispatch clears them first (found by the tree demo's test: a transaction by rounds
      // after them took the states for its rounds' marks, and skipped those invocations).
      if (wordsLeftSet || (this.#replayPerInvocation && recordStride(this.#prep.kernel) > 1)) res?.markCompletionDirty();
      if (heat && this.stats.slices >= HOT_SLICES) hotPages(this.#space, this.#prep.kernel).last = { touched: heat.hot(), written: writeHeat!.hot() };
    } catch (e) {
      res?.markCompletionDirty();
      if (this.#undo && this.#undo.size > 0) this.#rollback();
      throw e;
    }
  }

  /**
   * The slices to start with. The whole grid, unless the space holds more data
   * than the pool has frames for it and no ranges were declared: then as many
   * equal parts as the allocated pages need at DEMAND_SLICE_FILL each — a
   * first pass over the whole grid would only stall nearly every invocation,
   * and a stalled pass costs more than one that completes (measured: up to 3×
   * on the oversubscription curve). A kernel that touches less than the space
   * holds finds out after its first slice: #resize merges the rest.
   */
  #plan(): [number, number][] {
    const prep = this.#prep;
    const total = prep.total;
    if (total <= 1 || prep.readPages.length + prep.writePages.length > 0) return [[0, total]];
    const allocated = this.#allocatedPages();
    const available = this.#available(EMPTY);
    if (allocated <= available) return [[0, total]];
    const room = Math.max(1, Math.floor(available * DEMAND_SLICE_FILL));
    const parts = Math.min(total, Math.ceil(allocated / room));
    if (parts > 1 && !this.#replay) this.#undo ??= new Map();
    // The scout (DEMAND_SCOUT_FRACTION): a small first slice, its cold pass small too.
    const scout = Math.max(1, Math.floor((total / parts) * DEMAND_SCOUT_FRACTION));
    if (parts > 1 && scout < total - 1) return [[0, scout], ...cut(scout, total, parts)];
    return cut(0, total, parts);
  }

  /**
   * After slice `f` ran: cut what is left of the grid again into parts of the
   * size its footprint says fits at DEMAND_SLICE_FILL of the frames available
   * (fewer parts when it touched less than the plan assumed, more when more).
   * A slice that touched more than fits at once (it ran by partial rounds: its
   * invocations each need little, but together they touch more than the pool —
   * a random pattern) says that smaller slices would not touch less: the rest
   * runs as one slice, by partial rounds, each page fetched once.
   */
  #resize(slices: [number, number][], f: SliceFootprint, shared = 0): void {
    if (slices.length === 0 || f.pages.length === 0) return;
    const lo = slices[0]![0];
    const hi = slices[slices.length - 1]![1];
    const available = this.#available(EMPTY);
    const room = Math.max(1, Math.floor(available * DEMAND_SLICE_FILL));
    // Over the room but within the frames, it ran in whole rounds all the same (a slice sized from a
    // small one's footprint rounds up at its edges): the rest is sized by its density too.
    // `shared` of the footprint's pages (a table every slice reads) do not grow with the slice.
    // The margin (DEMAND_SLICE_FILL) is for what grows: hints, what the footprint has not shown yet.
    const own = shared > 0 && shared < f.pages.length && shared < room ? f.pages.length - shared : f.pages.length;
    const fill = own < f.pages.length ? Math.floor((available - shared) * DEMAND_SLICE_FILL) : room;
    const size = f.pages.length > available ? hi - lo : Math.max(1, Math.floor((fill * (f.hi - f.lo)) / own));
    const parts = Math.min(hi - lo, Math.ceil((hi - lo) / size));
    if (parts === slices.length) return;
    slices.splice(0, slices.length, ...cut(lo, hi, parts));
  }

  #tooLarge(linear: number, e: DoesNotFit): WorkingSetTooLargeError {
    const [gx, gy] = this.#prep.grid;
    const wid = [linear % gx, Math.floor(linear / gx) % gy, Math.floor(linear / (gx * gy))];
    const pool = this.#space.pool;
    const ps = this.#space.pageSize;
    const g = pool.groups.of(this.#space.id);
    const capped = g.isRoot ? '' : `, in memory group "${g.label}" (max ${g.max} bytes)`;
    return new WorkingSetTooLargeError(
      e.pages * ps, e.available * ps, pool.capacity, pool.pinnedPages * ps,
      `kernel "${this.#prep.kernel.label}": workgroup [${wid.join(', ')}] alone (at least ${e.pages} pages of ${ps} bytes, found so far${capped})`,
      'a demand-paged dispatch runs one workgroup at a time at the least, so each workgroup must fit: use a larger pool, smaller pages, unpin, or give each workgroup less to touch',
    );
  }

  /** Put back the host bytes from before the dispatch on every page a commit of it may have written. */
  #rollback(): void {
    const space = this.#space;
    const ps = space.pageSize;
    for (const [p, bytes] of this.#undo!) space.hostWrite(p * ps, (p + 1) * ps, () => space.host.write(p * ps, bytes));
    this.#undo!.clear();
  }

  /**
   * How the replay slice [lo, hi)'s first pass runs (FirstPass). `fast` when
   * it is expected to complete: its predicted pages (now resident) are at
   * least DEMAND_PREDICTED_COVERAGE of what the last slice touched, scaled to this
   * one's size, or — the grid in one slice — at least half the space's pages
   * are resident. Otherwise the slice is likely cold, and a first pass would
   * stall nearly every invocation: a stalled invocation costs what one that
   * completes does (on lavapipe every branch runs, masked), so a `sample`
   * (each workgroup's invocation 0) finds where they go at a fraction of the
   * cost, and the slice then runs whole, fresh, with completion words — after
   * a second sample when the first missed (DEMAND_SAMPLES): what its
   * invocations reach through the pages it missed (a gather's data behind its
   * indices) would otherwise stall a whole pass. `full`
   * — that fresh pass at once — where a sample cannot run: kernels that
   * synchronize a workgroup, workgroups of one invocation, small slices
   * (DEMAND_SAMPLE_MIN_WORKGROUPS).
   */
  #firstPass(lo: number, hi: number, predicted: readonly number[], history: readonly SliceFootprint[]): FirstPass {
    const space = this.#space;
    const last = history[history.length - 1];
    let warm: boolean;
    if (hi - lo === this.#prep.total) {
      warm = space.pool.frames.ownedCount(space.id) * 2 >= this.#allocatedPages();
    } else {
      const expected = last ? (last.pages.length * (hi - lo)) / (last.hi - last.lo) : Infinity;
      warm = predicted.length >= expected * DEMAND_PREDICTED_COVERAGE;
    }
    if (warm) return 'fast';
    const k = this.#prep.kernel;
    const [x, y, z] = k.workgroupSize;
    return k.workgroupSync || x * y * z === 1 || hi - lo < DEMAND_SAMPLE_MIN_WORKGROUPS ? 'full' : 'sample';
  }

  /**
   * What the slice after [lo, hi) — up to nextHi — is predicted to touch
   * beyond `current` (this slice's prediction), and which pages of the slices
   * before may go early to make room for it. Only when the history is a
   * stream that ends right before this slice, and no memory group limits the
   * pool (the fetch during the pass must take free frames, and a group's max
   * would have it evict).
   */
  #predictNext(history: readonly SliceFootprint[], lo: number, nextHi: number, current: readonly number[]): NextSlice | undefined {
    const space = this.#space;
    const last = history[history.length - 1];
    if (!last || last.hi !== lo || space.pool.groups.limited) return undefined;
    // The two slices as one span: its runs are this slice's, as long again.
    const span = space.policies.predictSlice(history, lo, nextHi);
    const keep = new Set(current);
    const pages = span.filter((p) => !keep.has(p));
    if (pages.length === 0) return undefined;
    for (const p of span) keep.add(p);
    return { pages, retire: space.policies.retiring(history).filter((p) => !keep.has(p)) };
  }

  /**
   * Before a slice's first pass: retire the stream's old pages (not `lock`,
   * the pages this round made resident for the slice) until the next slice's
   * predicted pages fit in free frames, and return the fetch of those pages
   * that runs while the pass does. It takes free frames only, with every
   * resident page of the space held: the pass may write any of them (REPLAY
   * stores land on every resident page), and what it wrote is known only when
   * its record is back — an eviction before that would drop the writes. The
   * fetched pages are not in the table the pass runs with (it was flushed
   * before the submit, and the copies queue behind the pass): the pass cannot
   * see them, so exactness does not depend on them. Best effort: a fetch that
   * finds no room (the pool shrank under memory pressure) fetches nothing.
   */
  async #makeRoom(next: NextSlice, lock: Uint32Array): Promise<(() => Promise<void>) | undefined> {
    const space = this.#space;
    const t = space.table;
    const frames = space.pool.frames;
    const missing = next.pages.filter((p) => !t.isResident(p));
    if (missing.length === 0) return undefined;
    const short = missing.length - frames.freeCount;
    if (short > 0) {
      const held = new Set(lock);
      const old = next.retire.filter((p) => !held.has(p) && t.isResident(p)).slice(0, short);
      if (old.length > 0) await retire(space, old, this.report);
    }
    // (Retired pages are none of the next slice's: `missing` is all still missing.)
    const fetch = missing.slice(0, frames.freeCount);
    if (fetch.length === 0) return undefined;
    return async () => {
      const held: number[] = [];
      for (let f = 0; f < frames.frameCount; f++) {
        if (frames.owner[f] !== space.id) continue;
        const p = frames.page[f]!;
        if (t.isResident(p) && t.frameOf(p) === f && !t.isLocked(p)) {
          t.lock(p);
          held.push(p);
        }
      }
      try {
        const before = this.report.pagesUploaded + this.report.pagesCleared;
        await makeResident(space, Uint32Array.from(fetch), this.report, 'demand', new Set(fetch));
        this.stats.pagesPredicted += this.report.pagesUploaded + this.report.pagesCleared - before;
      } catch (e) {
        if (!(e instanceof WorkingSetTooLargeError)) throw e;
      } finally {
        for (const p of held) t.unlock(p);
      }
    };
  }

  /** Run the slice [lo, hi) to completion; the pages its passes accessed. */
  async #runReplay(
    lo: number, hi: number, seeded: boolean, predicted: readonly number[], fresh: boolean, next: NextSlice | undefined, firstPass: FirstPass,
  ): Promise<Uint32Array> {
    const prep = this.#prep;
    const pc = this.#space.pageCount;
    const t = this.#space.table;
    let lock = seeded ? union(prep.readPages, prep.writePages) : EMPTY;
    const touched = new Set<number>();
    let toPredict = predicted;
    // Dispatched this way before (src/fault/footprints.ts): what the slice's passes accessed then comes in
    // first, as a prediction (held, in the room the lock leaves), and the first pass runs warm.
    // Measured: the `demand` case's gather, from cold data, 3 passes -> 1 (docs/benchmarks.md).
    const known = footprintsOf(this.#space, prep.kernel);
    const key = footprintKey(prep.grid, prep.args, lo, hi);
    const last = known.get(key);
    /** The slice's pages for its first pass: the lock and the footprint known (#makeRoom retires none of them). */
    let firstPages = lock;
    if (last && last.need.length > 0) {
      const direct = union(last.need, lock);
      if (direct.length <= this.#available(direct)) {
        toPredict = [...union(last.need, predicted)];
        firstPages = direct;
        firstPass = 'fast';
      }
    }
    let hints: readonly number[] = [];
    let missed: readonly number[] = [];
    /** Since the first round that took only part of what was needed: the fewest misses of a pass. */
    let fewest = Infinity;
    /** Misses of the last pass, and how many of them its partial round fetched (0: it was not partial). */
    let lastMisses = 0;
    let fetched = 0;
    /** Pages marked needed by any pass of this slice, and those the last partial round fetched. */
    const neededBefore = new Set<number>();
    let fetchedPages = new Set<number>();
    /**
     * Pages invocations stalled on in an earlier pass: an invocation whose page is still without a
     * frame when a pass runs skips itself (link.ts) and reports nothing, so its page stays missed.
     */
    let carried: readonly number[] = [];
    let first = true;
    /**
     * The last pass ran the first-pass variant (link.ts firstPass): over invocations that had not
     * run, with no completion record. After one that stalled, the next pass runs the whole slice
     * again, fresh, with the completing variant — the kernel is idempotent — and the rounds start
     * over from its record.
     */
    let optimistic = false;
    /** Sample passes run (DEMAND_SAMPLES), and whether the last pass was one that missed. */
    let samples = 0;
    let sampleMissed: boolean = false;
    const resampled = resamplingOf(this.#space, prep.kernel);
    for (;;) {
      this.#cancel?.check(); // a pass boundary: what completed workgroups wrote is marked, and stays
      await this.#fault(lock, hints, missed, toPredict);
      toPredict = [];
      // Not in a slice's first pass, nor in the fresh pass after a first-pass variant's: a slice that
      // was split off a larger one that failed has invocations that stalled on pages this run does not
      // know (they rerun, and say).
      const skip: boolean = this.#replayPerInvocation && !first && !optimistic;
      const waiting: readonly number[] = skip ? carried.filter((p) => !t.isResident(p)) : [];
      const runFresh: boolean = fresh && (first || optimistic);
      // A sample that missed is followed by another (up to DEMAND_SAMPLES), now that its misses are in,
      // while this kernel's second samples find something (resamplingOf).
      const resample: boolean = sampleMissed && samples < DEMAND_SAMPLES && resampled.worth();
      // A slice inside one that was cut reads the words its passes left: the completing variant.
      optimistic = (first && fresh && firstPass !== 'full') || resample;
      const sampled: boolean = optimistic && (resample || firstPass === 'sample');
      if (sampled) {
        samples++;
        this.stats.samples++;
      }
      const pipeline = sampled ? await prep.sampling!() : optimistic ? undefined : await prep.completing!();
      if (!optimistic) this.#wordsExact = true;
      const during = first && next ? await this.#makeRoom(next, firstPages) : undefined;
      const rec = await this.#pass(Mode.Replay, lo, hi, [], { skipWaiting: skip, fresh: runFresh, during, pipeline });
      first = false;
      this.stats.replays++;
      // Before any fault is serviced: what completed workgroups wrote must be written back if evicted.
      this.#markWritten(rec, bitmapPages(rec, pc, MAP_WRITTEN));
      this.#keepViolations(rec);
      const accessed = bitmapPages(rec, pc, MAP_ACCESSED);
      for (const p of accessed) touched.add(p);
      const ran = decodeFaults(rec, pc);
      const f: FaultBatch = waiting.length === 0 ? ran : { ...ran, misses: [...union(ran.misses, waiting)] };
      sampleMissed = sampled && f.misses.length > 0;
      if (sampled && samples > 1) resampled.heard(f.misses.length > 0);
      // A stalled invocation records its miss, or waits on one recorded before: no misses means
      // every workgroup completed.
      if (f.misses.length === 0) {
        if (!sampled) {
          const footprint = Uint32Array.from(touched).sort();
          // (One that does not fit the pool could never be fetched before a first pass.)
          if (footprint.length <= this.#available(footprint)) known.remember(key, footprint, EMPTY);
          else known.forget(key);
          return footprint;
        }
        // A sample that missed nothing: the whole slice runs next, on what the sample touched.
        lock = Uint32Array.from(accessed);
        hints = [];
        missed = [];
        continue;
      }
      carried = f.misses;
      this.#batch(f);
      hints = f.speculative;
      missed = f.misses;
      lock = union(accessed, f.misses);
      const available = this.#available(lock);
      // Resumable invocations (prelude: vm_save_u32) that got further count as progress although they
      // stalled again: a chase through a tree misses more pages as its lookups spread out.
      const advanced = rec[REC_ADVANCED]!;
      this.stats.resumedAdvances += advanced;
      if (fewest !== Infinity) {
        // After a partial round, progress is required, fitting or not: a partial round may evict
        // pages a stalled invocation needs again (it reruns from its start), and partial and
        // fitting rounds could then take turns for ever (found by the tree demo). So no pass may
        // miss more than the fewest since, and a partial round must have finished the invocations
        // of at least half the missed pages it fetched — unless resumable invocations advanced.
        if (advanced === 0 && (f.misses.length > fewest || (fetched > 0 && lastMisses - f.misses.length < fetched * DEMAND_PARTIAL_PROGRESS))) {
          throw new DoesNotFit(lock.length, available);
        }
        fewest = f.misses.length;
      }
      lastMisses = f.misses.length;
      fetched = 0;
      const fetchedLast = fetchedPages;
      fetchedPages = new Set();
      if (lock.length <= available) continue;
      // More than fits at once. When the stalled invocations have more pages ahead than the ones
      // they stalled on (hints outnumber misses: each needs several pages at once, a grid-stride
      // loop), a round of what fits finishes few of them: slice the grid by the footprint known.
      // (Not after a sample: its footprint is a workgroup's invocation 0's, too small to size parts by —
      // what fits comes in, and the whole slice's pass that follows tells.)
      const ahead = hints.filter((p) => !t.isResident(p)).length;
      if (ahead > f.misses.length && !sampled) throw new DoesNotFit(lock.length + ahead, available);
      // Otherwise finished invocations skip themselves from now on, so what fits is worth a pass:
      // the resident pages the stalled ones need again, then their misses (the pass accessed
      // more — finished invocations' pages, which the next pass no longer touches). Invocations
      // whose pages all made it finish, and their pages stop counting.
      // Needed again: what the stalled invocations that ran marked, and what this pass accessed that
      // was needed before (pages of invocations that skipped themselves — they run only once the
      // page they stalled on is back — such as a table every invocation reads first).
      // The pages the last partial round fetched are out of that second set: their invocations ran
      // this pass, and marked what they still need if they stalled again.
      const neededNow = [...union(bitmapPages(rec, pc, MAP_NEEDED), waiting)];
      const keep = union(neededNow, accessed.filter((p) => neededBefore.has(p) && !fetchedLast.has(p)));
      for (const p of neededNow) neededBefore.add(p);
      lock = this.#partialLock(f.misses, keep, Math.max(1, Math.floor(available * DEMAND_SLICE_FILL)), prep.kernel.resumes === true ? new Set(accessed) : undefined);
      fetchedPages = new Set(lock.filter((p) => !t.isResident(p)));
      fetched = fetchedPages.size;
      // Room only for pages already here: no round can move the slice on (found by a test of a slice
      // cut from a sample's footprint, whose partial and whole rounds took turns for ever).
      if (fetched === 0) throw new DoesNotFit(lock.length + f.misses.length, available);
      // (After a first-pass variant's pass the next one reruns the whole slice: progress is judged from it.)
      if (fewest === Infinity && !optimistic) fewest = f.misses.length;
    }
  }

  /**
   * At most `room` pages for a partial round: first the resident pages the
   * stalled invocations still need (MAP_NEEDED: what they touched up to their
   * stall and after it — they run again from the start), then their misses.
   */
  #partialLock(misses: readonly number[], needed: Iterable<number>, room: number, hot?: ReadonlySet<number>): Uint32Array {
    const t = this.#space.table;
    const take = new Set<number>();
    if (hot) {
      // Resumable invocations (prelude: vm_save_u32) each need little: the page they resume on and
      // what they read from the top (a table of heads every one reads). That table first — needed
      // pages the last pass touched — then the rest, leaving half the room to the misses: each
      // stalled invocation's resume page is needed, and more of them than the room would leave no
      // miss a frame (found: a table page dropped, every invocation stalled on it, none got further).
      const list = [...needed];
      for (const p of list) if (take.size < room && hot.has(p) && t.isResident(p)) take.add(p);
      const reserve = Math.min(misses.length, room >> 1);
      for (const p of list) if (take.size < room - reserve && t.isResident(p)) take.add(p);
    } else {
      for (const p of needed) {
        if (take.size >= room) break;
        if (t.isResident(p)) take.add(p);
      }
    }
    for (const p of misses) {
      if (take.size >= room) break;
      take.add(p);
    }
    return Uint32Array.from(take).sort();
  }

  /**
   * How this dispatch's commits in place of a clean probe went, after a slice's first probe that
   * missed (`eager`) and after its second (`late`): each tried while at least half of its last
   * tries completed (Outcomes).
   */
  readonly #optimism = { eager: new Outcomes(), late: new Outcomes() };

  /** Transactions by rounds need a word per invocation, and invocations that can run apart. */
  #roundsApply(): boolean {
    return !this.#replay && this.#prep.rounds !== undefined && wordPerInvocation(this.#prep.kernel, this.#prep.total);
  }

  /**
   * A sliced transaction by rounds: the slice [lo, hi) — the rest of the grid — in rounds of a
   * probe and a commit, with the invocation as the unit a commit takes. The probe runs every
   * invocation not done and marks those that ran without a miss with the round (a word per
   * invocation: src/kernel/link.ts rounds); the commit runs only those, snapshot and abort as
   * always (its invocations saw only resident pages in the probe; one that goes elsewhere in the
   * commit aborts it, and the next probe runs them again). Then the round's misses come in, in
   * the room there is, and the next round begins. WebGPU promises nothing about which
   * invocations of a dispatch run together, so any subset committing first is a clean run, as
   * long as no invocation waits on another of its workgroup (no barriers: #roundsApply).
   *
   *   round r:  fault-in (misses of r-1, hints)  →  PROBE (marks r)  →  COMMIT (runs marks r)
   *             kept: marks r are done             aborted: restore; marks r run again (lost_round)
   *
   * Workgroup slices of the Graph500 BFS at 4x held two or three workgroups each (about 60 pages
   * of adjacency a workgroup of its own, in 264 frames), each slice two to three passes; a round
   * takes every invocation whose pages are in. Progress: ROUNDS_IDLE rounds in a row that commit
   * nothing or few (ROUNDS_POOR), or ROUNDS_MAX rounds, give the rest to parts, each again by
   * rounds (DoesNotFit). The pages every pass touched; the dispatch's completion words are left set
   * (markCompletionDirty).
   */
  async #runRounds(lo: number, hi: number, seeded: boolean, predicted: readonly number[], hotWrites: readonly number[], hot: readonly number[]): Promise<Uint32Array> {
    const prep = this.#prep;
    const space = this.#space;
    const pc = space.pageCount;
    const t = space.table;
    const [x, y, z] = prep.kernel.workgroupSize;
    if (!this.#marksReady) {
      // Once a dispatch: the marks of its earlier rounds say which invocations are done.
      const res = PassResources.of(space);
      await res.ensureCompletionWords(prep.total * x * y * z);
      res.markCompletionDirty(); // the marks stay set after the dispatch
      this.#marksReady = true;
    }
    const pipeline = await prep.rounds!();
    const writeSet = new Set<number>(seeded ? prep.writePages : []);
    let lock = seeded ? union(prep.readPages, prep.writePages) : EMPTY;
    let ahead = predicted;
    let hints: readonly number[] = [];
    let missed: readonly number[] = [];
    const touched = new Set<number>();
    const invocations = (hi - lo) * x * y * z;
    /** Pages most rounds accessed (a table every invocation reads, the frontier it walks): kept first. */
    const heat = new SliceHeat(hot);
    let idle = 0;
    try {
      for (let n = 0; ; n++) {
        this.#cancel?.check(); // a pass boundary: probes stored nothing, an aborted commit was restored
        await this.#fault(lock, hints, missed, ahead);
        ahead = [];
        const round = ++this.#rounds;
        const rec = await this.#pass(Mode.Probe, lo, hi, writeSet, { pipeline, round, lostRound: this.#lostRound });
        // Until its commit is kept, this round's marks are not done (a probe marks every invocation it runs).
        this.#lostRound = round;
        this.stats.probes++;
        const f = decodeFaults(rec, pc);
        for (const p of f.writes) writeSet.add(p);
        const accessed = bitmapPages(rec, pc, MAP_ACCESSED);
        for (const p of accessed) touched.add(p);
        const ready = rec[REC_READY]!;
        let misses: readonly number[] = f.misses;
        let speculative: readonly number[] = f.speculative;
        if (ready > 0) {
          // The clean invocations' pages are resident (the probe accessed them); writes to pages without a frame are the stalled ones'.
          const writes = new Set<number>();
          for (const p of writeSet) if (t.isResident(p)) writes.add(p);
          // The page after each run of the writes and the hot writes come along, as in #runTransaction.
          const commit = (need: Uint32Array) => this.#commit(lo, hi, need, writes, [...union(this.#space.policies.writeAhead(writes), hotWrites)], { pipeline, round });
          let need = union(accessed, writes);
          let aborted = await commit(need);
          // The same invocations again, with what the aborted commit missed and wrote: their appends ran
          // past the pages the probe saw (every invocation of a probe takes the counter's value as it
          // was), and the same claims make as many appends again. Up to ROUNDS_RECOMMIT times.
          for (let k = 0; aborted && k < ROUNDS_RECOMMIT; k++) {
            const again = union(need, aborted.misses, aborted.writes);
            if (again.length > this.#available(again)) break;
            this.#batch(aborted);
            for (const p of aborted.writes) {
              writeSet.add(p);
              writes.add(p);
            }
            need = again;
            aborted = await commit(need);
          }
          if (aborted) {
            this.#batch(aborted);
            for (const p of aborted.writes) writeSet.add(p);
            misses = [...union(misses, aborted.misses)];
            speculative = [...union(speculative, aborted.speculative)];
            idle++;
          } else {
            this.#lostRound = 0;
            // A round that took fewer than one in ROUNDS_POOR of the slice's invocations counts as idle:
            // what is left needs more pages at once than a round brings (the BFS's high-degree vertices).
            idle = ready * ROUNDS_POOR >= invocations ? 0 : idle + 1;
            if (f.misses.length === 0) return Uint32Array.from(touched).sort();
          }
        } else {
          this.#lostRound = 0; // (no mark of this round: nothing to lose)
          if (f.misses.length === 0) return Uint32Array.from(touched).sort(); // nothing left to run
          idle++;
        }
        if (f.misses.length > 0) this.#batch(f);
        const available = this.#available(EMPTY);
        // Rounds that stopped progressing give the rest to parts. A single workgroup has no parts: its
        // rounds go on while what they want fits (each round then brings every page its pending
        // invocations missed, so each gets further, as #runTransaction's probes do), and only a working
        // set that does not fit is reported as one (found: a lone invocation chasing dependent pages, a
        // round each, was reported as too large for the pool with 12 pages of 32 wanted).
        const want = union(misses, accessed);
        const lone = hi - lo === 1;
        if ((idle >= ROUNDS_IDLE || n >= ROUNDS_MAX) && !(lone && want.length <= available)) {
          throw new DoesNotFit(want.length, available);
        }
        // What the probe accessed (the pending invocations' pages before their miss: a table they all
        // read) and its misses, in the room there is: the rounds' hot pages that are resident and the
        // accessed pages first, up to three quarters of it (so that the misses' fetch does not evict the
        // table every invocation needs — measured on the BFS, misses first made rounds that completed
        // nothing), then the misses, then the rest of the accessed pages.
        heat.heard(accessed);
        if (want.length <= available) {
          lock = want;
        } else {
          const take = new Set<number>();
          const room = Math.max(1, Math.floor(available * DEMAND_SLICE_FILL));
          const keep = room - (room >> 2);
          for (const p of heat.hot()) if (take.size < keep && t.isResident(p)) take.add(p);
          for (const p of accessed) if (take.size < keep) take.add(p);
          for (const p of misses) if (take.size < room) take.add(p);
          for (const p of accessed) if (take.size < room) take.add(p);
          lock = Uint32Array.from(take).sort();
        }
        hints = speculative;
        missed = misses;
      }
    } catch (e) {
      // Leaving for parts: a lost round's marks are forgotten first — the parts each probe only their
      // own invocations, and would take the others' marks for done (found by the property test: 19,008
      // of 23,553 updates never applied).
      if (e instanceof DoesNotFit && this.#lostRound !== 0) {
        await this.#pass(Mode.Probe, lo, hi, EMPTY, { pipeline, round: 0, lostRound: this.#lostRound });
        this.#lostRound = 0;
      }
      throw e;
    }
  }

  /** Rounds of #runRounds so far in this dispatch: each marks invocations with its own number. */
  #rounds = 0;
  /** The completion words are zeroed for this dispatch's rounds (once: later slices read the marks). */
  #marksReady = false;
  /** The round whose marks are not done: its commit was aborted or not run (0: none; abi.ts lost_round). */
  #lostRound = 0;

  /** Run the slice [lo, hi) to its one clean commit; the pages that commit needed. */
  async #runTransaction(lo: number, hi: number, seeded: boolean, predicted: readonly number[], hotWrites: readonly number[] = []): Promise<Uint32Array> {
    const prep = this.#prep;
    const pc = this.#space.pageCount;
    const writeSet = new Set<number>(seeded ? prep.writePages : []);
    let lock = seeded ? union(prep.readPages, prep.writePages) : EMPTY;
    let ahead = predicted;
    let hints: readonly number[] = [];
    let missed: readonly number[] = [];
    const known = footprintsOf(this.#space, prep.kernel);
    const key = footprintKey(prep.grid, prep.args, lo, hi);
    const remember = (need: Uint32Array): Uint32Array => {
      known.remember(key, need, Uint32Array.from(writeSet).sort());
      return need;
    };
    const last = known.get(key);
    /**
     * Dispatched this way before: the first round commits at once on what the last clean commit
     * needed and wrote (and the declared hints), with no probe; an abort falls back to probing.
     */
    let direct: Uint32Array | undefined = last ? union(last.need, lock) : undefined;
    if (direct && direct.length > this.#available(direct)) direct = undefined;
    if (direct) for (const p of last!.writes) writeSet.add(p);
    /** Probes of this slice that missed, and whether the next round commits without probing. */
    let missedProbes = 0;
    let optimistic = false;
    let triedBy: Outcomes | undefined;
    for (;;) {
      this.#cancel?.check(); // a pass boundary: probes stored nothing, an aborted commit was restored
      let need: Uint32Array;
      let tried = false;
      if (direct) {
        need = direct;
        direct = undefined;
        // The predicted pages come in along with it; otherwise the commit makes `need` resident itself.
        if (ahead.length > 0) await this.#fault(need, [], [], ahead);
        ahead = [];
      } else {
        await this.#fault(lock, hints, missed, ahead);
        ahead = [];
        if (optimistic) {
          // The commit stands in for the clean probe: it aborts on a miss, and its record then serves as one.
          optimistic = false;
          tried = true;
          need = union(lock, writeSet);
        } else {
          const rec = await this.#pass(Mode.Probe, lo, hi, writeSet);
          this.stats.probes++;
          const f = decodeFaults(rec, pc);
          for (const p of f.writes) writeSet.add(p);
          const accessed = bitmapPages(rec, pc, MAP_ACCESSED);
          if (f.misses.length > 0) {
            this.#batch(f);
            lock = union(accessed, f.misses);
            hints = f.speculative;
            missed = f.misses;
            missedProbes++;
            // After a probe that missed, the next round may commit without probing first. After the second,
            // always (tried while most complete). After the first, in a sliced dispatch only, and only while
            // the pages the slices write are the hot ones (#hotCovered): a stalled invocation reports no
            // writes, so the commit's write set is the other invocations' and the hot writes. It completes
            // when the probe's stalled invocations had nothing left to find behind their miss — a slice
            // whose tables are resident (held across slices: SliceHeat) and whose misses are the lists it
            // reads; where they stopped short of the pages their next reads depend on (a chain of
            // dependent misses) it aborts.
            triedBy = missedProbes === 1 ? this.#optimism.eager : this.#optimism.late;
            optimistic = (missedProbes >= 2 || (this.#undo !== undefined && this.#hotCovered)) && triedBy.worth();
            continue;
          }
          // A clean probe: everything it touched is resident, and the write set is known.
          need = union(accessed, writeSet);
        }
      }
      // The page after each run of the write set joins it for this commit, fetched like a hint (where
      // there is room): an append (a slot from an atomic counter) runs past what the probe saw, whose
      // slots were all the same.
      // So do the pages most slices before this one wrote (`hotWrites`): a commit in place of a clean
      // probe knows only the writes of the invocations that did not stall.
      const past = this.#space.policies.writeAhead(writeSet);
      const aborted = await this.#commit(lo, hi, need, writeSet, hotWrites.length > 0 ? [...union(past, hotWrites)] : past);
      if (tried) triedBy!.heard(!aborted);
      if (!aborted) return remember(need);
      this.#batch(aborted);
      for (const p of aborted.writes) writeSet.add(p);
      lock = union(need, aborted.misses);
      hints = aborted.speculative;
      missed = aborted.misses;
      // An aborted commit's record is a probe's: in a sliced dispatch, the next round may commit at once too.
      missedProbes++;
      triedBy = this.#optimism.late;
      optimistic = this.#undo !== undefined && triedBy.worth();
    }
  }

  /**
   * The last sliced transaction's writes were mostly hot writes it was given (at most one in
   * HOT_UNCOVERED beyond them): a graph search's claims, not a stream's in-place updates, whose
   * pages move with the slice and which a first probe's stalled invocations do not report.
   */
  #hotCovered = false;

  /** What the last commit that was kept accessed and wrote (what a slice heard by SliceHeat did). */
  #kept: { readonly accessed: Uint32Array; readonly written: Uint32Array } = { accessed: EMPTY, written: EMPTY };

  /** Snapshot, commit; on abort restore and return what the commit recorded. */
  async #commit(lo: number, hi: number, need: Uint32Array, writeSet: ReadonlySet<number>, ahead: readonly number[] = [], via: ReplayPass = {}): Promise<FaultBatch | undefined> {
    const space = this.#space;
    this.#cancel?.check(); // after a clean probe: nothing of this slice written yet
    const available = this.#available(need);
    if (need.length > available) throw new DoesNotFit(need.length, available);
    // The write set, and the pages it may run on to (`ahead`: writable when there was room to fetch them).
    const writes = union(writeSet, ahead);
    const t = space.table;
    // The snapshot of the device-dirty pages on the device (migrate/device-snapshot.ts), or written
    // home when the device cannot hold it. A sliced dispatch's undo log keeps each page's host copy
    // from before the dispatch, so a page this commit is the first of the dispatch to write goes home
    // first; a page already in the log (an earlier slice wrote it) needs only this commit's snapshot,
    // on the device. Measured on the Graph500 BFS at 4x, where every slice writes the parent pages
    // again: every commit wrote them home, a read-back round trip before each of a level's 69-98 commits.
    const logged = this.#undo;
    const first = logged ? writes.filter((p) => !logged.has(p)) : EMPTY;
    let dirty = 0;
    for (const p of writes) if (t.stateOf(p) === PageState.Device && (!logged || logged.has(p))) dirty++;
    const onDevice = dirty > 0 ? await snapshotBuffer(space, dirty) : undefined;
    const home = onDevice || dirty === 0 ? first : writes;
    for (;;) {
      const seq = this.#sub.readBegin();
      if (home.length > 0) this.stats.snapshotPages += await writeBackPages(space, home, 'snapshot');
      await this.#fault(need, ahead);
      if (!this.#sub.readRetry(seq)) break;
      this.retries++;
    }
    if (logged) {
      const ps = space.pageSize;
      for (const p of first) if (!logged.has(p)) logged.set(p, space.host.slice(p * ps, ps));
    }
    // After the last fault-in: the pages keep these frames until the commit is kept or restored. (The
    // pages written home above are not Device any more: they come back from the host.)
    // Resident ones only: a page of `ahead` is not held by the fault-in, and one it evicted is InFlight
    // (Device, no frame) until its write-back lands; the commit cannot write it (found by the soak).
    const snap = onDevice ? takeDeviceSnapshot(space, onDevice, writes.filter((p) => t.stateOf(p) === PageState.Device && t.isResident(p))) : undefined;
    if (snap) this.stats.snapshotPages += snap.pages.size;
    let rec: Uint32Array;
    try {
      rec = await this.#pass(Mode.Commit, lo, hi, writes, via);
    } catch (e) {
      // The pass may have run in part: the device copies go back to the snapshot.
      await this.#restore(writes, snap).catch(() => undefined);
      throw e;
    }
    this.stats.commits++;
    const f = decodeFaults(rec, space.pageCount);
    if (this.#cancel?.aborted) {
      // Aborted while the commit ran: undone as an aborted commit is (the host copy is the snapshot);
      // run()'s catch then replays the undo log of a sliced dispatch.
      const wrote = writes.filter((p) => !this.#stale.has(p) && testBit(rec, space.pageCount, MAP_WRITTEN, p));
      this.stats.restoredPages += await this.#restore(wrote, snap);
      this.#cancel.check();
    }
    if (!f.aborted) {
      this.#markWritten(rec, writes);
      this.#keepViolations(rec);
      this.#kept = { accessed: Uint32Array.from(bitmapPages(rec, space.pageCount, MAP_ACCESSED)), written: writes.filter((p) => testBit(rec, space.pageCount, MAP_WRITTEN, p)) };
      return undefined;
    }
    this.stats.aborts++;
    space.pool.counters.aborts++;
    const touched = writes.filter((p) => !this.#stale.has(p) && testBit(rec, space.pageCount, MAP_WRITTEN, p));
    this.stats.restoredPages += await this.#restore(touched, snap);
    return f;
  }

  /** Put back what a commit may have written: from the device snapshot where it took the page, else from the host. */
  async #restore(pages: Uint32Array, snap: DeviceSnapshot | undefined): Promise<number> {
    if (!snap) return restoreFromHost(this.#space, pages);
    const fromHost = pages.filter((p) => !snap.pages.has(p));
    return snap.restore(pages) + (await restoreFromHost(this.#space, fromHost));
  }
}

/** Run a checked demand dispatch: see the protocol at the top of this file. */
export async function dispatchDemand(space: SpaceCore, checked: Checked, journal: DirtyJournal, order: DispatchOrder): Promise<DispatchResult> {
  const t0 = performance.now();
  const kernel = checked.kernel;
  const prep = await prepare(space, checked);
  await order.after;
  const cancel = order.cancel;
  cancel?.check(); // aborted while it waited for its turn or compiled: nothing done
  const run = new DemandRun(space, prep, journal, cancel);
  if (prep.total > 0) {
    await space.pool.withLock(async () => {
      try {
        space.check();
        cancel?.check(); // aborted while it waited for the lock
        cancel?.begin(); // from here it stops at pass boundaries, undoing what it must
        checkBypass(space, kernel.label);
        await run.run();
      } finally {
        run.close(); // also when refused before the first pass: its notifier subscription goes
      }
      space.pool.counters.dispatches++;
      // What the passes evicted has landed at home by now (queue order): let it finalize.
      await space.pool.settleWriteBacks();
    });
  } else {
    run.close();
  }
  if (run.violationCount > 0) {
    const bus = space.pool.events;
    if (bus.active) bus.emit({ type: 'violation', time: performance.now(), space: space.label, spaceId: space.id, kernel: kernel.label, count: run.violationCount });
    throw new AccessViolationError(kernel.label, run.violations, run.violationCount);
  }
  reportUnexpectedFaults(space, kernel.label, [...run.broughtIn]);
  return {
    mode: kernel.idempotent ? 'replay' : 'transaction',
    ...run.report, retries: run.retries, ms: performance.now() - t0, demand: { ...run.stats },
  };
}
