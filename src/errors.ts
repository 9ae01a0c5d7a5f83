// Typed errors. Every failure a user can cause or observe is an `HmmError`
// with a stable `code`; the message says what happened, with the numbers, and
// what to do about it. Internal bugs are not HmmErrors: they come from
// `assert`/`unreachable` in ./assert.ts.

/** The stable `code` of every {@link HmmError}: one value per failure, safe to switch on (messages may change, codes do not). */
export type HmmErrorCode =
  | 'INVALID_ARGUMENT'
  | 'OUT_OF_RANGE'
  | 'BAD_PAGE_SIZE'
  | 'OUT_OF_VIRTUAL_MEMORY'
  | 'DOUBLE_FREE'
  | 'UNKNOWN_ALLOCATION'
  | 'PIN_LIMIT'
  | 'NOT_PINNED'
  | 'WORKING_SET_TOO_LARGE'
  | 'POOL_CONFIG'
  | 'POOL_MISMATCH'
  | 'ACCESS_VIOLATION'
  | 'KERNEL_COMPILE'
  | 'GPU_VALIDATION'
  | 'GPU_OUT_OF_MEMORY'
  | 'DEVICE_LOST'
  | 'DESTROYED'
  | 'NO_ADAPTER'
  | 'REPLAY_UNSAFE'
  | 'HOST_BYPASS'
  | 'UNEXPECTED_FAULT'
  | 'BIND_RANGE'
  | 'FILE_OPEN'
  | 'FILE_TOO_SHORT'
  | 'DISK_FULL'
  | 'READ_ONLY_SPACE';

/**
 * Base class of every error the runtime throws for a failure a user can cause or
 * observe. Test `err instanceof HmmError` and switch on `err.code`; the message
 * names the numbers and the fix. Internal bugs are plain `Error`s from assertions.
 *
 * @example
 * ```ts
 * try {
 *   space.free(addr);
 * } catch (err) {
 *   if (err instanceof HmmError && err.code === 'DOUBLE_FREE') console.warn(err.message);
 *   else throw err;
 * }
 * ```
 */
export class HmmError extends Error {
  /** Which failure this is; one code per subclass (see {@link HmmErrorCode}). */
  readonly code: HmmErrorCode;
  constructor(code: HmmErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A size, count or option that is not a valid value (NaN, negative, not an integer, unknown key). */
export class InvalidArgumentError extends HmmError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
  }
}

/** An address range that is not inside the address space. */
export class OutOfRangeError extends HmmError {
  /** First byte address of the range that was asked for. */
  readonly addr: number;
  /** Length in bytes of the range that was asked for. */
  readonly byteLength: number;
  /** Size in bytes of the address space: valid ranges end at or before it. */
  readonly spaceSize: number;
  constructor(what: string, addr: number, byteLength: number, spaceSize: number) {
    super(
      'OUT_OF_RANGE',
      `${what}: range [${addr}, ${addr + byteLength}) is outside the address space [0, ${spaceSize}); ` +
        `use an address from alloc() or a range that ends at or before ${spaceSize}`,
    );
    this.addr = addr;
    this.byteLength = byteLength;
    this.spaceSize = spaceSize;
  }
}

/** A page size that is not a power of two within the allowed bounds (the message names them; default 65536 bytes). */
export class BadPageSizeError extends HmmError {
  constructor(pageSize: number, min: number, max: number) {
    super(
      'BAD_PAGE_SIZE',
      `page size ${pageSize} is not a power of two between ${min} and ${max} bytes; ` +
        `use one of 4096, 8192, …, ${max} (default 65536)`,
    );
  }
}

/** `alloc()` found no free block of the address space large enough (virtual addresses, not device memory, ran out): free allocations or create a larger space. */
export class OutOfVirtualMemoryError extends HmmError {
  constructor(byteLength: number, largestFree: number, spaceSize: number) {
    super(
      'OUT_OF_VIRTUAL_MEMORY',
      `cannot allocate ${byteLength} bytes: the largest free block of the ${spaceSize}-byte address space is ${largestFree} bytes; ` +
        `free some allocations or create a larger space`,
    );
  }
}

