import { expect } from 'vitest';
import { testWithDevice, MiB, KiB } from '../helpers/gpu.ts';
import { affine, coreOf, makeSpace, u32 } from '../helpers/space.ts';
import { createKernel, createPool, createSpace, HmmError } from '../../src/index.ts';

testWithDevice('a 256 MiB space round-trips through a 64 MiB pool, every word exact', async (ctx) => {
  const { pool, space } = await makeSpace(ctx, { capacity: 64 * MiB }, 256 * MiB);
  const n = (256 * MiB) / 4;
  const data = new Uint32Array(n);
  for (let i = 0; i < n; i++) data[i] = (i * 2654435761) >>> 0;
  await space.write(0, data);
  const chunk = (8 * MiB) / 4;
  for (let off = 0; off < n; off += chunk) {
    await space.dispatch(affine, { workgroups: chunk / 64, write: [{ addr: off * 4, byteLength: chunk * 4 }], args: [off * 4, chunk, 3, 5] });
  }
  const out = u32(await space.read(0, 256 * MiB));
  let bad = 0;
  for (let i = 0; i < n; i++) if (out[i] !== ((data[i]! * 3 + 5) >>> 0)) bad++;
  expect(bad).toBe(0);
  const s = pool.stats();
  expect(s.bytesToDevice).toBe(256 * MiB);
  expect(s.evictionWritebacks).toBe((192 * MiB) / s.pageSize); // all but the last 64 MiB went home by eviction
  expect(s.bytesToHost).toBe(256 * MiB);
  space.checkInvariants();
}, 240_000);

testWithDevice('a 512 MiB pool spans four 128 MiB windows; kernels reach every window', async (ctx) => {
  const { pool, space } = await makeSpace(ctx, { capacity: 512 * MiB }, 640 * MiB);
  expect(pool.windowCount).toBe(4);
  expect(pool.windowSize).toBe(128 * MiB);
  const n = (640 * MiB) / 4;
  await space.withView(0, 640 * MiB, 'write', (v) => {
    const w = u32(v);
    for (let i = 0; i < n; i++) w[i] = i;
  });
  const chunk = (64 * MiB) / 4;
  for (let off = 0; off < n; off += chunk) {
    await space.dispatch(affine, { workgroups: [chunk / 64 / 16, 16], write: [{ addr: off * 4, byteLength: chunk * 4 }], args: [off * 4, chunk, 1, 7] });
  }
  const out = await space.withView(0, 640 * MiB, 'read', (v) => {
    const w = u32(v);
    let bad = 0;
    for (let i = 0; i < n; i++) if (w[i] !== i + 7) bad++;
    return bad;
  });
  expect(out).toBe(0);
  expect(pool.stats().evictions).toBe((128 * MiB) / pool.pageSize);
  space.checkInvariants();
}, 240_000);

testWithDevice('small windows: a 4-window pool of 1 MiB windows gives the same results', async (ctx) => {
  const { pool, space } = await makeSpace(ctx, { capacity: 4 * MiB, pageSize: 64 * KiB, maxWindowSize: 1 * MiB }, 16 * MiB);
  expect(pool.windowCount).toBe(4);
  const n = (16 * MiB) / 4;
  const data = new Uint32Array(n).map((_, i) => i ^ 0x5a5a);
  await space.write(0, data);
  for (let off = 0; off < n; off += (3 * MiB) / 4) {
    const cnt = Math.min((3 * MiB) / 4, n - off);
    await space.dispatch(affine, { workgroups: Math.ceil(cnt / 64), write: [{ addr: off * 4, byteLength: cnt * 4 }], args: [off * 4, cnt, 2, 1] });
  }
  const out = u32(await space.read(0, 16 * MiB));
  expect(out.every((v, i) => v === ((data[i]! * 2 + 1) >>> 0))).toBe(true);
  space.checkInvariants();
});

