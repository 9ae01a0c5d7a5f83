// Tunables: every number the runtime's behaviour depends on, with its default
// and why. Modules read these through the resolved option objects below; none
// hard-codes its own copy. The sizes of the interface between the runtime and
// its WGSL (record layout, kernel arguments, bindings) are not tunables: they
// are in abi.ts, with the rest of that interface.

import { RUNTIME_STORAGE_BINDINGS } from './abi.ts';
import { BadPageSizeError, InvalidArgumentError, PoolConfigError } from './errors.ts';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/** Smallest page: the x86 page, and small enough that sparse pointer structures do not move megabytes per touch. */
export const MIN_PAGE_SIZE = 4 * KiB;
/** Largest page: a UVM VA block. Larger pages make every fault move more than any consumer needs. */
export const MAX_PAGE_SIZE = 2 * MiB;
/** UVM's big-page size: large enough that a migration is one efficient copy, small enough to limit over-fetch. */
export const DEFAULT_PAGE_SIZE = 64 * KiB;
/**
 * The largest space: 1 TiB (2^40 bytes) of virtual addresses. JavaScript addresses stay exact
 * numbers (below 2^53), a space has at most 2^28 pages (4 KiB pages), so page indices, the
 * page bitmaps and the device page table's entries stay u32.
 */
export const MAX_SPACE_SIZE = 2 ** 40;
/**
 * Spaces of at most this size (4 GiB) translate u32 addresses in WGSL, the fastest path; larger
 * ones translate 64-bit addresses (`VmPtr` in the prelude; the u32 functions reach their first 4 GiB).
 */
export const MAX_NARROW_SPACE_SIZE = 4 * GiB;
/**
 * The device page table is one flat array of entries up to this many pages (4 MiB of entries:
 * every space of at most 4 GiB); larger tables are two-level — a directory, then leaves of
 * 2^PAGE_TABLE_LEAF_SHIFT entries made only for regions that hold a frame — so the table stays
 * one binding whatever the space's size.
 */
export const FLAT_PAGE_TABLE_MAX_PAGES = 2 ** 20;
/** log2 of entries per leaf of a two-level device page table: 1024 entries, a 4 KiB leaf. */
export const PAGE_TABLE_LEAF_SHIFT = 10;

/** Options of `createPool`: every one optional, with the defaults named on each. Unknown keys are refused. */
export interface PoolOptions {
  /** Bytes of device memory the pool may use (its budget). Default: see `defaultCapacity`. */
  capacity?: number;
  /** Page (and frame) size in bytes: a power of two from 4 KiB to 2 MiB. Default 64 KiB. */
  pageSize?: number;
  /** Most bytes that may be pinned at once. Default: half the capacity. */
  pinLimit?: number;
  /** Upload path: 'auto' picks per transfer by size; the others force one. Default 'auto'. */
  uploadPath?: 'auto' | 'writeBuffer' | 'staging';
  /** Transfers of at least this many bytes use the staging ring when uploadPath is 'auto'. Default 8 MiB (measured crossover). */
  stagingThreshold?: number;
  /** Bytes per `queue.writeBuffer` call. Default 1 MiB. */
  writeChunk?: number;
  /** Size of one staging (and readback) buffer. Default 4 MiB. */
  stagingSlotSize?: number;
  /** Staging (and readback) buffers in each ring. Default 4. */
  stagingSlots?: number;
  /** Largest window (one storage binding). Default: the device's maxStorageBufferBindingSize. */
  maxWindowSize?: number;
  /** A label prefix for every GPU object the pool creates. */
  label?: string;
  /** GPU access counters for declared dispatches (see `DEFAULT_ACCESS_COUNTERS`). Default true. */
  accessCounters?: boolean;
  /** When the pool reports pressure events (src/trace/pressure.ts). */
  pressure?: PressureOptions;
}

