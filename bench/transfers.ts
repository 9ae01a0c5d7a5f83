// `npm run bench:transfers -- [--sizes 4,16,64,256] [--reps N]`: the runtime's
// two transfer paths against the hand-written 4 × 4 MiB rings, each direction
// in its own interleaved group (issue 15 item 1): host→device as
// space.prefetch(…, { to: 'device' }) of host-valid pages (cold: their device
// copies dropped between runs), device→host as withView(…, 'read') of
// device-dirty pages (dirtied again, untimed, between runs). Prints median
// milliseconds, GB/s and the ratio (raw time / runtime time: ≥ 0.95 is the
// target) per size.

import { parseArgs } from 'node:util';
import { createKernel, createPool, createSpace } from '../src/index.ts';
import { requestNodeDevice } from '../src/node.ts';
import { BufferUsage, MapMode } from '../src/gpu/constants.ts';
import { gbps, interleave, MiB, timeGpu, xorshift32 } from './lib.ts';
import { grid } from './suite.ts';

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '4,16,64,256' }, reps: { type: 'string', default: '9' } } });
const sizes = values.sizes!.split(',').map((s) => Number(s) * MiB);
const reps = Number(values.reps);

const node = await requestNodeDevice();
const device = node.device;
const ctx = { device, quick: false, reps, log: (l: string) => console.log(l) };

const touch = createKernel({
  label: 'bench:touch', workgroupSize: 64,
  code: `fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x + inv.global_id.y * inv.num_workgroups.x * 64u;
  if (i >= vm_arg_u32(1u)) { return; }
  let a = vm_arg_u32(0u) + i * 4096u;
  vm_store_u32(a, vm_load_u32(a) + 1u);
}`,
});

function fill(bytes: number, seed: number): Uint8Array {
  const w = new Uint32Array(bytes / 4);
  const next = xorshift32(seed);
  for (let i = 0; i < w.length; i++) w[i] = next();
  return new Uint8Array(w.buffer);
}

const SLOT = 4 * MiB;
const SLOTS = 4;

function upRing() {
  const ring = Array.from({ length: SLOTS }, () => ({
    buffer: device.createBuffer({ size: SLOT, usage: BufferUsage.MAP_WRITE | BufferUsage.COPY_SRC, mappedAtCreation: true }),
    ready: Promise.resolve(),
  }));
  let next = 0;
  return async (dst: GPUBuffer, host: Uint8Array) => {
    for (let off = 0; off < host.byteLength; off += SLOT) {
      const slot = ring[next++ % SLOTS]!;
      await slot.ready;
      const n = Math.min(SLOT, host.byteLength - off);
      new Uint8Array(slot.buffer.getMappedRange(0, SLOT)).set(host.subarray(off, off + n));
      slot.buffer.unmap();
      const enc = device.createCommandEncoder();
      enc.copyBufferToBuffer(slot.buffer, 0, dst, off, n);
      device.queue.submit([enc.finish()]);
      slot.ready = slot.buffer.mapAsync(MapMode.WRITE);
    }
  };
}

function downRing() {
  const ring = Array.from({ length: SLOTS }, () => device.createBuffer({ size: SLOT, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST }));
  return async (src: GPUBuffer, host: Uint8Array) => {
    for (let base = 0; base < host.byteLength; base += SLOT * SLOTS) {
      const enc = device.createCommandEncoder();
      const parts: [GPUBuffer, number, number][] = [];
      for (let s = 0; s < SLOTS && base + s * SLOT < host.byteLength; s++) {
        const off = base + s * SLOT;
        const n = Math.min(SLOT, host.byteLength - off);
        enc.copyBufferToBuffer(src, off, ring[s]!, 0, n);
        parts.push([ring[s]!, off, n]);
      }
      device.queue.submit([enc.finish()]);
      const maps = parts.map(([b, , n]) => b.mapAsync(MapMode.READ, 0, n));
      for (let k = 0; k < parts.length; k++) {
        await maps[k];
        const [b, off, n] = parts[k]!;
        host.set(new Uint8Array(b.getMappedRange(0, n)), off);
        b.unmap();
      }
    }
  };
}

console.log(`transfers on Dawn; 4 × 4 MiB rings; median of ${reps}`);
console.log('size     dir        runtime ms  raw ms   runtime GB/s  raw GB/s  ratio');
for (const size of sizes) {
  const pool = await createPool(device, { capacity: size, pageSize: 64 * 1024, pinLimit: 0, label: 'bench' });
  const space = createSpace(pool, { size, label: 'bench' });
  const data = fill(size, size);
  await space.write(0, data);
  const dst = device.createBuffer({ size, usage: BufferUsage.STORAGE | BufferUsage.COPY_DST | BufferUsage.COPY_SRC });
  const up = upRing();
  const tUp = await interleave(ctx, {
    runtime: () => timeGpu(device, () => space.prefetch(0, size, { to: 'device' })),
    ring: () => timeGpu(device, () => up(dst, data)),
  }, async (k) => {
    if (k === 'runtime') await space.prefetch(0, size, { to: 'host' }); // drops the clean copies: cold again
  });
  const host = new Uint8Array(size);
  const down = downRing();
  const dirty = () => space.dispatch(touch, { workgroups: grid(size / 4096), write: [{ addr: 0, byteLength: size }], args: [0, size / 4096] });
  await dirty();
  const tDown = await interleave(ctx, {
    runtime: () => timeGpu(device, () => space.withView(0, size, 'read', () => undefined)),
    ring: () => timeGpu(device, () => down(dst, host)),
  }, async (k) => {
    if (k === 'runtime') await dirty();
  });
  for (const [dir, t] of [['to device', tUp], ['to host', tDown]] as const) {
    console.log(`${String(size / MiB).padStart(4)} MiB  ${dir.padEnd(9)}  ${t.runtime.toFixed(1).padStart(9)}  ${t.ring.toFixed(1).padStart(6)}  ${gbps(size, t.runtime).toFixed(2).padStart(12)}  ${gbps(size, t.ring).toFixed(2).padStart(8)}  ${(t.ring / t.runtime).toFixed(2)}`);
  }
  dst.destroy();
  space.destroy();
  pool.destroy();
}
node.destroy();
