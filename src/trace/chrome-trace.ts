// Trace export: the event stream as Chrome Trace Event JSON, which Perfetto
// (ui.perfetto.dev) and chrome://tracing open. A listener like the ledger: it
// changes nothing and only costs while recording.
//
// Layout: one process per address space ("space <label>") with three tracks —
//   host        host operations (write, read, views, pins, alloc/free) and
//               whole dispatches, as spans; invalidations and strict-mode
//               reports as instants
//   queue       passes as spans from submit to the record read back
//               (declared, probe, commit, replay; aborted commits flagged);
//               violations as instants
//   migrations  copies as spans named by direction and cause, with pages and
//               bytes; evictions and fault batches as instants
// and counters "resident bytes" (pages with a frame) and "dirty bytes"
// (device-only, including pages on their way home) per space,
// sampled from the page table after every event that can change them; one
// more process, the pool, carries the "frames used" counter and, on its
// "pressure" track, memory pressure (high water, eviction storms, thrashing)
// as instants.
//
// Concurrency: spans of one track overlap whenever work runs concurrently — a
// read issued before an earlier write finished, two unawaited dispatches, the
// passes of pipelined dispatches, an eviction's write-back landing while the
// next pages come in. Complete ("X") events on one thread must nest, and these
// do not: Perfetto cuts or drops the one that does not fit and chrome://tracing
// draws it over its neighbour. So each track is a set of lanes — thread tracks
// "host", "host (2)", … — and a span goes to the lowest lane whose last span
// ended by the time it began. No two spans on a lane overlap at all, not even
// by containment: nothing on one of these tracks is a step of another span on
// the same track (a dispatch's passes are on the queue track, its copies on
// the migrations track), so a write inside an unawaited dispatch's time is
// concurrent with it, not part of it, and should not be drawn as its child.
// Work done one operation at a time stays on the first lane, as before.
//   Why lanes and not async (b/e) events with ids: the JSON format cannot name
// an async track (Perfetto takes the first event's name, chrome://tracing
// lists them apart from the threads), and how viewers group them has changed
// from version to version; lanes are ordinary named threads that both viewers
// draw the same way, next to each other (thread_sort_index), queryable by name
// in Perfetto's SQL, and X events keep the trace half the size of b/e pairs.
// Instants stay on a track's first lane: they cannot break nesting.
//
// Timestamps are performance.now() in microseconds, so a trace lines up with
// other performance.now() marks of the same process. A span that was already
// under way when recording started begins at the start of the recording, with
// `beganBeforeTrace`: if nobody listened then, its start was never taken (0),
// and drawn as it was it would stretch the trace back to the process's start.

import { InvalidArgumentError } from '../errors.ts';
import type { Pool } from '../device/pool.ts';
import { spacePool, type SpacePool } from '../space/state.ts';
import { NO_FRAME, PageState } from '../space/page-table.ts';
import type { HmmEvent } from '../events.ts';
import { DISPOSE } from '../lifetime.ts';

/** One record of the Trace Event Format (the subset written here). */
export interface TraceEvent {
  /** What the record shows (a span's or instant's label, a counter's or metadata record's name). */
  readonly name: string;
  /** Phase: `'X'` complete span, `'i'` instant, `'C'` counter, `'M'` metadata (process and thread names). */
  readonly ph: 'X' | 'i' | 'C' | 'M';
  /** Timestamp in microseconds (`performance.now()` × 1000; 0 for metadata). */
  readonly ts: number;
  /** Process: 0 the pool, else one per address space. */
  readonly pid: number;
  /** Thread: a track (host, queue, migrations, pressure) or one of its lanes. */
  readonly tid?: number;
  /** A span's duration in microseconds (`'X'` only). */
  readonly dur?: number;
  /** Category, for filtering in the viewer. */
  readonly cat?: string;
  /** An instant's scope: `'t'` thread, `'p'` process, `'g'` global (instants here use `'t'`). */
  readonly s?: 't' | 'p' | 'g';
  /** The record's details (pages, bytes, cause, …). */
  readonly args?: Readonly<Record<string, unknown>>;
}