/** Thresholds of the pool's pressure events (`pool.onPressure`). */
export interface PressureOptions {
  /** 'high-water' begins when device bytes in use reach this fraction of the capacity (of a group: of its max). Default 0.9. */
  highWater?: number;
  /** …and ends when they fall to this fraction or below (hysteresis). Default 0.75; below highWater. */
  lowWater?: number;
  /** 'eviction-storm' when more than this many pages were evicted within `stormWindowMs`. Default: the pool's frame count. */
  stormPages?: number;
  /** The eviction-storm window in milliseconds. Default 1000. */
  stormWindowMs?: number;
}

export interface ResolvedPressureOptions {
  readonly highWater: number;
  readonly lowWater: number;
  /** undefined: the pool's frame count (known once its windows exist). */
  readonly stormPages: number | undefined;
  readonly stormWindowMs: number;
}

export interface ResolvedPoolOptions {
  readonly capacity: number;
  readonly pageSize: number;
  readonly pageShift: number;
  readonly pinLimit: number;
  readonly uploadPath: 'auto' | 'writeBuffer' | 'staging';
  readonly stagingThreshold: number;
  readonly writeChunk: number;
  readonly stagingSlotSize: number;
  readonly stagingSlots: number;
  readonly windowSize: number;
  readonly windowCount: number;
  readonly label: string;
  readonly accessCounters: boolean;
  readonly pressure: ResolvedPressureOptions;
}

/**
 * Default budget: 256 MiB, or less when the device cannot bind that many windows.
 * WebGPU does not tell how much memory a GPU has, so a fixed, modest default
 * is safer than a guess; oversubscription is the point of the runtime anyway.
 */
export const DEFAULT_CAPACITY = 256 * MiB;

/**
 * ~1 MiB pieces: ENVIRONMENT.md measured a single 16 MiB+ writeBuffer on Dawn
 * collapsing to ~1 GB/s while 1 MiB pieces sustain 2.6–6 GB/s.
 */
export const DEFAULT_WRITE_CHUNK = 1 * MiB;
/**
 * Transfers of at least this size take the staging ring; smaller ones take
 * writeBuffer. Measured with bench/upload-paths.ts on Dawn + lavapipe (2 cores,
 * two runs, median of 7 and 9, GB/s writeBuffer vs staging):
 *   1 MiB 15.5–19.7 vs 3.7–6.4 · 4 MiB 10.9–20.4 vs 2.5–6.3 ·
 *   8 MiB 3.7 vs 3.6–4.7 · 16 MiB 2.2–2.4 vs 4.9–5.3 · 64 MiB 2.3 vs 5.8–6.3.
 * writeBuffer has no map round trip and wins small transfers 3–5×; past a few
 * MiB in flight Dawn's own staging collapses and the reused mapped buffers win
 * 2.3–2.75×. The crossover is at 8 MiB. Re-measure on other hardware.
 */
export const DEFAULT_STAGING_THRESHOLD = 8 * MiB;
export const DEFAULT_STAGING_SLOT_SIZE = 4 * MiB;
export const DEFAULT_STAGING_SLOTS = 4;
/**
 * Eviction write-backs do not wait for their copies to land (the frame goes to
 * the next upload at once; queue order keeps the copy first). Their read-back
 * buffers (staging-slot sized) may hold at most this many times the staging
 * ring's bytes in flight; past that an eviction waits for the earlier ones,
 * and one eviction of more dirty pages than that goes in rounds of the cap
 * (src/migrate/migrate.ts makeResident). 2 × 4 × 4 MiB = 32 MiB by default:
 * room for a chunk of up to 32 MiB of dirty pages to stream home while the
 * next is uploaded, and the bound on the write-back buffers' memory.
 */
export const WRITEBACK_IN_FLIGHT_RINGS = 2;

/**
 * Access counters (issue 7 item 5): declared passes set the accessed and
 * written bit of each page they touch in the record, as demand passes always
 * do, and the runtime reads them with the record the dispatch waits for anyway
 * (no extra round trip; only the bitmap words of the declared pages are cleared
 * and copied). What they buy: a declared-write page the kernel did not write
 * stays clean, so eviction and host reads copy home only what the device
 * wrote; and a page's CLOCK reference bit means "the GPU touched it", not "a
 * dispatch mapped it", so pages declared but never touched are evicted first.
 * What they cost: in the kernel, at most two bitmap atomics per invocation per
 * run of accesses to one page (the translation cache remembers what it set),
 * and a compile-time constant folds them away when off. On by default; turn
 * them off for kernels that hop between pages on every access, where the
 * atomics could cost more than the copies they save (bench/groups.ts measures
 * both sides). Demand passes need the bitmaps for their protocol and keep them.
 */
