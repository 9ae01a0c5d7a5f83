// Layouts against a real WGSL compiler (Dawn's Tint on lavapipe):
//  1. ground truth: a plain shader that declares the structs (wgslStruct())
//     and binds a storage buffer writes every member; our host `read` sees
//     exactly those values, and the shader reads back exactly what `write` put
//     there — so our offsets are Tint's, for every type, array and attribute;
//  2. kernels on a space read and write vec3, mat4x4, arrays and nested
//     records through the generated accessors, and the host reads the results
//     back through the same layout;
//  3. the accessors of every type (and arrays of each) pass Tint's validation
//     linked with the prelude, in declared and demand variants, and the other
//     accessor forms (vec3- and vec2-column matrices, 2-D arrays, attributed
//     fields) run.

import { expect } from 'vitest';
import { testWithDevice, KiB, MiB, type DeviceContext } from '../helpers/gpu.ts';
import { makeSpace } from '../helpers/space.ts';
import { createKernel } from '../../src/index.ts';
import { array, defineStruct, structsOf, type FieldSpecs, type FieldType, type StructLayout } from '../../src/layout/struct.ts';
import { link } from '../../src/kernel/link.ts';
import { TYPE_NAMES, isArrayType, isStructLayout, leafInfo } from '../../src/layout/types.ts';
import { BufferUsage, MapMode } from '../../src/gpu/constants.ts';

// ---- 1. ground truth ----

const Inner = defineStruct('Inner', { id: 'u32', dir: 'vec3f' });
const SpecA = defineStruct('SpecA', { u: 'f32', v: 'f32', w: 'vec2f', x: { type: 'f32', size: 16 } });
const Sink = defineStruct('Sink', {
  s: 'i32', p: 'ptr', v3: 'vec3u', tail: 'f32', v2: 'vec2f', v4: 'vec4i', v3i: 'vec3i',
  m22: 'mat2x2f', m32: 'mat3x2f', m42: 'mat4x2f', m23: 'mat2x3f', m33: 'mat3x3f', m43: 'mat4x3f', m24: 'mat2x4f', m34: 'mat3x4f', m44: 'mat4x4f',
  hist: array('u32', 5), pts: array('vec3f', 3), grid: array(array('i32', 2), 3), ms: array('mat2x3f', 2),
  inner: Inner, inners: array(Inner, 2), a: { type: SpecA, align: 32 }, specs: array(SpecA, 2),
  wide: { type: 'u32', align: 64, size: 20 }, last: 'f32',
});

/** WGSL statements over `expr` (one per scalar/vector/matrix) and the value the host should see; numbers are exact in f32. */
function walk(t: FieldType, expr: string, next: () => number, emit: (lhs: string, lit: string, cols: number, rows: number, wgslType: string, comps: string[]) => void): unknown {
  const l = leafInfo(t);
  if (l) {
    const vals = Array.from({ length: l.rows * l.cols }, () => next());
    const val = (n: number) => (l.component === 'f' ? n + 0.5 : l.component === 'i' ? -n : n);
    const lit = (n: number) => (l.component === 'f' ? `${n + 0.5}f` : l.component === 'i' ? `${-n}i` : `${n}u`);
    emit(expr, `${l.wgsl}(${vals.map(lit).join(', ')})`, l.cols, l.rows, l.wgsl, vals.map(lit));
    return l.rows * l.cols === 1 ? val(vals[0]!) : vals.map(val);
  }
  if (isArrayType(t)) return Array.from({ length: t.length }, (_, k) => walk(t.element, `${expr}[${k}]`, next, emit));
  const s = t as StructLayout;
  return Object.fromEntries(s.fields.map((f) => [f.name, walk(f.type, `${expr}.${f.name}`, next, emit)]));
}

async function runRaw(ctx: DeviceContext, code: string, buffers: GPUBuffer[]): Promise<void> {
  const { device } = ctx;
  const module = device.createShaderModule({ code });
  const info = await module.getCompilationInfo();
  expect(info.messages.filter((m) => m.type === 'error').map((m) => m.message)).toEqual([]);
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })) });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bind);
  pass.dispatchWorkgroups(1);
  pass.end();
  device.queue.submit([enc.finish()]);
  await device.queue.onSubmittedWorkDone();
}

