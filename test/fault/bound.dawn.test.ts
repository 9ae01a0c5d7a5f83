// Bound dispatches (issue 15 item 2, issue 18 items 4a and 8): plain WGSL
// kernels, written as a compute sample writes them — their own entry point,
// `var<storage> … array<T>` bindings in group 0, a uniform — run unchanged over
// ranges of a space bound directly. Checked against a CPU reference: the
// results, coherence around them (host writes before and after, reads of
// written ranges, eviction of bound pages between dispatches), compaction of a
// fragmented pool into contiguous runs, and the typed refusals.

import { describe, expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { affine as affineKernel, coreOf, makeSpace, u32 } from '../helpers/space.ts';
import { BindRangeError, createKernel, createPlainKernel, InvalidArgumentError, KernelCompileError } from '../../src/index.ts';
import { BufferUsage } from '../../src/gpu/constants.ts';

const P = 4 * KiB;

/** A vector add as the WebGPU tutorials write it, unmodified: three storage buffers in group 0. */
const VECTOR_ADD = /* wgsl */ `
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> result: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let i = id.x;
  if (i < arrayLength(&result)) {
    result[i] = a[i] + b[i];
  }
}
`;

/**
 * A boids update in the shape of the WebGPU samples' compute boids: a uniform
 * block of parameters, a struct of particles with a runtime-sized array, read
 * from one buffer and written to the other (ping-pong).
 */
const BOIDS = /* wgsl */ `
struct Particle {
  pos : vec2f,
  vel : vec2f,
}
struct SimParams {
  deltaT : f32,
  rule1Distance : f32,
  rule2Distance : f32,
  rule3Distance : f32,
  rule1Scale : f32,
  rule2Scale : f32,
  rule3Scale : f32,
}
struct Particles {
  particles : array<Particle>,
}
@binding(0) @group(0) var<uniform> params : SimParams;
@binding(1) @group(0) var<storage, read> particlesA : Particles;
@binding(2) @group(0) var<storage, read_write> particlesB : Particles;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) GlobalInvocationID : vec3u) {
  var index = GlobalInvocationID.x;
  if (index >= arrayLength(&particlesA.particles)) { return; }
  var vPos = particlesA.particles[index].pos;
  var vVel = particlesA.particles[index].vel;
  var cMass = vec2(0.0);
  var cVel = vec2(0.0);
  var colVel = vec2(0.0);
  var cMassCount = 0u;
  var cVelCount = 0u;
  var pos : vec2f;
  var vel : vec2f;
  for (var i = 0u; i < arrayLength(&particlesA.particles); i++) {
    if (i == index) { continue; }
    pos = particlesA.particles[i].pos.xy;
    vel = particlesA.particles[i].vel.xy;
    if (distance(pos, vPos) < params.rule1Distance) {
      cMass += pos;
      cMassCount++;
    }
    if (distance(pos, vPos) < params.rule2Distance) {
      colVel -= pos - vPos;
    }
    if (distance(pos, vPos) < params.rule3Distance) {
      cVel += vel;
      cVelCount++;
    }
  }
  if (cMassCount > 0) {
    cMass = (cMass / vec2(f32(cMassCount))) - vPos;
  }
  if (cVelCount > 0) {
    cVel /= f32(cVelCount);
  }
  vVel += (cMass * params.rule1Scale) + (colVel * params.rule2Scale) + (cVel * params.rule3Scale);
  vVel = normalize(vVel) * clamp(length(vVel), 0.0, 0.1);
  vPos = vPos + (vVel * params.deltaT);
  if (vPos.x < -1.0) { vPos.x = 1.0; }
  if (vPos.x > 1.0) { vPos.x = -1.0; }
  if (vPos.y < -1.0) { vPos.y = 1.0; }
  if (vPos.y > 1.0) { vPos.y = -1.0; }
  particlesB.particles[index].pos = vPos;
  particlesB.particles[index].vel = vVel;
}
`;

const f32 = (bytes: Uint8Array) => new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);