/** `free()` of an allocation that was already freed. */
export class DoubleFreeError extends HmmError {
  constructor(addr: number) {
    super('DOUBLE_FREE', `free(${addr}): this allocation was already freed; free each address from alloc() once`);
  }
}

/** `free()` of an address at which no allocation starts: pass the exact address `alloc()` returned. */
export class UnknownAllocationError extends HmmError {
  constructor(addr: number) {
    super('UNKNOWN_ALLOCATION', `free(${addr}): no allocation starts at this address; pass the exact address alloc() returned`);
  }
}

/** A pin that would take the pool's pinned bytes over its `pinLimit`: unpin something first or create the pool with a larger `pinLimit`. */
export class PinLimitError extends HmmError {
  /** Bytes the refused pin asked for. */
  readonly requested: number;
  /** Bytes already pinned under the limit that refused the pin. */
  readonly pinned: number;
  /** The pin limit in bytes that refused the pin. */
  readonly limit: number;
  constructor(requested: number, pinned: number, limit: number, message?: string) {
    super(
      'PIN_LIMIT',
      message ??
        `pinning ${requested} more bytes would make ${pinned + requested} pinned bytes, over the pool's pin limit of ${limit} bytes ` +
          `(${pinned} already pinned); unpin something first or create the pool with a larger pinLimit`,
    );
    this.requested = requested;
    this.pinned = pinned;
    this.limit = limit;
  }
}

/**
 * A pin over a memory group's pin limit (src/device/groups.ts): the group's
 * pinned bytes would pass its `pinLimit`, which defaults to its `min` as in the
 * cgroup dmem RFC. A PinLimitError (code PIN_LIMIT) that names the group.
 * In a tree of groups (src/device/group-tree.ts) every group up to the root
 * counts the pins of its subtree: `group` is the one whose limit refused the
 * pin, and `pinningGroup` the group of the space that asked, when another.
 */
export class GroupPinLimitError extends PinLimitError {
  /** Path of the memory group whose pin limit refused the pin. */
  readonly group: string;
  /** The group whose space asked for the pin, when the limit that refused it is an ancestor's; else undefined. */
  readonly pinningGroup: string | undefined;
  constructor(group: string, requested: number, pinned: number, limit: number, pinningGroup?: string) {
    super(
      requested, pinned, limit,
      pinningGroup === undefined
        ? `pinning ${requested} more bytes would make ${pinned + requested} pinned bytes in memory group "${group}", over its pin limit of ` +
            `${limit} bytes (${pinned} already pinned by its spaces); unpin something in the group first, or create the group with a ` +
            `larger pinLimit (or min, which it defaults to), at most its max`
        : `pinning ${requested} more bytes in memory group "${pinningGroup}" would make ${pinned + requested} pinned bytes under its ` +
            `ancestor "${group}", over that group's pin limit of ${limit} bytes (${pinned} already pinned in its subtree); every group up ` +
            `to the root must allow the pin: unpin something under "${group}" first, or create "${group}" with a larger pinLimit ` +
            `(or min, which it defaults to), at most its max`,
    );
    this.group = group;
    this.pinningGroup = pinningGroup;
  }
}

/** `unpin()` of a page that is not pinned (each pin is undone by exactly one unpin of the same range). */
export class NotPinnedError extends HmmError {
  constructor(addr: number) {
    super('NOT_PINNED', `unpin: the page at ${addr} is not pinned; unpin only ranges you pinned, as many times as you pinned them`);
  }
}

/** A dispatch (or pin) needs more device memory than the pool can give it, even after evicting everything it may evict. */
export class WorkingSetTooLargeError extends HmmError {
  /** Device bytes the dispatch (or pin) needs at once. */
  readonly neededBytes: number;
  /** Device bytes that can be made free for it (capacity less what is pinned or otherwise kept). */
  readonly availableBytes: number;
  /** The pool's device capacity in bytes. */
  readonly capacityBytes: number;
  constructor(
    neededBytes: number, availableBytes: number, capacityBytes: number, pinnedBytes: number,
    context = 'the working set', advice = 'split the dispatch into smaller ranges, unpin, or use a larger pool',
  ) {
    super(
      'WORKING_SET_TOO_LARGE',
      `${context} needs ${neededBytes} bytes on the device, but only ${availableBytes} of the pool's ${capacityBytes} bytes ` +
        `can be made free (${pinnedBytes} bytes are pinned); ${advice}`,
    );
    this.neededBytes = neededBytes;
    this.availableBytes = availableBytes;
    this.capacityBytes = capacityBytes;
  }
}