export const DEFAULT_ACCESS_COUNTERS = true;

/**
 * Pressure (src/trace/pressure.ts). High water at 90 % of the capacity (of a
 * group's max): late enough that a pool which simply holds its working set is
 * not called pressed, early enough that the app hears of it before the next
 * fault-in has to evict. It ends at 75 %: a gap of 15 % keeps a workload
 * hovering around the mark from reporting on every page.
 */
export const DEFAULT_HIGH_WATER = 0.9;
export const DEFAULT_LOW_WATER = 0.75;
/**
 * An eviction storm: more pages evicted within one second than the pool has
 * frames — the whole pool turned over, the working set is cycling through it
 * (LSFMM's oversubscription livelock, short of a livelock). One second spans
 * many dispatches, so one large fault-in alone does not make a storm.
 */
export const DEFAULT_STORM_WINDOW_MS = 1000;

/**
 * Most workgroups one demand dispatch of an idempotent kernel may have: the
 * replay path keeps one completion bit per workgroup in the record buffer
 * (2^24 workgroups = 2 MiB of bits). Transaction-mode dispatches have no limit
 * beyond WebGPU's.
 */
export const MAX_REPLAY_WORKGROUPS = 2 ** 24;
/**
 * An idempotent kernel that never synchronizes a workgroup replays with one
 * completion word per invocation instead (no barriers in the entry point and
 * no shared read-modify-writes, which on lavapipe cost a replay pass about
 * half its time), while its words number at most this (2^24 words = 64 MiB of
 * record, allocated through the pool's allocator, which gives memory back when
 * the device is short; a word an invocation, RESUME_STRIDE for a resumable
 * kernel); larger dispatches use a bit per workgroup.
 * Measured: a 6.3M-invocation dispatch (98,304 workgroups of 64) took 700 ms a
 * pass with workgroup bits where its declared pass took 410 (the cap was 2^22).
 */
export const MAX_REPLAY_INVOCATIONS = 2 ** 24;

/**
 * A demand dispatch whose pages do not fit the pool runs its grid in slices
 * (src/fault/demand.ts), sized from the footprint its passes found: each
 * slice is planned to fill at most this fraction of the frames it may have,
 * leaving room for the hints and density prefetch that ride along and for the
 * pages its first pass had not shown yet (a slice that does not fit after all
 * is split again, at the cost of a pass).
 */
export const DEMAND_SLICE_FILL = 0.75;

/**
 * A demand dispatch planned in slices from the start (src/fault/demand.ts
 * #plan) runs a scout first: a slice this fraction of the planned size. Its
 * first pass finds nothing resident, so every invocation stalls and the pass
 * does no work — but it costs about what a pass that completes does (each
 * stalled access still translates, to report where the invocation goes next);
 * a small scout makes that pass small, and its footprint predicts the next
 * slice's pages (src/policy/slice-prediction.ts), so that one runs in a single
 * pass. Large enough that a stream's runs in it reach MIN_STREAM_RUN pages.
 */
export const DEMAND_SCOUT_FRACTION = 0.25;

/**
 * A replay slice whose predicted pages are at least this share of the pages
 * the slice before it touched (scaled to its size) is expected to complete in
 * its first pass, which then runs the variant that keeps no completion record
 * (src/fault/demand.ts #firstPass); below it the slice is taken for cold and
 * its first pass is a sample. A prediction made of a random pattern's chance
 * runs (a third of a block-order slice's pages, measured) is below it.
 */
export const DEMAND_PREDICTED_COVERAGE = 0.75;

