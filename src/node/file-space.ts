// File-backed address spaces (Node only: `webgpu-hmm/node`) — the disk tier
// of BaM and GPUfs under the host tier. A space's host memory
// (src/space/host-memory.ts) gets the file as its backing store: a segment is
// read from the file on the first touch of any page in it, by the host or by
// a migration to the device (untouched pages start in the Host state, so a
// first device touch uploads the file's bytes instead of clearing); past the
// host budget, the least recently used segments go, their dirty pages written
// to the file first. flush() brings device-dirty pages home, writes every
// dirty page and fsyncs; close() flushes, then destroys the space.
//
// I/O is synchronous (it runs inside host operations and transfer sinks),
// one large read per segment and one write per run of dirty pages, at
// segment- and page-aligned offsets.
//
// Errors: the file cannot be opened (FileOpenError), is shorter than `size`
// for a read-only space (FileTooShortError), a write finds the disk full
// (DiskFullError: the pages stay dirty in memory, nothing flushed before is
// lost), a read-only space's changed pages would have to be written
// (ReadOnlySpaceError).

import { closeSync, constants, fstatSync, fsyncSync, ftruncateSync, openSync, read, readSync, writeSync } from 'node:fs';
import { createBackedSpace } from '../api/address-space.ts';
import type { AddressSpace, SpaceOptions } from '../api/address-space.ts';
import type { Pool } from '../device/pool.ts';
import { DiskFullError, FileOpenError, FileTooShortError, InvalidArgumentError, ReadOnlySpaceError } from '../errors.ts';
import { HOST_SEGMENT_SIZE } from '../options.ts';
import type { HostBacking, HostMemoryStats } from '../space/host-memory.ts';
import { PageState } from '../space/page-table.ts';
import { spaceCore } from '../space/state.ts';

/** Options of {@link createFileSpace}: those of `createSpace` but `size` optional, plus the file's. */
export interface FileSpaceOptions extends Omit<SpaceOptions, 'size'> {
  /**
   * Bytes of the space: a multiple of the pool's page size. Default: the
   * file's size rounded down to whole pages. A writable file shorter than it
   * is extended (sparsely); a read-only one must have it all.
   */
  size?: number;
  /**
   * Most bytes of the file held in host memory at once (at least two pages).
   * Past it, the least recently used parts are dropped (written to the file
   * first if changed).
   */
  hostBudget: number;
  /** Open the file read-only: the space may not write it (see ReadOnlySpaceError). Default false. */
  readOnly?: boolean;
}

/** Bytes that moved between the tiers of a file-backed space, and host memory held. */
export interface FileSpaceStats {
  /** Bytes read from the file (disk → host). */
  readonly bytesRead: number;
  /** Bytes written to the file (host → disk). */
  readonly bytesWritten: number;
  /** Bytes of the file in host memory now. */
  readonly hostBytes: number;
  /** Most bytes of the file in host memory at once. */
  readonly peakHostBytes: number;
  /** Parts of the file dropped from host memory to stay within the budget. */
  readonly hostEvictions: number;
}

/** An address space backed by a file: see {@link createFileSpace}. */
export interface FileSpace extends AddressSpace {
  /** The file's path. */
  readonly path: string;
  /** Opened with `readOnly: true`: changed pages cannot be written to the file (ReadOnlySpaceError). */
  readonly readOnly: boolean;
  /** Bytes per part of the file read or dropped at once (a power of two, at most a quarter of the host budget). */
  readonly segmentSize: number;
  /** Bytes moved between the file and host memory so far, and what host memory holds now. */
  readonly fileStats: FileSpaceStats;
  /**
   * Make the file hold the space's bytes: after the dispatches issued before
   * it that write the space, device-dirty pages come home, every page changed
   * since it was last written goes to the file, and the file is fsynced.
   * After it resolves, the file survives the process being killed. Rejects
   * with DiskFullError (the pages stay dirty: free space and flush again) or
   * ReadOnlySpaceError.
   */
  flush(): Promise<void>;
  /** flush(), then destroy the space and close the file. */
  close(): Promise<void>;
}

class FileBacking implements HostBacking {
  readonly path: string;
  readonly readOnly: boolean;
  #fd: number | undefined;
  #fileSize: number;

  constructor(path: string, fd: number, fileSize: number, readOnly: boolean) {
    this.path = path;
    this.#fd = fd;
    this.#fileSize = fileSize;
    this.readOnly = readOnly;
  }

  #open(): number {
    if (this.#fd === undefined) throw new FileOpenError(this.path, 'the file-backed space was closed');
    return this.#fd;
  }