/** A whole trace in the Trace Event Format's JSON object form: `JSON.stringify` it and open it in ui.perfetto.dev or chrome://tracing. */
export interface ChromeTrace {
  /** The records, metadata first. */
  readonly traceEvents: readonly TraceEvent[];
  /** How viewers display times. */
  readonly displayTimeUnit: 'ms';
  /** About the recording: producer, pool label, pageSize, capacity, startedAtMs, dropped. */
  readonly otherData: Readonly<Record<string, string | number>>;
}

/** A recording of a pool's events as a Chrome trace, from {@link recordTrace}. */
export interface TraceRecorder {
  /** Records kept so far (metadata included). */
  readonly eventCount: number;
  /** Records not kept because `maxEvents` was reached. */
  readonly dropped: number;
  /** The trace so far, ready for JSON.stringify. */
  toJSON(): ChromeTrace;
  /** Stop listening; the trace stays readable. */
  stop(): void;
  /** `using rec = recordTrace(pool)`: stop() when the scope ends (`await using` works too). */
  [Symbol.dispose](): void;
}

/** Options of {@link recordTrace}. */
export interface TraceOptions {
  /** Keep at most this many records (default 1 000 000, about 200 MB of JSON); later ones are counted as dropped. */
  maxEvents?: number;
}

const TID_HOST = 1;
const TID_QUEUE = 2;
const TID_MIGRATIONS = 3;
const POOL_PID = 0;
/** The pool process's one track: memory pressure. */
const TID_PRESSURE = 1;
const TRACKS: [number, string][] = [[TID_HOST, 'host'], [TID_QUEUE, 'queue submissions'], [TID_MIGRATIONS, 'migrations']];
const TRACK_NAME = new Map(TRACKS);
/** Lane k (from 0) of the track with tid `base` is thread base + k·TRACKS.length: lane 0 keeps the track's own tid. */
const laneTid = (base: number, lane: number) => base + lane * TRACKS.length;
/** Lanes sort under their track: thread_sort_index base·LANE_SORT + lane. */
const LANE_SORT = 1000;

const us = (ms: number) => Math.round(ms * 1000);

class Recorder implements TraceRecorder {
  readonly #pool: SpacePool;
  readonly #off: () => void;
  readonly #max: number;
  readonly #events: TraceEvent[] = [];
  readonly #named = new Set<number>();
  /** Per pid and track (its base tid): the latest end (µs) of a span on each lane. */
  readonly #lanes = new Map<number, Map<number, number[]>>();
  readonly #started = performance.now();
  #dropped = 0;

  constructor(pool: SpacePool, max: number) {
    this.#pool = pool;
    this.#max = max;
    this.#push({ name: 'process_name', ph: 'M', ts: 0, pid: POOL_PID, args: { name: `pool ${pool.options.label}` } });
    this.#push({ name: 'process_sort_index', ph: 'M', ts: 0, pid: POOL_PID, args: { sort_index: 0 } });
    this.#push({ name: 'thread_name', ph: 'M', ts: 0, pid: POOL_PID, tid: TID_PRESSURE, args: { name: 'pressure' } });
    this.#off = pool.events.on((e) => this.#hear(e));
  }