/**
 * A cold replay slice's first pass runs a sample, each workgroup's invocation
 * 0 only (src/fault/demand.ts #sampleFirst), when the slice has at least this
 * many workgroups: below it a pass costs little more than the round trip, and
 * the sample would only add one.
 */
export const DEMAND_SAMPLE_MIN_WORKGROUPS = 16;

/**
 * Sample passes a cold replay slice runs at most before it runs whole
 * (src/fault/demand.ts #runReplay): after a sample that missed, and its
 * fault-in, one more, so that the pages its invocations reach through what
 * the first missed (a gather's data behind its indices) are found at a
 * sample's cost too, not by a whole pass that stalls on them. A kernel whose
 * first sample saw everything (its hints were right: a stream) pays one
 * sample more, and only while the kernel's second samples on the space still
 * find something (src/fault/demand.ts resamplingOf). Measured (the `demand`
 * case's gather as a first dispatch, and the curve's first dispatches):
 * docs/benchmarks.md.
 */
export const DEMAND_SAMPLES = 2;

/**
 * A replay-mode round whose pages do not fit takes what fits (src/fault/demand.ts),
 * worth it while each such round finishes the invocations of at least this
 * fraction of the missed pages it fetched — invocations with small, independent
 * footprints (a block, a random chunk) finish by the hundreds each round. Less
 * means invocations need many pages at once or find them one at a time (a
 * pointer chase), and slicing the grid is cheaper than a pass per page.
 */
export const DEMAND_PARTIAL_PROGRESS = 0.5;

/**
 * Slice prediction (src/policy/slice-prediction.ts), seen from one slice: a run
 * of at least this many consecutive pages is taken for a stream and predicted
 * to go on right after itself. Shorter runs are what a random pattern's
 * footprint is made of (at half density, runs of 4 or more start at about 1 in
 * 16 pages), and a stream over pages of 64 KiB moves far more than 4 a slice.
 */
export const MIN_STREAM_RUN = 4;

/**
 * A slice's prediction that its passes touched less of than this stops the
 * dispatch predicting: the pattern is not a stream, and each further guess
 * would only move pages nobody reads.
 */
export const PREDICTION_MIN_ACCURACY = 0.5;

/**
 * Spaces are not durable unless asked (SpaceOptions.durable): a durable space
 * reads back every page a dispatch writes, every dispatch, which for kernels
 * that update the same data again and again is one read-back per dispatch
 * where a non-durable space needs one at the end (the count is in
 * SpaceOptions.durable). Worth it where a device loss must lose nothing
 * (browsers lose devices on driver resets, tab backgrounding, GPU process
 * crashes); the default keeps the runtime's transfers to what coherence needs.
 */
export const DEFAULT_DURABLE = false;

/**
 * Bytes of one segment of a space's sparse host memory (src/space/host-memory.ts):
 * segments are made where the host first writes (or a write-back lands), so
 * untouched memory costs nothing and reads as zero. 64 MiB: large enough that
 * a space's segments are few (a Map lookup per host operation, and the
 * transfers' pieces are cut at segment boundaries, rarely), small enough that
 * touching one byte commits little next to the GPU pool it feeds. A power of
 * two; a space smaller than it gets one segment of its own size.
 */
export const HOST_SEGMENT_SIZE = 64 * MiB;

/**
 * Most bytes of one run: a host view (withView) spanning segments joins them
 * into one buffer (src/space/host-memory.ts), so it and later views of the
 * range are zero-copy instead of a fresh copy each (measured: a 256 MiB read
 * view of device-dirty pages, 167 ms copying against 32 ms for the pages'
 * read-back alone). 1 GiB: a view larger than that is rare, and one buffer
 * that large may not be allocatable in a browser tab; past it views copy.
 */
export const HOST_JOIN_MAX = 1024 * MiB;

/** Bytes at the bottom of every space the allocator never hands out, so 0 can be a null pointer. */
export const NULL_GUARD = 256;
/** Default alignment of alloc(): a vec4, the widest access the prelude makes. */
export const DEFAULT_ALIGNMENT = 16;