/** The runtime cannot guarantee that replaying this kernel gives the result of one clean run, so it refuses before running it. */
export class ReplayUnsafeError extends HmmError {
  constructor(kernel: string, why: string) {
    super('REPLAY_UNSAFE', `kernel "${kernel}" cannot be demand-paged exactly as declared: ${why}`);
  }
}

/** A byte range of an address space. */
export interface ByteRange {
  /** First byte address of the range. */
  readonly addr: number;
  /** Length of the range in bytes. */
  readonly byteLength: number;
}

function rangeList(ranges: readonly ByteRange[]): string {
  const shown = ranges.slice(0, 8).map((r) => `[0x${r.addr.toString(16)}, 0x${(r.addr + r.byteLength).toString(16)})`);
  return shown.join(', ') + (ranges.length > 8 ? ` and ${ranges.length - 8} more` : '');
}

/**
 * Strict mode: the host bytes of pages that are valid on the device changed
 * without going through the runtime (a view kept past its withView callback,
 * or a copy of the space's memory written directly). Found before a dispatch
 * ran; the dispatch did not run.
 */
export class HostBypassError extends HmmError {
  /** The ranges whose host bytes changed behind the runtime's back (a page-granular view). */
  readonly ranges: readonly ByteRange[];
  /** The part of `ranges` whose device copy was the only valid one: the host bytes written there will be overwritten when those pages come back. */
  readonly conflicting: readonly ByteRange[];
  constructor(kernel: string, ranges: readonly ByteRange[], conflicting: readonly ByteRange[]) {
    super(
      'HOST_BYPASS',
      `before dispatch "${kernel}": host bytes of device-resident pages changed without going through the runtime, in ${rangeList(ranges)}. ` +
        `Write with space.write() or withView(…, 'write', fn) and do not keep the view after fn returns. ` +
        (conflicting.length > 0
          ? `In ${rangeList(conflicting)} the device held the newer data, which stays; the other ranges' host bytes were adopted. `
          : `The new host bytes were adopted (their device copies dropped). `) +
        `The dispatch did not run: dispatch again.`,
    );
    this.ranges = ranges;
    this.conflicting = conflicting;
  }
}

/** Strict mode: a dispatch made with `expectNoFaults: true` had to bring pages to the device. Its results are complete and valid. */
export class UnexpectedFaultError extends HmmError {
  /** The ranges the dispatch had to bring to the device. */
  readonly ranges: readonly ByteRange[];
  /** Total bytes brought to the device by the dispatch. */
  readonly bytes: number;
  constructor(kernel: string, ranges: readonly ByteRange[], bytes: number) {
    super(
      'UNEXPECTED_FAULT',
      `dispatch "${kernel}" was made with expectNoFaults but brought ${bytes} bytes to the device, in ${rangeList(ranges)}. ` +
        `It ran to completion and its results are valid. Make those ranges resident first (pin them, or run a dispatch that declares them), ` +
        `use a pool large enough to keep them, or drop expectNoFaults.`,
    );
    this.ranges = ranges;
    this.bytes = bytes;
  }
}

/** The pool's options do not fit the device (window larger than the storage binding limit, a window smaller than a page, …); the message names the fix. */
export class PoolConfigError extends HmmError {
  constructor(message: string) {
    super('POOL_CONFIG', message);
  }
}

/** An object from another pool (or not from this library) was passed: a space's group must belong to the same pool, and `createSpace`/`createGroup` need a Pool from `createPool()`. */
export class PoolMismatchError extends HmmError {
  constructor(message: string) {
    super('POOL_MISMATCH', message);
  }
}