testWithDevice('the prelude: u32/i32/f32, vec2 and vec4 loads and stores by virtual address', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 1 * MiB, pageSize: 4 * KiB }, 1 * MiB);
  const src = space.alloc(4096, { align: 16 });
  const dst = space.alloc(4096, { align: 16 });
  const f = new Float32Array(16).map((_, i) => i * 0.5 - 3);
  const words = new Uint32Array(64);
  words.set(new Uint32Array(f.buffer), 0);
  words[16] = 0xfffffffe; // i32 -2
  await space.write(src, words);
  const k = createKernel({
    label: 'types',
    workgroupSize: 1,
    code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let s = vm_arg_u32(0u);
  let d = vm_arg_u32(1u);
  vm_store_f32(d, vm_load_f32(s) * 2.0);
  vm_store_vec2f(d + 8u, vm_load_vec2f(s + 8u) + vec2<f32>(1.0, 1.0));
  vm_store_vec4f(d + 16u, vm_load_vec4f(s + 16u) * -1.0);
  vm_store_i32(d + 32u, vm_load_i32(s + 64u) * 3);
  vm_store_vec2i(d + 40u, vm_load_vec2i(s + 64u) - vec2<i32>(1, 1));
  vm_store_vec4u(d + 48u, vm_load_vec4u(s + 32u) ^ vec4<u32>(1u));
  vm_store_vec2u(d + 64u, vm_load_vec2u(s));
  vm_store_vec4i(d + 80u, vm_load_vec4i(s + 64u));
  vm_store_u32(d + 96u, vm_load_u32(s + 4u) + 1u);
}`,
  });
  await space.dispatch(k, { workgroups: 1, read: [{ addr: src, byteLength: 4096 }], write: [{ addr: dst, byteLength: 4096 }], args: [src, dst] });
  const out = await space.read(dst, 128);
  const of = new Float32Array(out.buffer);
  const oi = new Int32Array(out.buffer);
  const ou = new Uint32Array(out.buffer);
  expect(of[0]).toBe(f[0]! * 2);
  expect([of[2], of[3]]).toEqual([f[2]! + 1, f[3]! + 1]);
  expect([of[4], of[5], of[6], of[7]]).toEqual([-f[4]!, -f[5]!, -f[6]!, -f[7]!]);
  expect(oi[8]).toBe(-6);
  expect([oi[10], oi[11]]).toEqual([-3, -1]);
  expect([ou[12], ou[13], ou[14], ou[15]]).toEqual([words[8]! ^ 1, words[9]! ^ 1, words[10]! ^ 1, words[11]! ^ 1]);
  expect([ou[16], ou[17]]).toEqual([words[0], words[1]]);
  expect([oi[20], oi[21], oi[22], oi[23]]).toEqual([-2, 0, 0, 0]);
  expect(ou[24]).toBe(words[1]! + 1);
});

testWithDevice('atomics: a histogram with vm_atomic_add_u32, and compare-exchange', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 2 * MiB, pageSize: 4 * KiB }, 4 * MiB);
  const n = 100_000;
  const vals = space.alloc(n * 4);
  const bins = space.alloc(64 * 4);
  const v = new Uint32Array(n).map((_, i) => (i * 7919) % 64);
  await space.write(vals, v);
  const hist = createKernel({
    label: 'histogram',
    workgroupSize: 128,
    code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(2u)) { return; }
  let b = vm_load_u32(vm_arg_u32(0u) + i * 4u);
  vm_atomic_add_u32(vm_arg_u32(1u) + b * 4u, 1u);
  if (i == 0u) {
    let r = vm_atomic_compare_exchange_u32(vm_arg_u32(1u) + 63u * 4u + 0u, 12345u, 1u);
    if (!r.exchanged) { vm_atomic_max_u32(vm_arg_u32(1u) + 0u, 0u); }
  }
}`,
  });
  await space.dispatch(hist, {
    workgroups: Math.ceil(n / 128), read: [{ addr: vals, byteLength: n * 4 }], write: [{ addr: bins, byteLength: 256 }], args: [vals, bins, n],
  });
  const got = new Uint32Array((await space.read(bins, 256)).buffer);
  const want = new Uint32Array(64);
  for (const x of v) want[x]!++;
  expect([...got]).toEqual([...want]);
});