async function readBuffer(ctx: DeviceContext, src: GPUBuffer, size: number): Promise<Uint8Array> {
  const dst = ctx.track(ctx.device.createBuffer({ size, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST }));
  const enc = ctx.device.createCommandEncoder();
  enc.copyBufferToBuffer(src, 0, dst, 0, size);
  ctx.device.queue.submit([enc.finish()]);
  await dst.mapAsync(MapMode.READ);
  const out = new Uint8Array(dst.getMappedRange().slice(0));
  dst.unmap();
  return out;
}

testWithDevice('ground truth: Tint lays out every type, array, nested struct and attribute where the host codecs do', async (ctx) => {
  const decls = structsOf(Sink).map((s) => s.wgslStruct()).join('');
  let n = 0;
  const stores: string[] = [];
  const checks: string[] = [];
  const expected = walk(Sink, 'out[1]', () => ++n, (lhs, lit, cols, rows, wgslType, comps) => {
    stores.push(`  ${lhs} = ${rows * cols === 1 ? comps[0] : lit};`);
    if (rows * cols === 1) checks.push(`  if (${lhs} != ${comps[0]}) { bad += 1u; }`);
    else if (cols === 1) checks.push(`  if (any(${lhs} != ${lit})) { bad += 1u; }`);
    else {
      const colType = wgslType.replace(/^mat\dx(\d)/, 'vec$1');
      for (let c = 0; c < cols; c++) checks.push(`  if (any(${lhs}[${c}] != ${colType}(${comps.slice(c * rows, (c + 1) * rows).join(', ')}))) { bad += 1u; }`);
    }
  });
  expect(n).toBeGreaterThan(150); // scalar components written and checked
  const size = 2 * Sink.size;
  const usage = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;
  const buf = ctx.track(ctx.device.createBuffer({ size, usage }));
  const flag = ctx.track(ctx.device.createBuffer({ size: 4, usage }));

  // WGSL writes every member; the host reads them.
  await runRaw(ctx, `${decls}@group(0) @binding(0) var<storage, read_write> out: array<Sink, 2>;\n@compute @workgroup_size(1) fn main() {\n${stores.join('\n')}\n}\n`, [buf]);
  const bytes = await readBuffer(ctx, buf, size);
  expect(Sink.read(bytes, Sink.size)).toEqual(expected);
  expect(bytes.subarray(0, Sink.size).every((b) => b === 0)).toBe(true); // out[0] untouched: nothing spilled backwards

  // The host writes every member; WGSL reads them.
  const host = new Uint8Array(size);
  Sink.write(host, Sink.size, expected as never);
  ctx.device.queue.writeBuffer(buf, 0, host);
  await runRaw(ctx, `${decls}@group(0) @binding(0) var<storage, read_write> out: array<Sink, 2>;\n@group(0) @binding(1) var<storage, read_write> flag: u32;\n@compute @workgroup_size(1) fn main() {\n  var bad = 0u;\n${checks.join('\n')}\n  flag = bad + 1u;\n}\n`, [buf, flag]);
  const f = new Uint32Array((await readBuffer(ctx, flag, 4)).buffer);
  expect(f[0]! - 1, 'members WGSL read differently from what the host wrote').toBe(0);
});

// ---- 2. accessors on a space ----
//
// Every prelude access inlines an address translation, and lavapipe's LLVM
// takes seconds per dozen of them on a cold shader cache (measured: ~3 s for 6
// accesses, ~60 s for 32 on a loaded 2-core machine). So each kernel here
// stays near ten accesses, and the tests allow for a cold cache.

const COLD_COMPILE_MS = 300_000;
const Tag = defineStruct('Tag', { id: 'u32', weight: 'f32' });
const Body = defineStruct('Body', {
  pos: 'vec3f', mass: 'f32', xf: 'mat4x4f', pts: array('vec3i', 2), hist: array('u32', 4), tag: Tag, tags: array(Tag, 3),
});