/**
 * Why an access was refused: `'out-of-range'` (outside the address space),
 * `'not-readable'`/`'not-writable'` (inside it, but the dispatch was not given that
 * access to the page: declare the range in `read`/`write`), `'misaligned'` (not
 * aligned to the access's size).
 */
export type ViolationKind = 'out-of-range' | 'not-readable' | 'not-writable' | 'misaligned';

/** One refused access of a kernel, as reported by {@link AccessViolationError}. */
export interface Violation {
  /** The virtual byte address the invocation tried to access. */
  readonly addr: number;
  /** Why the access was refused. */
  readonly kind: ViolationKind;
  /** `global_invocation_id` of the first invocation that made this access. */
  readonly invocation: readonly [number, number, number];
}

/** A kernel touched memory it was not allowed to: the access was not carried out. */
export class AccessViolationError extends HmmError {
  /** The first refused accesses (a bounded sample, not all of them). */
  readonly violations: readonly Violation[];
  /** How many accesses were refused in all (may exceed `violations.length`). */
  readonly count: number;
  constructor(kernel: string, violations: readonly Violation[], count: number) {
    const first = violations[0];
    const where = first
      ? ` First: ${first.kind} at address ${first.addr} by invocation (${first.invocation.join(', ')}).`
      : '';
    super(
      'ACCESS_VIOLATION',
      `kernel "${kernel}" made ${count} access(es) outside what it may touch; they were not carried out.${where} ` +
        `Declare the range in read/write, fix the address computation, or align the access to its type's size`,
    );
    this.violations = violations;
    this.count = count;
  }
}

/**
 * A range given in a dispatch's `bind` cannot be bound as one storage binding:
 * it is larger than one pool window (a binding sees one buffer), misaligned
 * for the device's minStorageBufferOffsetAlignment, or every run of frames
 * large enough holds a pinned page. The message names the numbers and the fix.
 */
export class BindRangeError extends HmmError {
  constructor(message: string) {
    super('BIND_RANGE', message);
  }
}

/** The kernel's WGSL did not compile (or broke a source rule); line numbers refer to your kernel's code. */
export class KernelCompileError extends HmmError {
  /** The compiler's messages, one per diagnostic, with lines mapped to your code. */
  readonly messages: readonly string[];
  constructor(kernel: string, messages: readonly string[]) {
    super(
      'KERNEL_COMPILE',
      `kernel "${kernel}" does not compile:\n${messages.join('\n')}\n` +
        `Line numbers are in your kernel's code; the prelude's functions (vm_load_u32, vm_store_f32, …) are listed in the README`,
    );
    this.messages = messages;
  }
}

/**
 * WebGPU refused a command the runtime built (inside an error scope): nothing
 * of that submission ran, and the runtime's state was left as before it.
 */
export class GpuValidationError extends HmmError {
  /** WebGPU's own validation message, verbatim. */
  readonly gpuMessage: string;
  constructor(what: string, message: string) {
    super(
      'GPU_VALIDATION',
      `${what}: WebGPU reported a validation error: ${message}. ` +
        `Check that no buffer of this pool's device was destroyed or used by other code, and that the device's limits are the ones the pool was created with; ` +
        `otherwise this is a webgpu-hmm bug: report it with this message`,
    );
    this.gpuMessage = message;
  }
}

/** The device could not allocate a buffer the runtime needed, even after giving back what it could (src/device/buffer-alloc.ts). */
export class GpuOutOfMemoryError extends HmmError {
  /** Size in bytes of the allocation that failed. */
  readonly bytes: number;
  /** The pool's device capacity in bytes, or 0 when the failure was not in a pool. */
  readonly capacity: number;
  constructor(what: string, bytes: number, capacity = 0, detail = '') {
    super(
      'GPU_OUT_OF_MEMORY',
      `${what}: the device could not allocate ${bytes} bytes${capacity > 0 ? ` (the pool holds ${capacity} bytes of device memory)` : ''}${detail}; ` +
        `use a smaller pool capacity or smaller stagingSlotSize, or free device memory used elsewhere`,
    );
    this.bytes = bytes;
    this.capacity = capacity;
  }
}