  load(offset: number, dest: Uint8Array): void {
    const fd = this.#open();
    const n = Math.max(0, Math.min(dest.length, this.#fileSize - offset));
    let got = 0;
    while (got < n) {
      const r = readSync(fd, dest, got, n - got, offset + got);
      if (r === 0) break; // shorter than it was (changed behind us): the rest reads as zero
      got += r;
    }
    if (got < dest.length) dest.fill(0, got); // a reused buffer: past the end of the file is zero
  }

  loadAsync(offset: number, dest: Uint8Array): Promise<void> {
    const fd = this.#fd;
    if (fd === undefined) return Promise.reject(new FileOpenError(this.path, 'the file-backed space was closed'));
    const n = Math.max(0, Math.min(dest.length, this.#fileSize - offset));
    return new Promise((resolve, reject) => {
      const step = (got: number): void => {
        if (got >= n) {
          if (got < dest.length) dest.fill(0, got);
          resolve();
          return;
        }
        read(fd, dest, got, n - got, offset + got, (err, r) => {
          if (err) reject(err);
          else if (r === 0) {
            dest.fill(0, got); // shorter than it was: the rest reads as zero
            resolve();
          } else step(got + r);
        });
      };
      step(0);
    });
  }

  store(offset: number, src: Uint8Array): void {
    if (this.readOnly) throw new ReadOnlySpaceError(this.path);
    const fd = this.#open();
    try {
      for (let put = 0; put < src.length;) put += writeSync(fd, src, put, src.length - put, offset + put);
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (code === 'ENOSPC' || code === 'EDQUOT') throw new DiskFullError(this.path, src.length, e);
      throw e;
    }
    if (offset + src.length > this.#fileSize) this.#fileSize = offset + src.length;
  }

  sync(): void {
    if (!this.readOnly) fsyncSync(this.#open());
  }

  close(): void {
    if (this.#fd === undefined) return;
    closeSync(this.#fd);
    this.#fd = undefined;
  }
}

/** The largest power of two ≤ n. */
function floorPow2(n: number): number {
  return 2 ** Math.floor(Math.log2(n));
}

/**
 * An address space backed by the file at `path` (created if missing, unless
 * readOnly): its pages come from the file on first touch, by the host or a
 * dispatch; at most `hostBudget` bytes of it are in host memory at once, so a
 * data set larger than host memory streams disk → host → device. Changes
 * reach the file when host memory is over budget and at flush()/close().
 *
 * ```ts
 * const space = createFileSpace(pool, 'data.bin', { hostBudget: 256 * 2 ** 20 });
 * await space.dispatch(kernel, { workgroups, read: [{ addr: 0, byteLength: space.size }] });
 * await space.close();
 * ```
 */
export function createFileSpace(pool: Pool, path: string, options: FileSpaceOptions): FileSpace {
  if (typeof path !== 'string' || path.length === 0) throw new InvalidArgumentError('createFileSpace: pass the path of a file');
  if (!options || typeof options !== 'object') throw new InvalidArgumentError('createFileSpace: pass { hostBudget, size?, readOnly?, … }');
  const { hostBudget, readOnly = false, size: wanted, ...rest } = options;
  const ps = pool.pageSize;
  if (typeof hostBudget !== 'number' || !Number.isSafeInteger(hostBudget) || hostBudget < 2 * ps) {
    throw new InvalidArgumentError(`createFileSpace: hostBudget must be a whole number of bytes, at least two pages (${2 * ps}), got ${String(hostBudget)}`);
  }
  if (typeof readOnly !== 'boolean') throw new InvalidArgumentError(`createFileSpace: readOnly must be true or false, got ${String(readOnly)}`);
  let fd: number;
  try {
    // Writable: read and write, created if missing, never truncated (nor O_APPEND, which would move positioned writes).
    fd = openSync(path, readOnly ? constants.O_RDONLY : constants.O_RDWR | constants.O_CREAT, 0o644);
  } catch (e) {
    throw new FileOpenError(path, (e as Error).message, e);
  }
  let backing: FileBacking | undefined;
  try {
    const st = fstatSync(fd);
    const fileSize = st.size;
    const size = wanted ?? Math.floor(fileSize / ps) * ps;
    if (wanted === undefined && size === 0) throw new InvalidArgumentError(`createFileSpace: "${path}" has less than one page (${ps} bytes); pass size for a new or short file`);
    if (readOnly && fileSize < size) throw new FileTooShortError(path, fileSize, size);
    backing = new FileBacking(path, fd, fileSize, readOnly);
    // Segments of a quarter of the budget at most, so that several stay held (a stream's current and next).
    const segmentSize = Math.max(ps, Math.min(HOST_SEGMENT_SIZE, floorPow2(hostBudget / 4)));
    const space = createBackedSpace(pool, { ...rest, size } as SpaceOptions, {
      host: { segmentSize, backing, budget: Math.max(hostBudget, 2 * segmentSize) },
      initial: PageState.Host,
    });
    // After createSpace accepted the size. (Not a device such as /dev/full: its size means nothing.)
    if (!readOnly && st.isFile() && fileSize < size) ftruncateSync(fd, size);
    const core = spaceCore(space, 'createFileSpace');
    const b = backing;
    core.onDestroy(() => b.close());
    const host = core.host;
    const stats = host.stats as HostMemoryStats;
    Object.defineProperties(space, {
      path: { value: path, enumerable: true },
      readOnly: { value: readOnly, enumerable: true },
      segmentSize: { value: host.segmentSize, enumerable: true },
      fileStats: {
        enumerable: true,
        get: (): FileSpaceStats => ({
          bytesRead: stats.bytesLoaded, bytesWritten: stats.bytesStored, hostBytes: stats.committedBytes, peakHostBytes: stats.peakBytes, hostEvictions: stats.segmentsEvicted,
        }),
      },
      flush: { value: async (): Promise<void> => void (await space.flushBacking(() => b.sync())) },
      close: {
        value: async (): Promise<void> => {
          if (core.destroyed) return;
          await space.flushBacking(() => b.sync());
          space.destroy();
        },
      },
    });
    return space as unknown as FileSpace;
  } catch (e) {
    if (backing) backing.close();
    else closeSync(fd);
    throw e;
  }
}
