// Shared-pointer data structures: one struct layout, two views of it. On the
// host, `write`/`read` put records into the space's bytes; in WGSL, generated
// accessors (`Node_key(p)`, `Node_set_left(p, q)`) load and store the same
// fields through the prelude. A pointer is a virtual address (u32; 0 = null,
// which alloc() never returns), so a tree or list built in JavaScript is
// walked by a kernel with no copying or marshalling.
//
// Layout follows WGSL's rules for these types (size = alignment): u32, i32,
// f32 and ptr take 4 bytes, vec2 8, vec4 16; the struct's alignment is its
// largest field's and its size a multiple of it, so arrays of records stay
// aligned for the prelude's vector accesses.

import { InvalidArgumentError } from '../errors.ts';

export type FieldType = 'u32' | 'i32' | 'f32' | 'ptr' | 'vec2u' | 'vec2i' | 'vec2f' | 'vec4u' | 'vec4i' | 'vec4f';

export type FieldValue<T extends FieldType> = T extends 'vec2u' | 'vec2i' | 'vec2f' | 'vec4u' | 'vec4i' | 'vec4f'
  ? readonly number[]
  : number;

export type StructRecord<F extends { [k: string]: FieldType }> = { [K in keyof F]: FieldValue<F[K]> };

export interface Field {
  readonly name: string;
  readonly type: FieldType;
  readonly offset: number;
  readonly size: number;
}

export interface StructLayout<F extends { [k: string]: FieldType }> {
  readonly name: string;
  readonly fields: readonly Field[];
  /** Bytes per record, a multiple of `align`. */
  readonly size: number;
  readonly align: number;
  /** Byte offset of each field. */
  readonly offsets: { readonly [K in keyof F]: number };
  /** WGSL accessors: `const <Name>_SIZE`, `<Name>_<field>(p)`, `<Name>_set_<field>(p, v)`. Pass the layout in `createKernel({ structs })`. */
  readonly wgsl: string;
  /** Write `record` at byte `offset` of `bytes` (e.g. a view from space.withView). Missing fields are left as they are. */
  write(bytes: Uint8Array, offset: number, record: Partial<StructRecord<F>>): void;
  read(bytes: Uint8Array, offset: number): StructRecord<F>;
}

const INFO: { [T in FieldType]: { size: number; wgsl: string; kind: 'u' | 'i' | 'f'; lanes: number; load: string } } = {
  u32: { size: 4, wgsl: 'u32', kind: 'u', lanes: 1, load: 'u32' },
  ptr: { size: 4, wgsl: 'u32', kind: 'u', lanes: 1, load: 'u32' },
  i32: { size: 4, wgsl: 'i32', kind: 'i', lanes: 1, load: 'i32' },
  f32: { size: 4, wgsl: 'f32', kind: 'f', lanes: 1, load: 'f32' },
  vec2u: { size: 8, wgsl: 'vec2<u32>', kind: 'u', lanes: 2, load: 'vec2u' },
  vec2i: { size: 8, wgsl: 'vec2<i32>', kind: 'i', lanes: 2, load: 'vec2i' },
  vec2f: { size: 8, wgsl: 'vec2<f32>', kind: 'f', lanes: 2, load: 'vec2f' },
  vec4u: { size: 16, wgsl: 'vec4<u32>', kind: 'u', lanes: 4, load: 'vec4u' },
  vec4i: { size: 16, wgsl: 'vec4<i32>', kind: 'i', lanes: 4, load: 'vec4i' },
  vec4f: { size: 16, wgsl: 'vec4<f32>', kind: 'f', lanes: 4, load: 'vec4f' },
};

const IDENT = /^[A-Za-z][A-Za-z0-9]*$/;
const FIELD_IDENT = /^[a-z][A-Za-z0-9_]*$/;