export function isPowerOfTwo(n: number): boolean {
  // Math.log2 is exact on powers of two, including those above 2^31 that `&` cannot test.
  return Number.isInteger(n) && n > 0 && Number.isInteger(Math.log2(n));
}

export function checkPageSize(pageSize: number): number {
  if (!isPowerOfTwo(pageSize) || pageSize < MIN_PAGE_SIZE || pageSize > MAX_PAGE_SIZE) {
    throw new BadPageSizeError(pageSize, MIN_PAGE_SIZE, MAX_PAGE_SIZE);
  }
  return Math.log2(pageSize);
}

export function checkByteCount(what: string, n: unknown, { allowZero = false } = {}): number {
  if (typeof n !== 'number' || !Number.isFinite(n) || !Number.isInteger(n) || n < 0 || (!allowZero && n === 0)) {
    throw new InvalidArgumentError(
      `${what} must be a ${allowZero ? 'non-negative' : 'positive'} whole number of bytes, got ${String(n)}`,
    );
  }
  return n;
}

export interface DeviceLimitsLike {
  readonly maxStorageBufferBindingSize: number;
  readonly maxBufferSize: number;
  readonly maxStorageBuffersPerShaderStage: number;
}

function floorPow2(n: number): number {
  return 2 ** Math.floor(Math.log2(n));
}

/**
 * Resolve pool options against a device's limits. Windows hold a power-of-two
 * number of frames so the prelude splits a frame number with a shift.
 */
export function resolvePoolOptions(options: PoolOptions, limits: DeviceLimitsLike): ResolvedPoolOptions {
  const known = new Set([
    'capacity', 'pageSize', 'pinLimit', 'uploadPath', 'stagingThreshold', 'writeChunk',
    'stagingSlotSize', 'stagingSlots', 'maxWindowSize', 'label', 'accessCounters', 'pressure',
  ]);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw new InvalidArgumentError(`unknown pool option "${key}"; known options: ${[...known].join(', ')}`);
  }
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  const pageShift = checkPageSize(pageSize);
  const bindingMax = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  const maxWindow = options.maxWindowSize === undefined ? bindingMax : checkByteCount('maxWindowSize', options.maxWindowSize);
  if (maxWindow > bindingMax) {
    throw new PoolConfigError(`maxWindowSize ${maxWindow} exceeds the device's storage binding limit ${bindingMax}; leave maxWindowSize out or use at most ${bindingMax}`);
  }
  const maxWindows = limits.maxStorageBuffersPerShaderStage - RUNTIME_STORAGE_BINDINGS;
  const windowCap = floorPow2(maxWindow);
  if (windowCap < pageSize) {
    throw new PoolConfigError(`a window (${windowCap} bytes) must hold at least one ${pageSize}-byte page`);
  }
  let capacity: number;
  if (options.capacity === undefined) {
    capacity = Math.min(DEFAULT_CAPACITY, windowCap * maxWindows);
  } else {
    capacity = checkByteCount('capacity', options.capacity);
  }
  if (capacity % pageSize !== 0) {
    throw new InvalidArgumentError(
      `pool capacity ${capacity} is not a multiple of the page size ${pageSize}; round it to ${Math.max(pageSize, Math.round(capacity / pageSize) * pageSize)}`,
    );
  }
  const windowSize = Math.min(windowCap, floorPow2(capacity));
  const windowCount = Math.ceil(capacity / windowSize);
  if (windowCount > maxWindows) {
    throw new PoolConfigError(
      `pool capacity ${capacity} needs ${windowCount} windows of ${windowSize} bytes, but the device can bind only ${maxWindows} ` +
        `(maxStorageBuffersPerShaderStage ${limits.maxStorageBuffersPerShaderStage} minus ${RUNTIME_STORAGE_BINDINGS} for the runtime); ` +
        `use capacity ≤ ${windowSize * maxWindows} or request a higher limit when creating the device`,
    );
  }
  const pinLimit = options.pinLimit === undefined ? Math.floor(capacity / 2 / pageSize) * pageSize
    : checkByteCount('pinLimit', options.pinLimit, { allowZero: true });
  if (pinLimit > capacity) throw new InvalidArgumentError(`pinLimit ${pinLimit} exceeds the pool capacity ${capacity}; use a pinLimit of at most ${capacity}`);
  const uploadPath = options.uploadPath ?? 'auto';
  if (!['auto', 'writeBuffer', 'staging'].includes(uploadPath)) {
    throw new InvalidArgumentError(`uploadPath must be 'auto', 'writeBuffer' or 'staging', got ${String(uploadPath)}`);
  }
  const writeChunk = options.writeChunk === undefined ? DEFAULT_WRITE_CHUNK : checkByteCount('writeChunk', options.writeChunk);
  const stagingSlotSize = options.stagingSlotSize === undefined ? DEFAULT_STAGING_SLOT_SIZE
    : checkByteCount('stagingSlotSize', options.stagingSlotSize);
  if (writeChunk % 4 || stagingSlotSize % 4) throw new InvalidArgumentError('writeChunk and stagingSlotSize must be multiples of 4');
  const stagingSlots = options.stagingSlots ?? DEFAULT_STAGING_SLOTS;
  if (!Number.isInteger(stagingSlots) || stagingSlots < 1 || stagingSlots > 64) {
    throw new InvalidArgumentError(`stagingSlots must be a whole number from 1 to 64, got ${String(stagingSlots)}`);
  }
  return {
    capacity,
    pageSize,
    pageShift,
    pinLimit,
    uploadPath,
    stagingThreshold: options.stagingThreshold === undefined ? DEFAULT_STAGING_THRESHOLD
      : checkByteCount('stagingThreshold', options.stagingThreshold, { allowZero: true }),
    writeChunk,
    stagingSlotSize,
    stagingSlots,
    windowSize,
    windowCount,
    label: options.label ?? 'hmm',
    accessCounters: resolveAccessCounters(options.accessCounters),
    pressure: resolvePressureOptions(options.pressure),
  };
}