testWithDevice('host write after a device write: the device copy is dropped and the next dispatch sees both', async (ctx) => {
  const { pool, space } = await makeSpace(ctx, { capacity: 1 * MiB, pageSize: 4 * KiB }, 1 * MiB);
  const a = 8192;
  await space.write(a, new Uint32Array(2048).fill(1)); // two pages
  await space.dispatch(affine, { workgroups: 32, write: [{ addr: a, byteLength: 8192 }], args: [a, 2048, 10, 0] });
  expect(space.pageState(a)).toBe('device');
  // Partial write into page 0: it must come home first (device data kept), then the host bytes land.
  await space.write(a + 4, new Uint32Array([77]));
  expect(space.pageState(a)).toBe('host');
  // Whole-page write into page 1: dropped without a copy.
  const before = pool.stats().pagesToHost;
  await space.write(a + 4096, new Uint32Array(1024).fill(5));
  expect(pool.stats().pagesToHost).toBe(before);
  expect(space.pageState(a + 4096)).toBe('host');
  expect(pool.stats().invalidations).toBeGreaterThanOrEqual(2);
  await space.dispatch(affine, { workgroups: 32, write: [{ addr: a, byteLength: 8192 }], args: [a, 2048, 1, 1] });
  const out = u32(await space.read(a, 8192));
  expect(out[0]).toBe(11);
  expect(out[1]).toBe(78);
  expect(out[2]).toBe(11);
  expect(out[1024]).toBe(6);
  expect(out[2047]).toBe(6);
  space.checkInvariants();
});

