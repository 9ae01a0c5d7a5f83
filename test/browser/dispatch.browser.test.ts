// Browser project: the library in real Chromium (Debian's chromium, SwiftShader
// WebGPU), driven by vitest's browser mode. The test gets the device from
// navigator.gpu; the library only ever sees the GPUDevice.

import { test, expect } from 'vitest';
import { createPool, createSpace, createKernel, type HmmError } from '../../src/index.ts';
import { affine } from '../helpers/space.ts';
import { withBrowserDevice, type BrowserDevice } from '../helpers/browser.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

/** The shared browser device, after checking it is the SwiftShader adapter these machines have. */
async function withDevice(fn: (t: BrowserDevice) => Promise<void>): Promise<void> {
  await withBrowserDevice('dispatch-test-device', async (t) => {
    const info = t.adapter.info;
    const described = {
      vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description,
      isFallbackAdapter: (info as { isFallbackAdapter?: boolean }).isFallbackAdapter,
    };
    console.log('adapter.info', JSON.stringify(described));
    // Debian's chromium only offers SwiftShader for WebGPU on these machines.
    expect(`${info.vendor} ${info.architecture} ${info.device} ${info.description}`).toMatch(/swiftshader/i);
    await fn(t);
  });
}

/** a[i] = a[i] * 3 + 7, the shared test kernel (args: base, count, mul, add). */
const MUL_ADD = affine;

test('a 12 MiB array through a 4 MiB pool: chunked dispatch, eviction, exact readback', async () => {
  await withDevice(async ({ device }) => {
    expect(device.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * MiB);

    const pool = await createPool(device, { capacity: 4 * MiB, pageSize: 64 * KiB });
    const space = createSpace(pool, { size: 16 * MiB });
    expect(pool.frameCount).toBe(64);

    const n = (12 * MiB) / 4;
    const a = space.alloc(n * 4);
    expect(a).toBeGreaterThan(0);
    const data = new Uint32Array(n);
    for (let i = 0; i < n; i++) data[i] = i;
    await space.write(a, data);

    const chunk = (2 * MiB) / 4; // elements per dispatch: a 2 MiB declared write range
    let dispatches = 0;
    for (let off = 0; off < n; off += chunk) {
      const count = Math.min(chunk, n - off);
      const addr = a + off * 4;
      const r = await space.dispatch(MUL_ADD, {
        workgroups: Math.ceil(count / 64),
        write: [{ addr, byteLength: count * 4 }],
        args: [addr, count, 3, 7],
      });
      expect(r.pagesUploaded).toBeGreaterThan(0);
      dispatches++;
    }
    expect(dispatches).toBe(6);

    const out = new Uint32Array((await space.read(a, n * 4)).slice().buffer);
    expect(out.length).toBe(n);
    let bad = 0;
    let firstBad = -1;
    for (let i = 0; i < n; i++) {
      if (out[i] !== ((i * 3 + 7) >>> 0)) {
        if (firstBad < 0) firstBad = i;
        bad++;
      }
    }
    expect(bad, `wrong elements (first at ${firstBad}: ${out[firstBad]})`).toBe(0);

    const stats = pool.stats();
    console.log('pool.stats', JSON.stringify(stats));
    expect(stats.evictions).toBeGreaterThan(0);
    expect(stats.evictionWritebacks).toBeGreaterThan(0);
    expect(stats.dispatches).toBe(6);
    expect(() => space.checkInvariants()).not.toThrow();

    space.destroy();
    pool.destroy();
  });
});

test('a store outside the declared write range rejects with ACCESS_VIOLATION and is not carried out', async () => {
  await withDevice(async ({ device }) => {
    const pageSize = 64 * KiB;
    const pool = await createPool(device, { capacity: 4 * MiB, pageSize });
    const space = createSpace(pool, { size: 16 * MiB });
    const a = space.alloc(4 * pageSize, { align: pageSize });
    const fill = new Uint32Array(pageSize); // 4 pages of u32
    fill.fill(0x1234_5678);
    await space.write(a, fill);

    // Declared: the first 256 bytes (page 0 of the block). The kernel also stores two pages on.
    const stray = a + 2 * pageSize + 8;
    const k = createKernel({
      label: 'stray-store',
      workgroupSize: 1,
      code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  vm_store_u32(vm_arg_u32(0), 99u);
  vm_store_u32(vm_arg_u32(1), 42u);
}`,
    });
    const err: unknown = await space
      .dispatch(k, { workgroups: 1, write: [{ addr: a, byteLength: 256 }], args: [a, stray] })
      .then(() => null, (e: unknown) => e);
    expect(err, 'dispatch should have rejected').toBeInstanceOf(Error);
    const e = err as HmmError & { violations?: readonly { addr: number; kind: string }[]; count?: number };
    expect(e.code).toBe('ACCESS_VIOLATION');
    expect(e.count).toBe(1);
    expect(e.violations?.[0]?.addr).toBe(stray);
    expect(e.violations?.[0]?.kind).toBe('not-writable');

    // The declared store landed; the stray one did not.
    const back = new Uint32Array((await space.read(a, 4 * pageSize)).slice().buffer);
    expect(back[0]).toBe(99);
    expect(back[(stray - a) / 4]).toBe(0x1234_5678);
    expect(() => space.checkInvariants()).not.toThrow();

    space.destroy();
    pool.destroy();
  });
});

test('a plain WGSL kernel runs unchanged over bound ranges in Chromium', async () => {
  await withDevice(async ({ device }) => {
    const { createPlainKernel } = await import('../../src/index.ts');
    // Two windows: the read-only and the written ranges come from different buffers.
    const pool = await createPool(device, { capacity: 2 * MiB, pageSize: 64 * KiB, maxWindowSize: MiB });
    const space = createSpace(pool, { size: 4 * MiB });
    const n = 100_000;
    const a = space.alloc(n * 4, { align: 64 * KiB });
    const r = space.alloc(n * 4, { align: 64 * KiB });
    await space.write(a, Float32Array.from({ length: n }, (_, i) => i));
    const k = createPlainKernel({ code: `
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> r: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  if (id.x < arrayLength(&r)) { r[id.x] = a[id.x] * 2.0 + 1.0; }
}` });
    await space.dispatch(k, { workgroups: Math.ceil(n / 64), bind: [{ binding: 0, addr: a, byteLength: n * 4 }, { binding: 1, addr: r, byteLength: n * 4 }] });
    const got = new Float32Array((await space.read(r, n * 4)).slice().buffer);
    for (let i = 0; i < n; i += 997) expect(got[i]).toBe(i * 2 + 1);
    space.destroy();
    pool.destroy();
  });
});