// ---- Policies (src/policy/): per-space tunables ----
//
// Policies are per space, not per pool: they react to one space's access
// pattern (a pool may serve a sequential stream and a random gather at once),
// and the page-indexed state they keep is the space's.

/** Density prefetch of a space (`createSpace({ densityPrefetch })`): demand faults fetch a whole aligned block when most of it is already needed, as UVM's perf_prefetch. */
export interface DensityPrefetchOptions {
  /** Default true. false: demand faults fetch only the pages that missed (and the pass's hints). */
  enabled?: boolean;
  /** A subtree is fetched whole when more than this fraction of it is faulted or resident: in (0, 1). Default 0.51. */
  threshold?: number;
  /** Bytes of the block the bitmap tree covers: a power of two from the page size to 64 MiB. Default 2 MiB. */
  blockSize?: number;
}

/** Thrashing detection of a space (`createSpace({ thrashing })`): pages moving back and forth are reported and, by default, kept on the device for a while, as UVM's perf_thrashing. */
export interface ThrashingOptions {
  /** Default true. false: no detection, no events, no mitigation. */
  enabled?: boolean;
  /** Migrations between host and device within `lapseMs` that make a page thrashing: a whole number ≥ 2. Default 3. */
  threshold?: number;
  /** The lapse, in milliseconds (> 0). Default 50. */
  lapseMs?: number;
  /** 'pin': keep thrashing pages on the device for `pinMs` (evicted only as a last resort). 'none': only report. Default 'pin'. */
  mitigation?: 'pin' | 'none';
  /** How long a thrashing page is kept on the device, in milliseconds (> 0). Default 500. */
  pinMs?: number;
}

export interface ResolvedDensityPrefetch {
  readonly enabled: boolean;
  readonly threshold: number;
  readonly blockSize: number;
  /** Pages per block: a power of two ≥ 1. */
  readonly blockPages: number;
}

export interface ResolvedThrashing {
  readonly enabled: boolean;
  readonly threshold: number;
  readonly lapseMs: number;
  readonly mitigation: 'pin' | 'none';
  readonly pinMs: number;
}