describe('plain kernels through bound ranges', () => {
  testWithDevice('an unmodified vector-add kernel runs over a space; host writes before it and reads after it are coherent', async (ctx) => {
    // Two windows: the read-only ranges and the written one are bound from different buffers (WebGPU's usage rule).
    const { space, pool } = await makeSpace(ctx, { capacity: 64 * P, pageSize: P, maxWindowSize: 32 * P }, 256 * P);
    const n = 10_000;
    // The inputs may share pages (read-only ranges are bound from one run); the output gets pages of its own.
    const a = space.alloc(n * 4, { align: 256 });
    const b = space.alloc(n * 4, { align: 256 });
    const r = space.alloc(n * 4, { align: P });
    const av = Float32Array.from({ length: n }, (_, i) => i * 0.5);
    const bv = Float32Array.from({ length: n }, (_, i) => 1000 - i);
    await space.write(a, av);
    await space.write(b, bv);
    const add = createPlainKernel({ code: VECTOR_ADD, label: 'vector-add' });
    expect(add.workgroupSize).toEqual([64, 1, 1]); // read from the module's @workgroup_size
    // Compiled ahead like any kernel; a plain kernel has one pipeline and no demand variant.
    await add.ready(pool);
    await expect(add.ready(pool, { modes: ['transaction'] })).rejects.toThrow(InvalidArgumentError);
    await expect(add.ready({} as never)).rejects.toThrow(InvalidArgumentError);
    const bind = [
      { binding: 0, addr: a, byteLength: n * 4 },
      { binding: 1, addr: b, byteLength: n * 4 },
      { binding: 2, addr: r, byteLength: n * 4, access: 'read-write' as const },
    ];
    const res = await space.dispatch(add, { workgroups: Math.ceil(n / 64), bind });
    expect(res.mode).toBe('declared');
    // The written range is device-dirty, the read ones are clean copies.
    expect(space.pageState(r)).toBe('device');
    expect(space.pageState(a)).toBe('shared');
    const out = f32(await space.read(r, n * 4));
    for (let i = 0; i < n; i++) expect(out[i]).toBe(Math.fround(av[i]! + bv[i]!));
    expect(space.pageState(r)).toBe('shared'); // read back: valid on both sides
    // A host write to an input invalidates its device copy; the next dispatch sees the new bytes.
    bv.fill(1);
    await space.write(b, bv);
    await space.dispatch(add, { workgroups: Math.ceil(n / 64), bind });
    const out2 = f32(await space.read(r, n * 4));
    for (let i = 0; i < n; i += 97) expect(out2[i]).toBe(Math.fround(av[i]! + 1));
    space.checkInvariants();
  });

  testWithDevice('the compute-boids update runs unchanged with its uniform as a resource, ping-ponging between two ranges', async (ctx) => {
    const { space } = await makeSpace(ctx, { capacity: 32 * P, pageSize: P, maxWindowSize: 16 * P }, 64 * P);
    const n = 500;
    const bytes = n * 16;
    const A = 0;
    const B = 4 * P;
    const init = new Float32Array(n * 4);
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
    for (let i = 0; i < n * 4; i++) init[i] = rnd() * (i % 4 < 2 ? 1 : 0.1);
    await space.write(A, init);
    const params = new Float32Array([0.04, 0.1, 0.025, 0.025, 0.02, 0.05, 0.005]);
    const uniform = ctx.track(ctx.device.createBuffer({ size: 32, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST }));
    ctx.device.queue.writeBuffer(uniform, 0, params);
    const boids = createPlainKernel({ code: BOIDS, label: 'boids' });
    let cur: Float32Array = init;
    for (let step = 0; step < 3; step++) {
      const [src, dst] = step % 2 === 0 ? [A, B] : [B, A];
      await space.dispatch(boids, {
        workgroups: Math.ceil(n / 64),
        bind: [{ binding: 1, addr: src, byteLength: bytes }, { binding: 2, addr: dst, byteLength: bytes }],
        resources: [{ binding: 0, resource: { buffer: uniform } }],
      });
      cur = boidsStep(cur, params);
      const got = f32(await space.read(dst, bytes));
      for (let i = 0; i < n * 4; i++) expect(got[i]).toBeCloseTo(cur[i]!, 4);
    }
    space.checkInvariants();
  });

  testWithDevice('a fragmented pool is compacted into a contiguous run; other spaces’ pages move with their bytes and states', async (ctx) => {
    const { pool, space } = await makeSpace(ctx, { capacity: 16 * P, pageSize: P }, 32 * P, { label: 'A' });
    const other = ctx.track((await import('../../src/index.ts')).createSpace(pool, { size: 16 * P, label: 'B', strict: true }));
    // Interleave A's and B's pages in the pool: A 0,2,4,… and B's pages between them.
    const fill = createKernel({
      label: 'fill', workgroupSize: 64,
      code: 'fn kernel(inv: VmInvocation) { let i = inv.global_id.x; if (i < vm_arg_u32(1u)) { vm_store_u32(vm_arg_u32(0u) + i * 4u, vm_arg_u32(2u) + i); } }',
    });
    for (let k = 0; k < 8; k++) {
      await space.dispatch(fill, { workgroups: 16, write: [{ addr: k * 2 * P, byteLength: P }], args: [k * 2 * P, 1024, 0xa000_0000 + k * 2 * 1024] });
      await other.dispatch(fill, { workgroups: 16, write: [{ addr: k * P, byteLength: P }], args: [k * P, 1024, 0xb000_0000 + k * 1024] });
    }
    const a = coreOf(space);
    const frames = [0, 2, 4, 6].map((p) => a.table.frame[p * 2]!);
    expect(frames.every((f, i) => i === 0 || f !== frames[i - 1]! + 1)).toBe(true); // fragmented
    // Bind A's pages 0–7 (half of them resident and dirty, interleaved with B's): one run of 8 frames.
    const inc = createPlainKernel({
      code: '@group(0) @binding(0) var<storage, read_write> d: array<u32>;\n@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) { if (g.x < arrayLength(&d)) { d[g.x] = d[g.x] + 1u; } }',
    });
    const res = await space.dispatch(inc, { workgroups: 128, bind: [{ binding: 0, addr: 0, byteLength: 8 * P }] });
    expect(res.pagesCompacted).toBeGreaterThan(0);
    const f0 = a.table.frame[0]!;
    for (let p = 1; p < 8; p++) expect(a.table.frame[p]).toBe(f0 + p);
    const got = u32(await space.read(0, 8 * P));
    for (let i = 0; i < 8 * 1024; i++) {
      const page = Math.floor(i / 1024);
      expect(got[i]).toBe(page % 2 === 0 ? (0xa000_0000 + i + 1) >>> 0 : 1);
    }
    const gotB = u32(await other.read(0, 8 * P));
    for (let i = 0; i < 8 * 1024; i++) expect(gotB[i]).toBe((0xb000_0000 + i) >>> 0);
    // A second dispatch finds the run in place: nothing moves.
    const again = await space.dispatch(inc, { workgroups: 128, bind: [{ binding: 0, addr: 0, byteLength: 8 * P }] });
    expect(again.pagesCompacted).toBe(0);
    space.checkInvariants();
    other.checkInvariants();
  });

  testWithDevice('a cold range is uploaded straight into a free run, not uploaded and then moved', async (ctx) => {
    const { space } = await makeSpace(ctx, { capacity: 16 * P, pageSize: P }, 64 * P);
    // Fill every frame (the next-fit cursor wraps to frame 0), then free frames 1, 3, 5 and 12–15.
    await space.prefetch(0, 16 * P, { to: 'device' });
    for (const p of [1, 3, 5, 12, 13, 14, 15]) await space.write(p * P, new Uint32Array([p]));
    const a = coreOf(space);
    expect(a.table.frame[1]).toBe(0xffffffff);
    const inc = createPlainKernel({
      code: '@group(0) @binding(0) var<storage, read_write> d: array<u32>;\n@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) { if (g.x < arrayLength(&d)) { d[g.x] = d[g.x] + 1u; } }',
    });
    await space.write(40 * P, Uint32Array.from({ length: 4 * 1024 }, (_, i) => i));
    const res = await space.dispatch(inc, { workgroups: 64, bind: [{ binding: 0, addr: 40 * P, byteLength: 4 * P }] });
    expect(res.pagesCompacted).toBe(0);
    expect(res.pagesUploaded).toBe(4);
    expect([41, 42, 43].map((p) => a.table.frame[p]! - a.table.frame[40]!)).toEqual([1, 2, 3]);
    const got = u32(await space.read(40 * P, 4 * P));
    for (let i = 0; i < got.length; i += 37) expect(got[i]).toBe(i + 1);
  });

  testWithDevice('a bound run is never taken from under its running dispatch: another space evicts it at once, after it in queue order', async (ctx) => {
    const { pool, space } = await makeSpace(ctx, { capacity: 8 * P, pageSize: P }, 16 * P, { label: 'A' });
    const { createSpace } = await import('../../src/index.ts');
    const other = ctx.track(createSpace(pool, { size: 16 * P, label: 'B', strict: true }));
    await space.write(0, Uint32Array.from({ length: 8 * 1024 }, (_, i) => i));
    // A slow kernel over A's 8 pages: the whole pool.
    const slow = createPlainKernel({
      code: `@group(0) @binding(0) var<storage, read_write> d: array<u32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x >= arrayLength(&d)) { return; }
  var v = d[g.x];
  for (var k = 0u; k < 2000u; k++) { v = v * 1664525u + 1013904223u; }
  d[g.x] = v;
}`,
    });
    const fill = createKernel({
      label: 'fill', workgroupSize: 64,
      code: 'fn kernel(inv: VmInvocation) { let i = inv.global_id.x; vm_store_u32(i * 4u, 0xb0000000u | i); }',
    });
    // Both compiled first: otherwise whichever compiles sooner takes the pool first (a cold shader
    // cache on a fresh machine made B go first: found by CI).
    await slow.ready(pool);
    await fill.ready(pool, { modes: ['declared'] });
    // Not awaited: B's dispatch needs every frame, so it evicts A's run as soon as A has submitted.
    const a = space.dispatch(slow, { workgroups: 128, bind: [{ binding: 0, addr: 0, byteLength: 8 * P }] });
    const b = other.dispatch(fill, { workgroups: 128, write: [{ addr: 0, byteLength: 8 * P }] });
    const [ra, rb] = await Promise.all([a, b]);
    expect(ra.mode).toBe('declared');
    expect(rb.evictions).toBe(8);
    const want = Uint32Array.from({ length: 8 * 1024 }, (_, i) => {
      let v = i;
      for (let k = 0; k < 2000; k++) v = (Math.imul(v, 1664525) + 1013904223) >>> 0;
      return v;
    });
    expect(Array.from(u32(await space.read(0, 8 * P)))).toEqual(Array.from(want));
    const gotB = u32(await other.read(0, 8 * P));
    for (let i = 0; i < gotB.length; i += 53) expect(gotB[i]).toBe((0xb0000000 | i) >>> 0);
  });

  testWithDevice('bound pages are ordinary pages between dispatches: evicted under pressure, written back, bound again', async (ctx) => {
    const { space } = await makeSpace(ctx, { capacity: 8 * P, pageSize: P }, 64 * P);
    const inc = createPlainKernel({
      code: '@group(0) @binding(0) var<storage, read_write> d: array<u32>;\n@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) { if (g.x < arrayLength(&d)) { d[g.x] = d[g.x] + 1u; } }',
    });
    // Eight ranges of 4 pages through a pool of 8 frames, twice: every run evicts the one before last.
    for (let round = 0; round < 2; round++) {
      for (let k = 0; k < 8; k++) await space.dispatch(inc, { workgroups: 64, bind: [{ binding: 0, addr: k * 4 * P, byteLength: 4 * P }] });
    }
    const got = u32(await space.read(0, 32 * P));
    for (let i = 0; i < got.length; i += 111) expect(got[i]).toBe(2);
    space.checkInvariants();
  });

  testWithDevice('refused with typed errors: misaligned, larger than a window, undeclared or missing bindings, runtime buffers as resources, prelude options', async (ctx) => {
    const { pool, space } = await makeSpace(ctx, { capacity: 16 * P, pageSize: P, maxWindowSize: 8 * P }, 64 * P);
    const add = createPlainKernel({ code: VECTOR_ADD });
    const ok = [{ binding: 0, addr: 0, byteLength: P }, { binding: 1, addr: P, byteLength: P }, { binding: 2, addr: 2 * P, byteLength: P }];
    const d = (opts: object) => space.dispatch(add, { workgroups: 1, ...opts } as never);
    await d({ bind: ok });
    await expect(d({ bind: [{ ...ok[0]!, addr: 4 }, ok[1], ok[2]] })).rejects.toThrow(BindRangeError);
    await expect(d({ bind: [{ ...ok[0]!, addr: 0, byteLength: 6 }, ok[1], ok[2]] })).rejects.toThrow(/multiple of 4/);
    // Both sides of the window limit: 8 pages bind, 9 do not.
    await d({ bind: [{ ...ok[0]!, addr: 16 * P, byteLength: 8 * P }, { ...ok[1]!, addr: 16 * P }, ok[2]] });
    const big = await d({ bind: [{ ...ok[0]!, addr: 16 * P, byteLength: 9 * P }, ok[1], ok[2]] }).catch((e: unknown) => e);
    expect(big).toBeInstanceOf(BindRangeError);
    expect(String(big)).toMatch(/more than one pool window \(32768 bytes/);
    await expect(d({ bind: ok.slice(0, 2) })).rejects.toThrow(/@group\(0\) @binding\(2\) result but the dispatch binds nothing/);
    await expect(d({ bind: [...ok, { binding: 5, addr: 8 * P, byteLength: P }] })).rejects.toThrow(/does not declare/);
    await expect(d({ bind: [ok[0], ok[1], { ...ok[2]!, access: 'read' }] })).rejects.toThrow(/declares it var<storage, read_write>/);
    await expect(d({ bind: [ok[0], ok[1], { ...ok[2]!, addr: 256 }] })).rejects.toThrow(/share a page and one of them is written/);
    // Read-only ranges may share pages: bound from one run.
    await d({ bind: [ok[0], { ...ok[1]!, addr: 256 }, ok[2]] });
    const window = (pool as unknown as { windows: GPUBuffer[] }).windows[0]!;
    await expect(d({ bind: ok.slice(0, 2), resources: [{ binding: 2, resource: { buffer: window } }] })).rejects.toThrow(/runtime's buffers/);
    await expect(d({ bind: ok, args: [1] })).rejects.toThrow(InvalidArgumentError);
    await expect(d({ bind: ok, demand: true })).rejects.toThrow(/nothing in it can report a fault/);
    const prelude = createKernel({ code: 'fn kernel(inv: VmInvocation) {}' });
    await expect(space.dispatch(prelude, { workgroups: 1, bind: ok })).rejects.toThrow(/for plain kernels/);
    expect(() => createPlainKernel({ code: 'fn f() {}' })).toThrow(KernelCompileError);
    // Compiled ahead like any kernel; a WGSL error is a KernelCompileError with the module's line.
    await space.compile(add);
    const broken = createPlainKernel({ code: VECTOR_ADD.replace('a[i] + b[i]', 'a[i] + nope') });
    await expect(space.compile(broken)).rejects.toThrow(/line 10:.*nope/);
    expect(() => createPlainKernel({ code: VECTOR_ADD, entryPoint: 'nope' })).toThrow(/no @compute function named "nope"/);
    // Refusals changed nothing: the valid dispatch still runs.
    await d({ bind: ok });
    space.checkInvariants();
  });

  testWithDevice('isolation: a plain kernel that writes far past its bound range reaches none of another space’s frames in the same window', async (ctx) => {
    const { pool, space } = await makeSpace(ctx, { capacity: 16 * P, pageSize: P }, 16 * P, { label: 'A' });
    const { createSpace } = await import('../../src/index.ts');
    const other = ctx.track(createSpace(pool, { size: 16 * P, label: 'B', strict: true }));
    const pattern = Uint32Array.from({ length: 12 * 1024 }, (_, i) => (0xb000_0000 | i) >>> 0);
    // B's pages device-dirty in the window (their only copy there), around wherever A's run goes.
    const fill = createKernel({
      label: 'fill', workgroupSize: 64,
      code: 'fn kernel(inv: VmInvocation) { let i = inv.global_id.x; vm_store_u32(i * 4u, 0xb0000000u | i); }',
    });
    await other.dispatch(fill, { workgroups: 12 * 1024 / 64, write: [{ addr: 0, byteLength: 12 * P }] });
    expect(other.pageState(0)).toBe('device');
    // Every invocation stores a marker at its index, up to 16 pages' worth of words: far past a 1-page binding
    // (indices past the end are WebGPU's out-of-bounds accesses, kept inside the binding).
    const spray = createPlainKernel({
      code: '@group(0) @binding(0) var<storage, read_write> d: array<u32>;\n@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) { d[g.x] = 0xdead0000u + g.x; d[g.x + 1000000u] = 7u; }',
    });
    await space.dispatch(spray, { workgroups: 16 * 1024 / 64, bind: [{ binding: 0, addr: 4 * P, byteLength: P }] });
    const got = u32(await other.read(0, 12 * P));
    for (let i = 0; i < got.length; i++) if (got[i] !== pattern[i]) expect.fail(`B's word ${i} changed to ${got[i]!.toString(16)}`);
    // A's own pages outside the range: untouched too (zero: never written).
    const mine = u32(await space.read(0, 16 * P));
    for (let i = 0; i < mine.length; i++) if ((i < 4 * 1024 || i >= 5 * 1024) && mine[i] !== 0) expect.fail(`A's word ${i} outside the range changed`);
  });

  testWithDevice('a one-window pool binds written and read-only ranges apart only with two windows: refused, naming maxWindowSize', async (ctx) => {
    const { space } = await makeSpace(ctx, { capacity: 16 * P, pageSize: P }, 64 * P);
    const add = createPlainKernel({ code: VECTOR_ADD });
    const err = await space.dispatch(add, {
      workgroups: 1, bind: [{ binding: 0, addr: 0, byteLength: P }, { binding: 1, addr: P, byteLength: P }, { binding: 2, addr: 2 * P, byteLength: P }],
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BindRangeError);
    expect(String(err)).toMatch(/maxWindowSize/);
    // Only written ranges (or only read ones): one window is enough, several ranges in it.
    const swap = createPlainKernel({ code: `@group(0) @binding(0) var<storage, read_write> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) { if (g.x < arrayLength(&x)) { let t = x[g.x]; x[g.x] = y[g.x]; y[g.x] = t; } }` });
    await space.write(4 * P, Uint32Array.from({ length: 1024 }, (_, i) => i));
    await space.write(8 * P, Uint32Array.from({ length: 1024 }, (_, i) => 5000 + i));
    await space.dispatch(swap, { workgroups: 16, bind: [{ binding: 0, addr: 4 * P, byteLength: P }, { binding: 1, addr: 8 * P, byteLength: P }] });
    expect(u32(await space.read(4 * P, P))[7]).toBe(5007);
    expect(u32(await space.read(8 * P, P))[7]).toBe(7);
    const inc = createPlainKernel({ code: '@group(0) @binding(0) var<storage, read_write> d: array<u32>;\n@compute @workgroup_size(1) fn main() { d[0] += 1u; }' });
    await space.dispatch(inc, { workgroups: 1, bind: [{ binding: 0, addr: 0, byteLength: 4 }] });
    expect(u32(await space.read(0, 4))[0]).toBe(1);
  });
});

/** The CPU reference of BOIDS, in f32. */
function boidsStep(src: Float32Array, p: Float32Array): Float32Array {
  const n = src.length / 4;
  const out = new Float32Array(src.length);
  const f = Math.fround;
  for (let index = 0; index < n; index++) {
    const vPos = [src[index * 4]!, src[index * 4 + 1]!];
    let vVel = [src[index * 4 + 2]!, src[index * 4 + 3]!];
    let cMass = [0, 0];
    let cVel = [0, 0];
    const colVel = [0, 0];
    let cMassCount = 0;
    let cVelCount = 0;
    for (let i = 0; i < n; i++) {
      if (i === index) continue;
      const pos = [src[i * 4]!, src[i * 4 + 1]!];
      const vel = [src[i * 4 + 2]!, src[i * 4 + 3]!];
      const dist = Math.hypot(pos[0]! - vPos[0]!, pos[1]! - vPos[1]!);
      if (dist < p[1]!) { cMass = [cMass[0]! + pos[0]!, cMass[1]! + pos[1]!]; cMassCount++; }
      if (dist < p[2]!) { colVel[0] = colVel[0]! - (pos[0]! - vPos[0]!); colVel[1] = colVel[1]! - (pos[1]! - vPos[1]!); }
      if (dist < p[3]!) { cVel = [cVel[0]! + vel[0]!, cVel[1]! + vel[1]!]; cVelCount++; }
    }
    if (cMassCount > 0) cMass = [cMass[0]! / cMassCount - vPos[0]!, cMass[1]! / cMassCount - vPos[1]!];
    if (cVelCount > 0) cVel = [cVel[0]! / cVelCount, cVel[1]! / cVelCount];
    vVel = [0, 1].map((k) => vVel[k]! + cMass[k]! * p[4]! + colVel[k]! * p[5]! + cVel[k]! * p[6]!);
    const nv = [vVel[0]!, vVel[1]!] as const;
    const len = Math.hypot(nv[0], nv[1]);
    const scale = len === 0 ? 0 : Math.min(len, 0.1) / len;
    vVel = nv.map((v) => v * scale);
    const np = [vPos[0]! + vVel[0]! * p[0]!, vPos[1]! + vVel[1]! * p[0]!];
    for (const k of [0, 1]) {
      if (np[k]! < -1) np[k] = 1;
      if (np[k]! > 1) np[k] = -1;
    }
    out.set([f(np[0]!), f(np[1]!), f(vVel[0]!), f(vVel[1]!)], index * 4);
  }
  return out;
}

describe('bound dispatches among every other operation', () => {
  // A random sequence over two spaces sharing a small two-window pool: host writes, reads, bound and
  // prelude dispatches, prefetches both ways, pins and unpins — compared with plain arrays. Bound runs
  // fragment the pool and compaction moves both spaces' pages; a refused bound dispatch (BIND_RANGE,
  // when pins block every slice) must leave everything as it was.
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    testWithDevice(`seed ${seed}: results equal a plain-array reference`, async (ctx) => {
      const { pool, space: s0 } = await makeSpace(ctx, { capacity: 24 * P, pageSize: P, maxWindowSize: 12 * P, pinLimit: 8 * P }, 32 * P);
      const { createSpace } = await import('../../src/index.ts');
      const s1 = ctx.track(createSpace(pool, { size: 32 * P, strict: true }));
      const spaces = [s0, s1];
      const ref = [new Uint32Array(32 * 1024), new Uint32Array(32 * 1024)];
      let x = seed * 0x9e3779b9;
      const rnd = (n: number) => ((x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) % n);
      const plainAdd = createPlainKernel({
        code: `struct K { k: u32 }
@group(0) @binding(0) var<storage, read_write> d: array<u32>;
@group(0) @binding(1) var<uniform> u: K;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) { if (g.x < arrayLength(&d)) { d[g.x] = d[g.x] * 3u + u.k + g.x; } }`,
      });
      const copy = createPlainKernel({
        code: `@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) { if (g.x < arrayLength(&dst)) { dst[g.x] = src[g.x]; } }`,
      });
      const ks = Array.from({ length: 4 }, (_, k) => {
        const b = ctx.track(ctx.device.createBuffer({ size: 16, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST }));
        ctx.device.queue.writeBuffer(b, 0, new Uint32Array([k * 1000 + 1]));
        return b;
      });
      const pins: [number, number, number][] = [];
      const range = () => {
        const first = rnd(30);
        const pages = 1 + rnd(Math.min(6, 32 - first));
        const off = rnd(4) * 256;
        return { addr: first * P + off, byteLength: pages * P - off - rnd(4) * 256 };
      };
      let refused = 0;
      let compacted = 0;
      for (let step = 0; step < 150; step++) {
        const s = rnd(2);
        const sp = spaces[s]!;
        const r = ref[s]!;
        const op = rnd(9);
        if (op === 0) {
          const g = range();
          const data = Uint32Array.from({ length: g.byteLength / 4 }, () => rnd(0xffffffff));
          await sp.write(g.addr, data);
          r.set(data, g.addr / 4);
        } else if (op === 1) {
          const g = range();
          expect(Array.from(u32(await sp.read(g.addr, g.byteLength)))).toEqual(Array.from(r.subarray(g.addr / 4, (g.addr + g.byteLength) / 4)));
        } else if (op <= 3) {
          const g = range();
          const k = rnd(4);
          const n = g.byteLength / 4;
          try {
            const res = await sp.dispatch(plainAdd, { workgroups: Math.ceil(n / 64), bind: [{ binding: 0, ...g }], resources: [{ binding: 1, resource: { buffer: ks[k]! } }] });
            compacted += res.pagesCompacted ?? 0;
            for (let i = 0; i < n; i++) r[g.addr / 4 + i] = (Math.imul(r[g.addr / 4 + i]!, 3) + k * 1000 + 1 + i) >>> 0;
          } catch (e) {
            if (!(e instanceof BindRangeError)) throw e;
            refused++;
          }
        } else if (op === 4) {
          const a = range();
          const first = rnd(28);
          const dst = { addr: first * P, byteLength: Math.min(a.byteLength, (32 - first) * P) & ~3 };
          if (Math.floor(a.addr / P) <= Math.floor((dst.addr + dst.byteLength - 1) / P) && Math.floor(dst.addr / P) <= Math.floor((a.addr + a.byteLength - 1) / P)) continue;
          try {
            const res = await sp.dispatch(copy, { workgroups: Math.ceil(dst.byteLength / 256), bind: [{ binding: 0, ...a }, { binding: 1, ...dst }] });
            compacted += res.pagesCompacted ?? 0;
            r.copyWithin(dst.addr / 4, a.addr / 4, a.addr / 4 + Math.min(a.byteLength, dst.byteLength) / 4);
          } catch (e) {
            if (!(e instanceof BindRangeError)) throw e;
            refused++;
          }
        } else if (op === 5) {
          const g = range();
          const n = g.byteLength / 4 & ~63;
          if (n === 0) continue;
          await sp.dispatch(affineKernel, { workgroups: n / 64, write: [{ addr: g.addr, byteLength: n * 4 }], args: [g.addr, n, 5, 7] });
          for (let i = 0; i < n; i++) r[g.addr / 4 + i] = (Math.imul(r[g.addr / 4 + i]!, 5) + 7) >>> 0;
        } else if (op === 6) {
          const g = range();
          await sp.prefetch(g.addr, g.byteLength, { to: rnd(2) === 0 ? 'device' : 'host' });
        } else if (op === 7 && pins.length < 3) {
          const first = rnd(30);
          await sp.pin(first * P, 2 * P).then(() => pins.push([s, first, 2]), () => undefined);
        } else if (op === 8 && pins.length > 0) {
          const [ps, first, n] = pins.splice(rnd(pins.length), 1)[0]!;
          spaces[ps]!.unpin(first * P, n * P);
        }
        (pool as unknown as { checkInvariants(): void }).checkInvariants();
      }
      for (const s of [0, 1]) expect(Array.from(u32(await spaces[s]!.read(0, 32 * P)))).toEqual(Array.from(ref[s]!));
      // The sequence exercised compaction, and pins rarely blocked a run.
      expect(compacted).toBeGreaterThan(0);
      expect(refused).toBeLessThan(20);
    }, 120_000);
  }
});
