// The file demo's run (npm run demo:file; Node only: it needs node:fs):
// a data set on disk larger than its host budget, which is larger than the
// device pool, streams disk → host → device through a file-backed space
// (createFileSpace, src/node/file-space.ts). Pass 1 transforms it in place on
// the GPU (x = x * 3 + i), chunk by chunk with declared write ranges: dirty
// pages go device → host as the pool evicts them and host → disk as the host
// budget drops them. Pass 2 reduces it (a wrapping u32 sum and an xor) with
// declared read ranges. flush() makes the file whole; the run checks the sum
// and xor against a CPU computation made while writing the file, and
// spot-checks the file itself, read with fs after the flush.

import { closeSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { createKernel, createPool, type PoolStats } from '../../src/index.ts';
import { createFileSpace, type FileSpaceStats } from '../../src/node.ts';
import { fmtBytes, fmtMs } from '../lib/format.ts';
import { phase, spacePolicies, type DemoHooks, type DemoOutcome, type PoolChoice } from '../lib/hooks.ts';
import { grid, PER_INVOCATION, reduce, WG } from '../lib/stream-demo.ts';

const MiB = 1024 * 1024;

export interface FileDemoOptions extends PoolChoice {
  /** The data file: made (and deleted after) unless `keep`. */
  readonly path: string;
  readonly dataBytes: number;
  readonly hostBudget: number;
  /** Bytes per dispatch (a multiple of 4). */
  readonly chunkBytes: number;
  /** Leave the file on disk after the run. */
  readonly keep?: boolean;
}

export interface TierBytes {
  readonly diskToHost: number;
  readonly hostToDisk: number;
  readonly hostToDevice: number;
  readonly deviceToHost: number;
}

export interface FilePhase extends TierBytes {
  readonly name: string;
  readonly ms: number;
}

export interface FileOutcome extends DemoOutcome {
  readonly sum: { readonly gpu: number; readonly cpu: number };
  readonly xor: { readonly gpu: number; readonly cpu: number };
  readonly samples: number;
  readonly badSamples: number;
  readonly phases: readonly FilePhase[];
  readonly peakHostBytes: number;
  readonly hostBudget: number;
  readonly hostEvictions: number;
}

const transform = createKernel({
  label: 'transform',
  workgroupSize: WG,
  code: /* wgsl */ `
// args: base address, first element index, element count
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x + inv.global_id.y * inv.num_workgroups.x * ${WG}u;
  if (i >= vm_arg_u32(2u)) { return; }
  let a = vm_arg_u32(0u) + i * 4u;
  vm_store_u32(a, vm_load_u32(a) * 3u + vm_arg_u32(1u) + i);
}`,
});

/** The data set's value at element i (as written to the file). */
function initial(i: number): number {
  return (Math.imul(i, 2654435761) ^ (i >>> 7)) >>> 0;
}

/** Element i after pass 1 (the transform's index argument is the element's own index). */
function transformed(i: number): number {
  return (Math.imul(initial(i), 3) + i) >>> 0;
}

function tiers(name: string, ms: number, a: { pool: PoolStats; file: FileSpaceStats }, b: { pool: PoolStats; file: FileSpaceStats }): FilePhase {
  return {
    name, ms,
    diskToHost: b.file.bytesRead - a.file.bytesRead,
    hostToDisk: b.file.bytesWritten - a.file.bytesWritten,
    hostToDevice: b.pool.bytesToDevice - a.pool.bytesToDevice,
    deviceToHost: b.pool.bytesToHost - a.pool.bytesToHost,
  };
}

export async function runFileDemo(device: GPUDevice, o: FileDemoOptions, hooks: DemoHooks = {}): Promise<FileOutcome> {
  const log = (line: string) => hooks.log?.(line);
  const { dataBytes, pageSize, path } = o;
  // A dispatch's pages (its chunk and the accumulators' page) must fit the pool with room to spare.
  const chunkBytes = Math.min(o.chunkBytes, Math.max(pageSize, Math.floor(o.poolBytes / 4 / pageSize) * pageSize));
  if (!(dataBytes > 0) || dataBytes % pageSize !== 0) throw new Error(`data: ${dataBytes} bytes is not a positive multiple of the page size ${pageSize}`);
  if (!(chunkBytes > 0) || chunkBytes % 4 !== 0) throw new Error(`chunk: ${chunkBytes} bytes is not a positive multiple of 4`);
  const n = dataBytes / 4;
  const start = performance.now();

  // The data file, written in 16 MiB pieces; the CPU reference of pass 1 + 2 alongside.
  const writeDone = phase(hooks, 'write file', Math.ceil(dataBytes / (16 * MiB)));
  let t = performance.now();
  let refSum = 0;
  let refXor = 0;
  {
    const fd = openSync(path, 'w');
    const piece = new Uint32Array(Math.min(n, (16 * MiB) / 4));
    try {
      for (let first = 0, k = 0; first < n; first += piece.length, k++) {
        const m = Math.min(piece.length, n - first);
        for (let j = 0; j < m; j++) {
          const i = first + j;
          piece[j] = initial(i);
          const y = transformed(i);
          refSum = (refSum + y) >>> 0;
          refXor = (refXor ^ y) >>> 0;
        }
        writeSync(fd, piece, 0, m * 4, first * 4);
        writeDone(k + 1);
      }
    } finally {
      closeSync(fd);
    }
  }
  const writeMs = performance.now() - t;

  const pool = await createPool(device, { capacity: o.poolBytes, pageSize, uploadPath: o.uploadPath, label: 'file-pool' });
  try {
    // One page past the data for the two accumulators (the file grows by a page).
    const space = createFileSpace(pool, path, { size: dataBytes + pageSize, hostBudget: o.hostBudget, label: 'file', ...spacePolicies(o) });
    let detach: (() => void) | void = undefined;
    try {
      detach = hooks.attach?.(space);
      const acc = dataBytes;
      log(`data ${fmtBytes(dataBytes)} in ${path}; host budget ${fmtBytes(o.hostBudget)} (${(dataBytes / o.hostBudget).toFixed(1)}× over), ` +
        `device pool ${fmtBytes(pool.capacity)} (${(dataBytes / pool.capacity).toFixed(1)}× over); pages ${fmtBytes(pageSize)}, ` +
        `host segments ${fmtBytes(space.segmentSize)}; declared dispatches of ${fmtBytes(chunkBytes)}`);
      await space.write(acc, new Uint32Array(2));
      await Promise.all([space.compile(transform), space.compile(reduce)]);
      const list: [number, number][] = [];
      for (let off = 0; off < dataBytes; off += chunkBytes) list.push([off, Math.min(chunkBytes, dataBytes - off)]);
      const snap = () => ({ pool: pool.stats(), file: space.fileStats });

      const s0 = snap();
      t = performance.now();
      let step = phase(hooks, 'transform', list.length);
      for (const [k, [off, len]] of list.entries()) {
        await space.dispatch(transform, { workgroups: grid(len / 4), args: [off, off / 4, len / 4], write: [{ addr: off, byteLength: len }] });
        step(k + 1);
      }
      const s1 = snap();
      const tTransform = performance.now() - t;
      t = performance.now();
      step = phase(hooks, 'reduce', list.length);
      for (const [k, [off, len]] of list.entries()) {
        await space.dispatch(reduce, {
          workgroups: grid(len / 4 / PER_INVOCATION), args: [off, len / 4, acc],
          read: [{ addr: off, byteLength: len }], write: [{ addr: acc, byteLength: 8 }],
        });
        step(k + 1);
      }
      const s2 = snap();
      const tReduce = performance.now() - t;
      const out = new Uint32Array((await space.read(acc, 8)).buffer);
      const flushDone = phase(hooks, 'flush', 1);
      t = performance.now();
      await space.flush();
      flushDone(1);
      const s3 = snap();
      const tFlush = performance.now() - t;

      // The file itself, read with fs after the flush: the transformed data, on disk.
      let bad = 0;
      let samples = 0;
      const fd = openSync(path, 'r');
      try {
        const word = new Uint32Array(1);
        for (let i = 0; i < n; i += 99991) {
          samples++;
          readSync(fd, word, 0, 4, i * 4);
          if (word[0] !== transformed(i)) bad++;
        }
      } finally {
        closeSync(fd);
      }
      const sum = { gpu: out[0]!, cpu: refSum };
      const xor = { gpu: out[1]!, cpu: refXor };
      const ok = sum.gpu === sum.cpu && xor.gpu === xor.cpu && bad === 0 && s3.file.peakHostBytes <= o.hostBudget;
      space.checkInvariants();
      const phases = [tiers('transform (write)', tTransform, s0, s1), tiers('reduce (read)', tReduce, s1, s2), tiers('flush', tFlush, s2, s3)];
      log(`write file (JS) ${fmtMs(writeMs)}; transform ${fmtMs(tTransform)}, reduce ${fmtMs(tReduce)}, flush ${fmtMs(tFlush)}`);
      log(`sum   GPU ${sum.gpu}  CPU ${sum.cpu}`);
      log(`xor   GPU ${xor.gpu}  CPU ${xor.cpu}`);
      log(`file spot-check after flush: ${samples - bad}/${samples} samples exact; host memory peak ${fmtBytes(s3.file.peakHostBytes)} of a ${fmtBytes(o.hostBudget)} budget`);
      const stats = s3.pool;
      return {
        ok, sum, xor, samples, badSamples: bad, phases, ms: performance.now() - start, stats, dataBytes, ratio: dataBytes / pool.capacity,
        peakHostBytes: s3.file.peakHostBytes, hostBudget: o.hostBudget, hostEvictions: s3.file.hostEvictions,
        summary: ok
          ? `ok: ${fmtBytes(dataBytes)} streamed disk → host → device and back through a ${fmtBytes(o.hostBudget)} host budget and a ${fmtBytes(pool.capacity)} pool; sum, xor and ${samples} file samples exact`
          : `FAILED: sum ${sum.gpu} vs ${sum.cpu}, xor ${xor.gpu} vs ${xor.cpu}, ${bad}/${samples} file samples wrong, host peak ${s3.file.peakHostBytes}`,
      };
    } finally {
      try {
        detach?.();
      } finally {
        await space.close();
      }
    }
  } finally {
    pool.destroy();
    if (!o.keep) rmSync(path, { force: true });
  }
}