  get eventCount(): number { return this.#events.length; }
  get dropped(): number { return this.#dropped; }

  #push(e: TraceEvent): void {
    if (this.#events.length < this.#max) this.#events.push(e);
    else this.#dropped++;
  }

  /** Name a space's process and tracks the first time it appears. */
  #name(pid: number, label: string): void {
    if (this.#named.has(pid)) return;
    this.#named.add(pid);
    this.#push({ name: 'process_name', ph: 'M', ts: 0, pid, args: { name: `space ${label}` } });
    this.#push({ name: 'process_sort_index', ph: 'M', ts: 0, pid, args: { sort_index: pid } });
    for (const [tid, name] of TRACKS) {
      this.#push({ name: 'thread_name', ph: 'M', ts: 0, pid, tid, args: { name } });
      this.#push({ name: 'thread_sort_index', ph: 'M', ts: 0, pid, tid, args: { sort_index: tid * LANE_SORT } });
    }
    this.#lanes.set(pid, new Map(TRACKS.map(([tid]) => [tid, [0]])));
  }

  /**
   * The thread for a span [ts, end] (µs) on track `base` of `pid`: the lowest lane
   * whose spans all ended by `ts`, or a new lane, named when first used.
   */
  #lane(pid: number, base: number, ts: number, end: number): number {
    const ends = this.#lanes.get(pid)!.get(base)!;
    let lane = ends.findIndex((e) => e <= ts);
    if (lane < 0) {
      lane = ends.length;
      const tid = laneTid(base, lane);
      this.#push({ name: 'thread_name', ph: 'M', ts: 0, pid, tid, args: { name: `${TRACK_NAME.get(base)!} (${lane + 1})` } });
      this.#push({ name: 'thread_sort_index', ph: 'M', ts: 0, pid, tid, args: { sort_index: base * LANE_SORT + lane } });
    }
    ends[lane] = Math.max(ends[lane] ?? 0, end);
    return laneTid(base, lane);
  }

  #span(pid: number, track: number, name: string, cat: string, start: number, end: number, args: Record<string, unknown>): void {
    const before = start < this.#started;
    const ts = us(before ? this.#started : start);
    const te = Math.max(ts, us(end));
    const tid = this.#lane(pid, track, ts, te);
    this.#push({ name, cat, ph: 'X', ts, dur: te - ts, pid, tid, args: before ? { ...args, beganBeforeTrace: true } : args });
  }

  #instant(pid: number, tid: number, name: string, cat: string, time: number, args: Record<string, unknown>): void {
    this.#push({ name, cat, ph: 'i', s: 't', ts: us(time), pid, tid, args });
  }