/** Define a struct layout shared by JavaScript and WGSL. Fields are laid out in the order given. */
export function defineStruct<F extends { [k: string]: FieldType }>(name: string, fields: F): StructLayout<F> {
  if (typeof name !== 'string' || !IDENT.test(name) || name.startsWith('vm') || name.startsWith('Vm')) {
    throw new InvalidArgumentError(`defineStruct: name "${String(name)}" must be a WGSL identifier of letters and digits, not starting with vm/Vm`);
  }
  const entries = Object.entries(fields ?? {});
  if (entries.length === 0) throw new InvalidArgumentError(`defineStruct ${name}: give at least one field`);
  const laid: Field[] = [];
  let offset = 0;
  let align = 4;
  for (const [f, type] of entries) {
    if (!FIELD_IDENT.test(f) || f.startsWith('set_')) {
      throw new InvalidArgumentError(`defineStruct ${name}: field "${f}" must start with a lower-case letter, use letters, digits and _, and not start with set_`);
    }
    const info = INFO[type];
    if (!info) throw new InvalidArgumentError(`defineStruct ${name}.${f}: unknown type "${String(type)}"; use one of ${Object.keys(INFO).join(', ')}`);
    offset = Math.ceil(offset / info.size) * info.size;
    laid.push({ name: f, type, offset, size: info.size });
    offset += info.size;
    align = Math.max(align, info.size);
  }
  const size = Math.ceil(offset / align) * align;
  const offsets = Object.fromEntries(laid.map((f) => [f.name, f.offset])) as { [K in keyof F]: number };

  let wgsl = `// ---- struct ${name} (webgpu-hmm defineStruct: ${size} bytes, align ${align}) ----\n`;
  wgsl += `const ${name}_SIZE: u32 = ${size}u;\n`;
  for (const f of laid) {
    const i = INFO[f.type];
    wgsl += `fn ${name}_${f.name}(p: u32) -> ${i.wgsl} { return vm_load_${i.load}(p + ${f.offset}u); }\n`;
    wgsl += `fn ${name}_set_${f.name}(p: u32, v: ${i.wgsl}) { vm_store_${i.load}(p + ${f.offset}u, v); }\n`;
  }

  const lane = (dv: DataView, at: number, kind: 'u' | 'i' | 'f', v: number, label: string) => {
    const ok = typeof v === 'number' &&
      (kind === 'f' || (Number.isInteger(v) && (kind === 'u' ? v >= 0 && v < 2 ** 32 : v >= -(2 ** 31) && v < 2 ** 31)));
    if (!ok) {
      const want = kind === 'f' ? 'a number' : kind === 'u' ? 'a whole number from 0 to 2^32-1' : 'a whole number in the i32 range';
      throw new InvalidArgumentError(`${name}.${label}: ${String(v)} is not ${want}`);
    }
    if (kind === 'f') dv.setFloat32(at, v, true);
    else if (kind === 'i') dv.setInt32(at, v, true);
    else dv.setUint32(at, v >>> 0, true);
  };

  const checkAt = (op: 'read' | 'write', bytes: Uint8Array, at: number) => {
    if (at < 0 || at + size > bytes.byteLength || !Number.isInteger(at)) {
      throw new InvalidArgumentError(`${name}.${op}: offset ${at} with size ${size} is outside the ${bytes.byteLength}-byte view`);
    }
  };

  return Object.freeze({
    name,
    fields: Object.freeze(laid),
    size,
    align,
    offsets,
    wgsl,
    write(bytes: Uint8Array, at: number, record: Partial<StructRecord<F>>): void {
      checkAt('write', bytes, at);
      const dv = new DataView(bytes.buffer, bytes.byteOffset + at, size);
      for (const f of laid) {
        const v = (record as { [k: string]: unknown })[f.name];
        if (v === undefined) continue;
        const i = INFO[f.type];
        if (i.lanes === 1) lane(dv, f.offset, i.kind, v as number, f.name);
        else {
          const arr = v as readonly number[];
          if (!Array.isArray(arr) && !ArrayBuffer.isView(arr) || arr.length !== i.lanes) {
            throw new InvalidArgumentError(`${name}.${f.name}: expected ${i.lanes} numbers`);
          }
          for (let k = 0; k < i.lanes; k++) lane(dv, f.offset + 4 * k, i.kind, arr[k]!, f.name);
        }
      }
    },
    read(bytes: Uint8Array, at: number): StructRecord<F> {
      checkAt('read', bytes, at);
      const dv = new DataView(bytes.buffer, bytes.byteOffset + at, size);
      const out: { [k: string]: number | number[] } = {};
      for (const f of laid) {
        const i = INFO[f.type];
        const get = (o: number) => (i.kind === 'f' ? dv.getFloat32(o, true) : i.kind === 'i' ? dv.getInt32(o, true) : dv.getUint32(o, true));
        out[f.name] = i.lanes === 1 ? get(f.offset) : Array.from({ length: i.lanes }, (_, k) => get(f.offset + 4 * k));
      }
      return out as StructRecord<F>;
    },
  });
}