testWithDevice('kernels read and write vec3, mat4x4, arrays and nested records through the accessors; the host reads WGSL\'s layout back', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 1 * MiB, pageSize: 4 * KiB }, 1 * MiB);
  const count = 64;
  const base = space.alloc(count * Body.size, { align: Body.align });
  const init = (i: number) => ({
    pos: [i, 2 * i, -i], mass: 2 + (i % 3),
    // Translation by (i, 1, -2), column-major: the last column is the translation.
    xf: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, i, 1, -2, 1],
    pts: [[i, -i, 3], [1, 1, 1]], hist: [i, i + 1, i + 2, i + 3],
    tag: { id: 77, weight: 0 }, tags: [0, 1, 2].map((k) => ({ id: k, weight: k + 0.5 })),
  });
  await space.withView(base, count * Body.size, 'write', (view) => {
    view.fill(0xee); // padding the host never writes, so the test can see who does
    Body.writeArray(view, 0, Array.from({ length: count }, (_, i) => init(i)));
  });
  const prologue = 'let i = inv.global_id.x;\n  if (i >= vm_arg_u32(1u)) { return; }\n  let p = vm_arg_u32(0u) + i * Body_SIZE;';
  const matrices = createKernel({
    label: 'body-matrix',
    structs: structsOf(Body),
    code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  ${prologue}
  let m = Body_xf(p);
  Body_set_xf(p, m * 2.0);
  Body_set_pos(p, (m * vec4<f32>(Body_pos(p), 1.0)).xyz);  // mass, in the same 16 bytes, survives
}`,
  });
  const arrays = createKernel({
    label: 'body-arrays',
    structs: structsOf(Body),
    code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  ${prologue}
  Body_set_pts(p, 1u, Body_pts(p, 0u) - Body_pts(p, 1u));
  Body_set_hist(p, 9u, Body_hist(p, 9u) + 1000u);  // clamped to the last element, never past the field
  let t = Body_tags_ptr(p, 2u);
  Tag_set_id(t, Tag_id(t) + 100u);
  Tag_set_weight(Body_tag_ptr(p), Tag_weight(Body_tags_ptr(p, 1u)));
}`,
  });
  for (const k of [matrices, arrays]) {
    await space.dispatch(k, { workgroups: 1, write: [{ addr: base, byteLength: count * Body.size }], args: [base, count] });
  }
  const bytes = await space.read(base, count * Body.size);
  const out = Body.readArray(bytes, 0, count);
  for (let i = 0; i < count; i++) {
    const r = out[i]!;
    const s = init(i);
    expect(r.pos, `pos ${i}`).toEqual([i + i, 2 * i + 1, -i - 2]);
    expect(r.mass).toBe(s.mass);
    expect(r.xf).toEqual(s.xf.map((x) => x * 2));
    // `+ 0` folds -0 into 0 on both sides (i = 0).
    expect(r.pts.map((v) => v.map((x) => x + 0))).toEqual([[i, -i + 0, 3], [i - 1, -i - 1, 2]]);
    expect(r.hist).toEqual([i, i + 1, i + 2, i + 3 + 1000]);
    expect(r.tags).toEqual([{ id: 0, weight: 0.5 }, { id: 1, weight: 1.5 }, { id: 102, weight: 2.5 }]);
    expect(r.tag).toEqual({ id: 77, weight: 1.5 });
    // The vec3 element's setter zeroed its own padding word, and only that.
    const dv = new DataView(bytes.buffer, bytes.byteOffset + i * Body.size);
    expect([dv.getUint32(Body.offsets.pts + 12, true), dv.getUint32(Body.offsets.pts + 16 + 12, true)]).toEqual([0xeeeeeeee, 0]);
  }
  space.checkInvariants();
}, COLD_COMPILE_MS);

// ---- 3. every type compiles; the other forms run ----

/** A kernel calling every getter and setter of `layout` (first element of arrays), writing back what it read. */
function identityKernel(layout: StructLayout, label: string) {
  const calls = layout.fields.map((f, k) => {
    let t: FieldType = f.type;
    const idx: string[] = [];
    while (isArrayType(t)) {
      idx.push(`${t.length - 1}u`);
      t = t.element;
    }
    const at = ['p', ...idx].join(', ');
    if (isStructLayout(t)) return `  let q${k} = ${layout.name}_${f.name}_ptr(${at});\n  Inner_set_dir(q${k}, Inner_dir(q${k}));`;
    return `  let v${k} = ${layout.name}_${f.name}(${at});\n  ${layout.name}_set_${f.name}(${at}, v${k});`;
  });
  return createKernel({ label, structs: structsOf(layout), code: `fn kernel(inv: VmInvocation) {\n  let p = vm_arg_u32(0u);\n${calls.join('\n')}\n}` });
}