testWithDevice('a host read brings back only the pages the device dirtied', async (ctx) => {
  const { pool, space } = await makeSpace(ctx, { capacity: 1 * MiB, pageSize: 4 * KiB }, 1 * MiB);
  await space.write(0, new Uint32Array(12 * 1024).fill(3)); // 12 pages
  // Read all 12 pages, write only pages 4 and 5.
  const k = createKernel({
    label: 'sum-into',
    workgroupSize: 64,
    code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= 2048u) { return; }
  let a = 4u * 4096u + i * 4u;
  vm_store_u32(a, vm_load_u32(a) + vm_load_u32(i * 4u));
}`,
  });
  await space.dispatch(k, { workgroups: 32, read: [{ addr: 0, byteLength: 12 * 4096 }], write: [{ addr: 4 * 4096, byteLength: 2 * 4096 }] });
  const r = space.residency(0, 12 * 4096);
  expect([r.device, r.shared]).toEqual([2, 10]);
  const before = pool.stats();
  const out = u32(await space.read(0, 12 * 4096));
  const after = pool.stats();
  expect(after.pagesToHost - before.pagesToHost).toBe(2);
  expect(after.bytesToHost - before.bytesToHost).toBe(2 * 4096);
  expect(out[4 * 1024]).toBe(6);
  expect(out[0]).toBe(3);
  expect(space.residency(0, 12 * 4096).shared).toBe(12);
  space.checkInvariants();
});

testWithDevice('unpopulated pages are cleared on the device, not copied, and read as zero', async (ctx) => {
  const { pool, space } = await makeSpace(ctx, { capacity: 1 * MiB, pageSize: 4 * KiB }, 1 * MiB);
  await space.dispatch(affine, { workgroups: 16, write: [{ addr: 0, byteLength: 4096 }], args: [0, 1024, 1, 9] });
  expect(pool.stats().pagesCleared).toBe(1);
  expect(pool.stats().bytesToDevice).toBe(0);
  const out = u32(await space.read(0, 4096));
  expect(out.every((x) => x === 9)).toBe(true);
});

testWithDevice('free() drops device copies of whole pages, which read as zero again', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 1 * MiB, pageSize: 4 * KiB }, 1 * MiB);
  const a = space.alloc(3 * 4096, { align: 4096 });
  await space.write(a, new Uint32Array(3 * 1024).fill(4));
  await space.dispatch(affine, { workgroups: 48, write: [{ addr: a, byteLength: 3 * 4096 }], args: [a, 3072, 2, 0] });
  space.free(a);
  expect(space.residency(a, 3 * 4096).unpopulated).toBe(3);
  const out = u32(await space.read(a, 3 * 4096));
  expect(out.every((x) => x === 0)).toBe(true);
  space.checkInvariants();
});

testWithDevice('write ordering: host operations issued without awaiting land in order', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 1 * MiB, pageSize: 4 * KiB }, 1 * MiB);
  await space.write(0, new Uint32Array(1024).fill(1));
  await space.dispatch(affine, { workgroups: 16, write: [{ addr: 0, byteLength: 4096 }], args: [0, 1024, 1, 1] });
  // The first write is partial into a device-only page (slow path); the second must still land after it.
  const w1 = space.write(8, new Uint32Array([100]));
  const w2 = space.write(8, new Uint32Array([200]));
  const r = space.read(8, 4);
  await Promise.all([w1, w2]);
  expect(u32(await r)[0]).toBe(200);
  expect(u32(await space.read(0, 4))[0]).toBe(2);
});

testWithDevice('a space must fit the pool page size and 1 TiB; bad ranges are typed errors', async (ctx) => {
  const { pool, space } = await makeSpace(ctx, { capacity: 1 * MiB, pageSize: 64 * KiB }, 1 * MiB);
  expect(() => createSpace(pool, { size: 1 * MiB + 4096 })).toThrow(/multiple of the pool's page size/);
  expect(() => createSpace(pool, { size: 2 ** 40 + 65536 })).toThrow(/over 1 TiB .*use several spaces/);
  // 1 TiB of 4 KiB pages: its page bitmaps would not fit one binding here (128 MiB on lavapipe); the fix is named.
  const small = ctx.track(await createPool(ctx.device, { capacity: 1 * MiB, pageSize: 4 * KiB }));
  const limit = ctx.device.limits.maxStorageBufferBindingSize;
  if (limit < 192 * MiB) expect(() => createSpace(small, { size: 2 ** 40 })).toThrow(/page bitmaps .*use a pool with pages of at least \d+ bytes/);
  const errs: unknown[] = [];
  for (const p of [space.write(1 * MiB - 2, new Uint32Array(1)), space.read(-1, 4), space.read(0, Number.NaN), space.read(1 * MiB, 1)]) {
    errs.push(await p.catch((e: unknown) => e));
  }
  for (const e of errs) expect(e).toBeInstanceOf(HmmError);
  expect((errs[0] as HmmError).code).toBe('OUT_OF_RANGE');
  expect((errs[2] as HmmError).code).toBe('INVALID_ARGUMENT');
  expect(coreOf(space).table.countInState(0)).toBe(16); // nothing changed
});

testWithDevice('a view across host segments joins them: device-dirty pages come home into it, later views are the same memory, writes through it reach the next dispatch', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 4 * MiB, pageSize: 64 * KiB }, 256 * MiB, { strict: false });
  const seg = 64 * MiB; // HOST_SEGMENT_SIZE: the view below spans the first boundary
  const at = seg - 256 * KiB;
  const n = (512 * KiB) / 4;
  const data = Uint32Array.from({ length: n }, (_, i) => i * 5 + 1);
  await space.write(at, data);
  await space.dispatch(affine, { workgroups: n / 64, write: [{ addr: at, byteLength: n * 4 }], args: [at, n, 3, 1] }); // device-dirty
  const seen: { buffer: ArrayBufferLike; offset: number }[] = [];
  const sum = async () => space.withView(at, n * 4, 'read', (v) => {
    seen.push({ buffer: v.buffer, offset: v.byteOffset });
    return Array.from(u32(v)).every((x, i) => x === ((data[i]! * 3 + 1) >>> 0));
  });
  expect(await sum()).toBe(true);
  expect(await sum()).toBe(true);
  expect(seen[1]!.buffer).toBe(seen[0]!.buffer); // zero-copy: not a fresh copy per call
  expect(seen[1]!.offset).toBe(seen[0]!.offset);
  await space.withView(at, n * 4, 'write', (v) => u32(v).fill(10)); // in place, device copies invalidated
  await space.dispatch(affine, { workgroups: n / 64, write: [{ addr: at, byteLength: n * 4 }], args: [at, n, 2, 0] });
  expect(u32(await space.read(at, n * 4)).every((x) => x === 20)).toBe(true);
  expect(u32(await space.read(at - 4, 4))[0]).toBe(0); // the neighbours of the run untouched
  expect(u32(await space.read(at + n * 4, 4))[0]).toBe(0);
  space.checkInvariants();
});