/** A range whose only valid copy was on a device that was lost. */
export interface LostRange {
  /** First byte address of the range. */
  readonly addr: number;
  /** Length of the range in bytes. */
  readonly byteLength: number;
}

/**
 * The GPU device was lost. Host-valid data is intact; ranges whose only copy was
 * on the device are listed in `lostRanges`. Call `pool.recover(newDevice)` to go on.
 */
export class DeviceLostError extends HmmError {
  /** WebGPU's `GPUDeviceLostInfo.reason` (`'destroyed'` or `'unknown'`). */
  readonly reason: string;
  /** Ranges whose only valid copy was on the lost device (their host bytes are stale). */
  readonly lostRanges: readonly LostRange[];
  constructor(reason: string, detail: string, lostRanges: readonly LostRange[] = []) {
    const lost = lostRanges.length
      ? ` ${lostRanges.length} range(s) had their only copy on the device and are lost: ` +
        lostRanges
          .slice(0, 4)
          .map((r) => `[${r.addr}, ${r.addr + r.byteLength})`)
          .join(', ') +
        (lostRanges.length > 4 ? ', …' : '') +
        '.'
      : '';
    super(
      'DEVICE_LOST',
      `the GPU device was lost (${reason}: ${detail}).${lost} Host-valid data is intact: call pool.recover(newDevice) to go on with a new device`,
    );
    this.reason = reason;
    this.lostRanges = lostRanges;
  }
}

/** The pool or address space was destroyed (or is being disposed) before this call: create a new one. */
export class DestroyedError extends HmmError {
  constructor(what: string) {
    super('DESTROYED', `${what} was destroyed; create a new one`);
  }
}

/** No WebGPU adapter could be obtained (no GPU, or the implementation refused); the message carries the platform's reason. */
export class NoAdapterError extends HmmError {
  constructor(detail: string) {
    super('NO_ADAPTER', `no WebGPU adapter: ${detail}`);
  }
}

/** A file-backed space's file could not be opened or created (webgpu-hmm/node createFileSpace). */
export class FileOpenError extends HmmError {
  /** The file that could not be opened. */
  readonly path: string;
  constructor(path: string, detail: string, cause?: unknown) {
    super('FILE_OPEN', `cannot open "${path}" for a file-backed space: ${detail}; check that the path exists (or its folder, for a new file) and that this process may read(and, unless readOnly, write) it`, cause === undefined ? undefined : { cause });
    this.path = path;
  }
}

/** A read-only file-backed space asked for more bytes than its file has. */
export class FileTooShortError extends HmmError {
  /** The file of the read-only space. */
  readonly path: string;
  /** The file's size in bytes. */
  readonly fileSize: number;
  /** The space size asked for, in bytes (more than the file has). */
  readonly size: number;
  constructor(path: string, fileSize: number, size: number) {
    super('FILE_TOO_SHORT', `"${path}" has ${fileSize} bytes, fewer than the ${size} the read-only space asks for; leave out size (the file's size, rounded down to whole pages) or open it writable, which extends it`);
    this.path = path;
    this.fileSize = fileSize;
    this.size = size;
  }
}

/**
 * A write to a file-backed space's file failed for want of space (ENOSPC) or
 * quota (EDQUOT). The pages it was writing stay dirty in host memory: free
 * disk space and call flush() again; what earlier flushes wrote is intact.
 */
export class DiskFullError extends HmmError {
  /** The file the write went to. */
  readonly path: string;
  constructor(path: string, bytes: number, cause?: unknown) {
    super('DISK_FULL', `writing ${bytes} bytes to "${path}" failed: the disk is full. The pages stay dirty in host memory and nothing flushed before is lost: free disk space and call flush() again`, cause === undefined ? undefined : { cause });
    this.path = path;
  }
}

/** A page of a read-only file-backed space was changed and would have to be written to its file. */
export class ReadOnlySpaceError extends HmmError {
  /** The read-only space's file. */
  readonly path: string;
  constructor(path: string) {
    super('READ_ONLY_SPACE', `the file-backed space on "${path}" is read-only, but changed pages would have to be written to it (a flush, or host memory over its budget); open it without readOnly to keep changes, or write results to another space`);
    this.path = path;
  }
}