/**
 * UVM's perf_prefetch threshold (uvm_perf_prefetch_threshold = 51 %): a
 * subtree is fetched whole once more than half of it is wanted, so a
 * sequential walk doubles its fetch size level by level while a stride-2 or
 * sparse pattern (never more than half of any subtree) fetches nothing extra.
 */
export const DEFAULT_PREFETCH_THRESHOLD = 0.51;
/** UVM's VA block: the largest unit density prefetch grows to (and what MAX_PAGE_SIZE is). */
export const DEFAULT_PREFETCH_BLOCK = 2 * MiB;
/**
 * The tree of a block is rebuilt from the page table for every block a fault
 * batch touches (O(pages per block)); 64 MiB keeps that under ~16 Ki pages a
 * block even at 4 KiB pages.
 */
export const MAX_PREFETCH_BLOCK = 64 * MiB;
/** UVM's uvm_perf_thrashing_threshold: three migrations back and forth are a pattern, two may be a hand-over. */
export const DEFAULT_THRASH_THRESHOLD = 3;
/**
 * UVM's lapse is 500 µs, a few dozen fault round trips on a PCIe GPU. A
 * WebGPU round trip (submit, map) is ~0.1 ms on lavapipe and a dispatch with
 * its migrations 1–10 ms (docs/benchmarks.md), so 50 ms spans a few
 * host↔device hand-overs of an interactive loop (a 60 Hz frame is 16.7 ms)
 * without catching a page that moves once per second.
 */
export const DEFAULT_THRASH_LAPSE_MS = 50;
/**
 * How long a thrashing page stays on the device (UVM pins for 300 ms, 600×
 * its lapse). 10× the lapse: long enough for the many ping-pong rounds it
 * saves to pay for the frame, short enough that a page whose pattern changed
 * is released (and can be evicted normally) within half a second.
 */
export const DEFAULT_THRASH_PIN_MS = 500;

function checkKeys(what: string, o: object, known: readonly string[]): void {
  for (const key of Object.keys(o)) {
    if (!known.includes(key)) throw new InvalidArgumentError(`unknown ${what} option "${key}"; known options: ${known.join(', ')}`);
  }
}

function checkBool(what: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw new InvalidArgumentError(`${what} must be true or false, got ${String(v)}`);
  return v;
}

function checkPositive(what: string, v: unknown, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new InvalidArgumentError(`${what} must be a positive number, got ${String(v)}`);
  return v;
}

/** Resolve a space's densityPrefetch option (true/false/undefined or an object) against its page size. */
export function resolveDensityPrefetch(o: DensityPrefetchOptions | boolean | undefined, pageSize: number): ResolvedDensityPrefetch {
  // null is refused, not taken for the default: it reads as "off" to some callers and as "default" to others.
  const opts = typeof o === 'boolean' ? { enabled: o } : o === undefined ? {} : o;
  if (typeof opts !== 'object' || opts === null) throw new InvalidArgumentError(`densityPrefetch must be true, false or { enabled?, threshold?, blockSize? }, got ${String(o)}`);
  checkKeys('densityPrefetch', opts, ['enabled', 'threshold', 'blockSize']);
  const enabled = checkBool('densityPrefetch.enabled', opts.enabled, true);
  const threshold = opts.threshold ?? DEFAULT_PREFETCH_THRESHOLD;
  if (typeof threshold !== 'number' || !(threshold > 0 && threshold < 1)) {
    throw new InvalidArgumentError(`densityPrefetch.threshold must be a fraction between 0 and 1 (exclusive; UVM's is 0.51), got ${String(threshold)}`);
  }
  const blockSize = opts.blockSize ?? DEFAULT_PREFETCH_BLOCK;
  if (!isPowerOfTwo(blockSize) || blockSize < pageSize || blockSize > MAX_PREFETCH_BLOCK) {
    throw new InvalidArgumentError(
      `densityPrefetch.blockSize must be a power of two from the page size (${pageSize}) to ${MAX_PREFETCH_BLOCK} bytes, got ${String(blockSize)}; the default is ${DEFAULT_PREFETCH_BLOCK}`,
    );
  }
  return { enabled, threshold, blockSize, blockPages: blockSize / pageSize };
}

