// Tunables: every number the runtime's behaviour depends on, with its default
// and why. Modules read these through the resolved option objects below; none
// hard-codes its own copy.

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
/** Virtual addresses are 32-bit (WGSL has no u64), so one space is at most 4 GiB. */
export const MAX_SPACE_SIZE = 4 * GiB;

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
}

/**
 * Storage bindings the runtime itself uses besides the windows: the page
 * table and the violation log. The uniform block is not a storage binding.
 */
export const RUNTIME_STORAGE_BINDINGS = 2;

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
 * ring's bytes in flight; past that an eviction waits for the earlier ones.
 * 2 × 4 × 4 MiB = 32 MiB by default: room for one pool-sized chunk of dirty
 * pages to stream home while the next is uploaded.
 */
export const WRITEBACK_IN_FLIGHT_RINGS = 2;

/** Violations recorded in full per dispatch; further ones are only counted. */
export const VIOLATION_LOG_ENTRIES = 32;
/**
 * Fault entries a demand pass can record (UVM's fault batch size). More
 * distinct misses in one pass are not lost: the batch reports that it
 * overflowed and the runtime runs another round. Larger batches mean fewer
 * rounds for scattered access patterns but a larger record to read back.
 */
export const FAULT_BATCH_ENTRIES = 256;
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
 * half its time), while its invocations number at most this (2^22 words =
 * 16 MiB of record); larger dispatches use a bit per workgroup.
 */
export const MAX_REPLAY_INVOCATIONS = 2 ** 22;

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

/** Bytes at the bottom of every space the allocator never hands out, so 0 can be a null pointer. */
export const NULL_GUARD = 256;
/** Default alignment of alloc(): a vec4, the widest access the prelude makes. */
export const DEFAULT_ALIGNMENT = 16;
/** Kernel arguments: u32 words passed in the uniform block. */
export const MAX_KERNEL_ARGS = 64;

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
    'stagingSlotSize', 'stagingSlots', 'maxWindowSize', 'label',
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
  };
}