const allFields: FieldSpecs = Object.fromEntries([
  ...TYPE_NAMES.flatMap((t) => [[`f${t}`, t], [`a${t}`, array(t, 3)]] as const),
  ['grid', array(array('vec3f', 2), 2)], ['inner', Inner], ['inners', array(Inner, 2)], ['spaced', { type: 'mat3x3f', align: 64, size: 80 }],
]);

testWithDevice('Tint accepts the accessors of every type, arrays of each and nested records, linked with the prelude (declared and demand)', async (ctx) => {
  const All = defineStruct('All', allFields);
  expect(All.wgsl).toContain('fn All_fmat4x3f(p: u32) -> mat4x3<f32>');
  expect(All.wgsl).toContain('fn All_avec3i(p: u32, i: u32) -> vec3<i32>');
  const k = identityKernel(All, 'all-types');
  // Validation only (Tint's front end): a pipeline for this much inlined translation takes lavapipe's LLVM minutes.
  for (const demand of [false, true]) {
    const src = link(k, { pageShift: 12, windowCount: 1, windowWordShift: 20, demand, replayPerInvocation: false, accessCounters: true });
    const module = ctx.device.createShaderModule({ code: src.code });
    const info = await module.getCompilationInfo();
    expect(info.messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}: ${m.message}`), `demand ${demand}`).toEqual([]);
  }
});

testWithDevice('the other accessor families run: vec3-column and vec2-column matrices, 2-D arrays, attributed and plain vec3 fields', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 1 * MiB, pageSize: 4 * KiB }, 1 * MiB);
  const F = defineStruct('Fam', {
    m23: 'mat2x3f', m32: 'mat3x2f', grid: array(array('vec2i', 2), 2), v: 'vec3u', after: 'u32', spaced: { type: 'vec3u', align: 32, size: 20 }, last: 'u32',
  });
  const init = {
    m23: [1, 2, 3, 4, 5, 6], m32: [1, 2, 3, 4, 5, 6], grid: [[[1, 2], [3, 4]], [[5, 6], [7, 8]]], v: [1, 2, 3], after: 9, spaced: [4, 5, 6], last: 10,
  };
  const base = space.alloc(F.size, { align: F.align });
  const bytes = new Uint8Array(F.size).fill(0xee);
  F.write(bytes, 0, init);
  await space.write(base, bytes);
  const p = 'let p = vm_arg_u32(0u);';
  const kernels = [
    `${p}\n  Fam_set_m23(p, Fam_m23(p) * 2.0);\n  Fam_set_m32(p, Fam_m32(p) * 2.0);`,
    `${p}\n  Fam_set_grid(p, 1u, 0u, Fam_grid(p, 1u, 0u) * 2);\n  Fam_set_v(p, Fam_v(p) + vec3<u32>(1u));\n  Fam_set_spaced(p, Fam_spaced(p) * 3u);`,
  ].map((body, k) => createKernel({ label: `family-${k}`, workgroupSize: 1, structs: [F], code: `fn kernel(inv: VmInvocation) {\n  ${body}\n}` }));
  for (const k of kernels) await space.dispatch(k, { workgroups: 1, write: [{ addr: base, byteLength: F.size }], args: [base] });
  const out = await space.read(base, F.size);
  expect(F.read(out, 0)).toEqual({
    m23: [2, 4, 6, 8, 10, 12], m32: [2, 4, 6, 8, 10, 12], grid: [[[1, 2], [3, 4]], [[10, 12], [7, 8]]], v: [2, 3, 4], after: 9, spaced: [12, 15, 18], last: 10,
  });
  // Padding: the matrices' vec3 columns own theirs (zeroed by the setter); fields' gaps stay as the host left them.
  const dv = new DataView(out.buffer, out.byteOffset);
  expect([dv.getUint32(F.offsets.m23 + 12, true), dv.getUint32(F.offsets.m23 + 28, true)]).toEqual([0, 0]);
  expect(dv.getUint32(F.offsets.spaced + 12, true)).toBe(0xeeeeeeee); // @size(20): bytes 12..20 are padding the setter never touches
  expect(dv.getUint32(F.offsets.spaced + 16, true)).toBe(0xeeeeeeee);
}, COLD_COMPILE_MS);