  /** Resident and device-only bytes of a space now, and the pool's frames in use. */
  #counters(pid: number, time: number): void {
    const space = this.#pool.spaces.get(pid);
    if (space) {
      const t = space.table;
      let resident = 0;
      let dirty = 0;
      t.forEachTouched(0, t.pageCount, (a, b) => {
        for (let p = a; p < b; p++) {
          if (t.stateOf(p) === PageState.Device) dirty++;
          if (t.frameOf(p) !== NO_FRAME) resident++;
        }
      });
      const ps = space.pageSize;
      this.#push({ name: 'resident bytes', ph: 'C', ts: us(time), pid, args: { resident: resident * ps } });
      this.#push({ name: 'dirty bytes', ph: 'C', ts: us(time), pid, args: { dirty: dirty * ps } });
    }
    const f = this.#pool.frames;
    this.#push({ name: 'frames used', ph: 'C', ts: us(time), pid: POOL_PID, args: { frames: f.frameCount - f.freeCount } });
  }

  #hear(e: HmmEvent): void {
    if (e.type === 'pressure') {
      // A condition of the pool, not of the space whose event revealed it: an instant on the pool's process.
      this.#push({
        name: `pressure: ${e.kind}${e.phase === 'end' ? ' (end)' : ''}`, cat: 'pressure', ph: 'i', s: 't', ts: us(e.time), pid: POOL_PID, tid: TID_PRESSURE,
        args: { ...(e.group === undefined ? {} : { group: e.group }), usedBytes: e.usedBytes, limitBytes: e.limitBytes, pages: e.pages, space: e.space },
      });
      return;
    }
    const pid = e.spaceId;
    this.#name(pid, e.space);
    switch (e.type) {
      case 'host':
        this.#span(pid, TID_HOST, e.op, 'host', e.start, e.time, { addr: e.addr, byteLength: e.byteLength, ...(e.label ? { label: e.label } : {}) });
        if (e.op === 'free' || e.op === 'write' || e.op === 'view-write') this.#counters(pid, e.time);
        return;
      case 'dispatch':
        this.#span(pid, TID_HOST, `dispatch ${e.kernel}`, 'dispatch', e.start, e.time, { mode: e.mode, ...(e.error ? { error: e.error } : {}) });
        return;
      case 'invalidation':
        this.#instant(pid, TID_HOST, 'invalidate', 'notifier', e.time, {
          addr: e.addr, byteLength: e.byteLength, pagesDropped: e.pagesDropped, pagesWrittenThrough: e.pagesWrittenThrough,
        });
        this.#counters(pid, e.time);
        return;
      case 'pass':
        this.#span(pid, TID_QUEUE, `${e.mode}${e.aborted ? ' (aborted)' : ''}`, 'pass', e.start, e.time, { kernel: e.kernel, workgroups: e.workgroups, aborted: e.aborted });
        this.#counters(pid, e.time);
        return;
      case 'violation':
        this.#instant(pid, TID_QUEUE, 'violation', 'error', e.time, { kernel: e.kernel, count: e.count });
        return;
      case 'migration':
        this.#span(pid, TID_MIGRATIONS, `${e.direction} (${e.cause})`, 'migration', e.start, e.time, {
          pages: e.pages, bytes: e.bytes, cleared: e.cleared, firstPage: e.pageList[0] ?? e.clearedList[0] ?? -1,
        });
        this.#counters(pid, e.time);
        return;
      case 'eviction':
        this.#instant(pid, TID_MIGRATIONS, 'eviction', 'eviction', e.time, { pages: e.pages, writebacks: e.writebacks, drops: e.drops });
        this.#counters(pid, e.time);
        return;
      case 'fault-batch':
        this.#instant(pid, TID_MIGRATIONS, 'fault batch', 'fault', e.time, { kernel: e.kernel, misses: e.misses, hints: e.hints, writes: e.writes });
        return;
      case 'unexpected-fault':
        this.#instant(pid, TID_HOST, 'unexpected fault', 'strict', e.time, { kernel: e.kernel, pages: e.pages });
        return;
      case 'bypass':
        this.#instant(pid, TID_HOST, 'host write bypassed the runtime', 'strict', e.time, { kernel: e.kernel, ranges: e.ranges });
        return;
      case 'thrashing':
        this.#instant(pid, TID_MIGRATIONS, 'thrashing', 'policy', e.time, {
          addr: e.addr, byteLength: e.byteLength, migrations: e.migrations, lapseMs: e.lapseMs, mitigation: e.mitigation, pinMs: e.pinMs,
        });
        return;
    }
  }

  toJSON(): ChromeTrace {
    return {
      traceEvents: this.#events.slice(),
      displayTimeUnit: 'ms',
      otherData: {
        producer: 'webgpu-hmm', pool: this.#pool.options.label, pageSize: this.#pool.pageSize, capacity: this.#pool.capacity,
        startedAtMs: this.#started, dropped: this.#dropped,
      },
    };
  }

  stop(): void {
    this.#off();
  }

  [DISPOSE](): void {
    this.stop();
  }
}

/**
 * Record `pool`'s event stream as a Chrome trace until stop(). Write it with
 * `JSON.stringify(recorder.toJSON())` and open the file in ui.perfetto.dev or
 * chrome://tracing.
 *
 * @example
 * ```ts
 * const rec = recordTrace(pool);
 * await space.dispatch(kernel, { workgroups: 64, demand: true });
 * rec.stop();
 * writeFileSync('trace.json', JSON.stringify(rec.toJSON()));
 * ```
 */
export function recordTrace(pool: Pool, options: TraceOptions = {}): TraceRecorder {
  const impl = spacePool(pool);
  if (!impl) throw new InvalidArgumentError('recordTrace: pass a Pool from createPool()');
  const max = options.maxEvents ?? 1_000_000;
  if (!Number.isInteger(max) || max < 1) throw new InvalidArgumentError(`recordTrace: maxEvents must be a positive whole number, got ${String(max)}`);
  return new Recorder(impl, max);
}