/** Resolve a space's thrashing option (true/false/undefined or an object). */
export function resolveThrashing(o: ThrashingOptions | boolean | undefined): ResolvedThrashing {
  const opts = typeof o === 'boolean' ? { enabled: o } : o === undefined ? {} : o;
  if (typeof opts !== 'object' || opts === null) throw new InvalidArgumentError(`thrashing must be true, false or { enabled?, threshold?, lapseMs?, mitigation?, pinMs? }, got ${String(o)}`);
  checkKeys('thrashing', opts, ['enabled', 'threshold', 'lapseMs', 'mitigation', 'pinMs']);
  const enabled = checkBool('thrashing.enabled', opts.enabled, true);
  const threshold = opts.threshold ?? DEFAULT_THRASH_THRESHOLD;
  if (typeof threshold !== 'number' || !Number.isInteger(threshold) || threshold < 2 || threshold > 255) {
    throw new InvalidArgumentError(`thrashing.threshold must be a whole number of migrations from 2 to 255 (UVM's is 3), got ${String(threshold)}`);
  }
  const mitigation = opts.mitigation ?? 'pin';
  if (mitigation !== 'pin' && mitigation !== 'none') throw new InvalidArgumentError(`thrashing.mitigation must be 'pin' or 'none', got ${String(mitigation)}`);
  return {
    enabled, threshold, mitigation,
    lapseMs: checkPositive('thrashing.lapseMs', opts.lapseMs, DEFAULT_THRASH_LAPSE_MS),
    pinMs: checkPositive('thrashing.pinMs', opts.pinMs, DEFAULT_THRASH_PIN_MS),
  };
}

function resolveAccessCounters(v: unknown): boolean {
  if (v === undefined) return DEFAULT_ACCESS_COUNTERS;
  if (typeof v !== 'boolean') throw new InvalidArgumentError(`accessCounters must be true or false, got ${String(v)}`);
  return v;
}

export function resolvePressureOptions(p: PressureOptions | undefined): ResolvedPressureOptions {
  if (p === undefined) return { highWater: DEFAULT_HIGH_WATER, lowWater: DEFAULT_LOW_WATER, stormPages: undefined, stormWindowMs: DEFAULT_STORM_WINDOW_MS };
  if (typeof p !== 'object' || p === null) throw new InvalidArgumentError('pressure: pass { highWater?, lowWater?, stormPages?, stormWindowMs? }');
  const known = new Set(['highWater', 'lowWater', 'stormPages', 'stormWindowMs']);
  for (const key of Object.keys(p)) {
    if (!known.has(key)) throw new InvalidArgumentError(`unknown pressure option "${key}"; known options: ${[...known].join(', ')}`);
  }
  const fraction = (what: string, v: unknown, d: number): number => {
    if (v === undefined) return d;
    if (typeof v !== 'number' || !(v > 0 && v <= 1)) throw new InvalidArgumentError(`pressure.${what} must be a fraction in (0, 1], got ${String(v)}`);
    return v;
  };
  const highWater = fraction('highWater', p.highWater, DEFAULT_HIGH_WATER);
  // Default: the same gap below a given high mark as between the defaults.
  const lowWater = fraction('lowWater', p.lowWater, Math.max(highWater - (DEFAULT_HIGH_WATER - DEFAULT_LOW_WATER), highWater / 2));
  if (lowWater >= highWater) {
    throw new InvalidArgumentError(`pressure.lowWater ${lowWater} must be below highWater ${highWater}, or the high-water report would flap`);
  }
  const positive = (what: string, v: unknown): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new InvalidArgumentError(`pressure.${what} must be a positive whole number, got ${String(v)}`);
    return v;
  };
  const stormPages = p.stormPages === undefined ? undefined : positive('stormPages', p.stormPages);
  const stormWindowMs = p.stormWindowMs === undefined ? DEFAULT_STORM_WINDOW_MS : positive('stormWindowMs', p.stormWindowMs);
  return { highWater, lowWater, stormPages, stormWindowMs };
}
