// TypeGPU interop: one record definition for TypeGPU code and for a space.
// `fromTypeGpu` turns a `d.struct({...})` schema into a StructLayout (same
// offsets, sizes and alignment: both follow WGSL's layout rules, which
// test/layout/typegpu.test.ts checks against TypeGPU's own sizeOf,
// alignmentOf, memoryLayoutOf and serializer); `toTypeGpu` builds the schema
// for a layout with the caller's `d` namespace.
//
// typegpu is an optional peer: nothing here imports it, at runtime or for
// types. Schemas are read structurally (their `type`, `propTypes`,
// `elementType`, `elementCount`, `inner` and `attribs`, which are TypeGPU's
// public data-schema shape), and the caller hands in `typegpu/data` itself.

import { InvalidArgumentError } from '../errors.ts';
import { defineStruct, type StructLayout } from './struct.ts';
import {
  type ArrayType, type FieldSpec, type FieldSpecs, type FieldType, type TypeName,
  array, isArrayType, isStructLayout, leafInfo,
} from './types.ts';
import { WGSL_KEYWORDS, WGSL_RESERVED } from './wgsl-words.ts';

/** A TypeGPU schema cannot be a layout here (f16, bool, atomics, runtime-sized arrays, loose data…) or a layout cannot be a TypeGPU schema. */
export class UnsupportedSchemaError extends InvalidArgumentError {
  /** Where in the struct: `Scene.lights[].color`. */
  readonly path: string;
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.path = path;
  }
}

/** The part of a TypeGPU data schema read here (typegpu/data's BaseData and its struct, array and decorated forms). */
export interface TypeGpuSchema {
  /** The schema's kind: a WGSL type name (`'f32'`, `'vec3f'`), `'struct'`, `'array'` or `'decorated'`. */
  readonly type: string;
  /** A struct's members, by name, in order. */
  readonly propTypes?: { readonly [k: string]: unknown };
  /** An array's element schema. */
  readonly elementType?: unknown;
  /** An array's element count (fixed-size arrays only are accepted). */
  readonly elementCount?: number;
  /** A decorated schema's undecorated type (`d.align`/`d.size`). */
  readonly inner?: unknown;
  /** A decorated schema's attributes; only `@align` and `@size` are accepted. */
  readonly attribs?: readonly unknown[];
}

/** A TypeGPU struct schema: `d.struct({...})`. */
export interface TypeGpuStruct extends TypeGpuSchema {
  /** Always `'struct'`. */
  readonly type: 'struct';
  /** The struct's members, by name, in order. */
  readonly propTypes: { readonly [k: string]: unknown };
}

/** The WGSL type names a TypeGPU leaf schema can name (every one but `ptr` and `ptr64`). */
export type Scalarish = Exclude<TypeName, 'ptr' | 'ptr64'>;

/** The field spec a TypeGPU member schema becomes (attributes are kept at runtime; the type here is what decides record shapes). */
export type FromTypeGpu<T> =
  T extends {
    /** A decorated schema (`d.align`/`d.size`). */
    readonly type: 'decorated';
    /** Its undecorated type. */
    readonly inner: infer I;
  } ? FromTypeGpu<I>
  : T extends {
    /** A struct schema. */
    readonly type: 'struct';
    /** Its members. */
    readonly propTypes: infer P;
  } ? StructLayout<FieldsFromTypeGpu<P>>
  : T extends {
    /** An array schema. */
    readonly type: 'array';
    /** Its element schema. */
    readonly elementType: infer E;
  } ? ArrayType<Extract<FromTypeGpu<E>, FieldType>>
  : T extends {
    /** A leaf schema: its WGSL type name. */
    readonly type: infer N extends Scalarish;
  } ? N
  : never;
/** The field specs `fromTypeGpu` makes from a TypeGPU struct's `propTypes`. */
export type FieldsFromTypeGpu<P> = { [K in keyof P]: FromTypeGpu<P[K]> } extends infer F extends FieldSpecs ? F : never;

const NAME = /^[A-Za-z][A-Za-z0-9]*$/;

const WHY_NOT: { readonly [type: string]: string } = {
  f16: 'f16 is not supported: the prelude loads and stores 32-bit words; use d.f32',
  vec2h: 'f16 vectors are not supported: the prelude loads and stores 32-bit words; use d.vec2f',
  vec3h: 'f16 vectors are not supported: the prelude loads and stores 32-bit words; use d.vec3f',
  vec4h: 'f16 vectors are not supported: the prelude loads and stores 32-bit words; use d.vec4f',
  u16: 'u16 is not supported: the prelude loads and stores 32-bit words; use d.u32',
  bool: 'bool is not host-shareable in WGSL; use d.u32 (0 or 1)',
  'vec2<bool>': 'bool vectors are not host-shareable in WGSL; use d.vec2u',
  'vec3<bool>': 'bool vectors are not host-shareable in WGSL; use d.vec3u',
  'vec4<bool>': 'bool vectors are not host-shareable in WGSL; use d.vec4u',
  atomic: 'atomic members are not supported: declare the field d.u32 or d.i32 in the shared schema; kernels here update it with vm_atomic_* at the field\'s address',
  ptr: 'pointers are not host-shareable; store a virtual address as d.u32 (a layout\'s `ptr`)',
  unstruct: 'd.unstruct is a packed vertex layout, not WGSL\'s memory layout; use d.struct',
  disarray: 'd.disarrayOf is a packed vertex layout, not WGSL\'s memory layout; use d.arrayOf',
};

/**
 * A StructLayout from a TypeGPU struct schema: `fromTypeGpu('Particle', Particle)` where
 * `const Particle = d.struct({ pos: d.vec3f, vel: d.vec3f, mass: d.f32 })`. Nested structs become
 * nested layouts, named by their `$name(…)` or `<Parent><Field>`; d.align/d.size become @align/@size.
 */
export function fromTypeGpu<S extends TypeGpuStruct>(name: string, schema: S): StructLayout<FieldsFromTypeGpu<S['propTypes']>> {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new InvalidArgumentError(`fromTypeGpu: name "${String(name)}" must be letters and digits, starting with a letter`);
  }
  const made = new Map<object, StructLayout>();
  const names = new Map<string, object>();

  const structOf = (s: TypeGpuSchema, n: string, path: string): StructLayout => {
    const seen = made.get(s);
    if (seen) return seen;
    const owner = names.get(n);
    if (owner !== undefined && owner !== s) {
      throw new UnsupportedSchemaError(path, `two different structs would both be named ${n}; give one of them another name with .$name(…)`);
    }
    names.set(n, s);
    const specs: { [k: string]: FieldSpec } = {};
    for (const [k, member] of Object.entries(s.propTypes ?? {})) specs[k] = memberOf(member, n, k, `${path}.${k}`);
    const layout = defineStruct(n, specs);
    made.set(s, layout);
    return layout;
  };

  const memberOf = (m: unknown, parent: string, field: string, path: string): FieldSpec => {
    if (!isSchema(m) || m.type !== 'decorated') return typeOf(m, parent, field, path);
    const type = typeOf(m.inner, parent, field, path);
    let align: number | undefined;
    let size: number | undefined;
    for (const a of m.attribs ?? []) {
      const at = a as { readonly type?: unknown; readonly params?: readonly unknown[] };
      const n = at.params?.[0];
      if (at.type === '@align' && typeof n === 'number') align ??= n;
      else if (at.type === '@size' && typeof n === 'number') size ??= n;
      else {
        throw new UnsupportedSchemaError(path, `attribute ${String(at.type)} is for shader inputs and outputs, not for memory; remove it from the shared schema`);
      }
    }
    return { type, ...(align !== undefined ? { align } : {}), ...(size !== undefined ? { size } : {}) };
  };

  const typeOf = (t: unknown, parent: string, field: string, path: string): FieldType => {
    if (!isSchema(t)) {
      const fn = typeof t === 'function' ? ' (d.arrayOf(T) without a count is a runtime-sized array; give the count)' : '';
      throw new UnsupportedSchemaError(path, `not a TypeGPU data schema${fn}`);
    }
    const why = WHY_NOT[t.type];
    if (why !== undefined) throw new UnsupportedSchemaError(path, why);
    if (t.type !== 'ptr' && t.type !== 'ptr64' && leafInfo(t.type)) return t.type as TypeName;
    if (t.type === 'struct') return structOf(t, nameOf(t, parent, field), path);
    if (t.type === 'array') {
      const n = t.elementCount;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
        throw new UnsupportedSchemaError(path, `array of ${String(n)} elements: records have a fixed size, so runtime-sized arrays cannot be fields; give a count ≥ 1`);
      }
      if (isSchema(t.elementType) && t.elementType.type === 'decorated') {
        throw new UnsupportedSchemaError(`${path}[]`, 'WGSL puts @align/@size on struct members only; make the element a struct with the attribute on its field');
      }
      return array(typeOf(t.elementType, parent, field, `${path}[]`), n);
    }
    throw new UnsupportedSchemaError(path, `TypeGPU type "${t.type}" cannot be a field here; use u32, i32, f32, their vec2/3/4, mat2x2f/mat3x3f/mat4x4f, d.arrayOf(T, n) or d.struct`);
  };

  if (!isSchema(schema) || schema.type !== 'struct') {
    throw new UnsupportedSchemaError(name, `expected a TypeGPU struct schema (d.struct({...})), got ${isSchema(schema) ? `"${schema.type}"` : typeof schema}`);
  }
  return structOf(schema, name, name) as StructLayout<FieldsFromTypeGpu<S['propTypes']>>;
}

/** What toTypeGpu uses from `typegpu/data` (pass `import * as d from 'typegpu/data'`). */
export interface TypeGpuData {
  /** `d.struct(props)`. */
  struct(props: never): unknown;
  /** `d.arrayOf(element, count)`. */
  arrayOf(element: never, count: never): unknown;
  /** `d.align(alignment, data)`: for `@align` members. */
  align(alignment: never, data: never): unknown;
  /** `d.size(size, data)`: for `@size` members. */
  size(size: never, data: never): unknown;
  /** `d.u32`. */
  readonly u32: unknown;
  /** `d.i32`. */
  readonly i32: unknown;
  /** `d.f32`. */
  readonly f32: unknown;
}

/**
 * The TypeGPU struct schema of a layout, built with the caller's `d` (`typegpu/data`): same
 * field order, types, @align/@size, nested structs named as their layouts. `ptr` becomes d.u32 (d.vec2u in a
 * layout with 64-bit pointers), `ptr64` d.vec2u.
 * TypeGPU 0.12 has only square matrices: a layout with mat2x3f and the like is refused.
 */
export function toTypeGpu<D extends TypeGpuData>(layout: StructLayout, d: D): ReturnType<D['struct']> {
  if (!isStructLayout(layout)) throw new InvalidArgumentError(`toTypeGpu: pass a layout from defineStruct(), got ${layout === null ? 'null' : typeof layout}`);
  if (typeof d !== 'object' || d === null || typeof d.struct !== 'function' || typeof d.arrayOf !== 'function') {
    throw new InvalidArgumentError("toTypeGpu: pass TypeGPU's data namespace (import * as d from 'typegpu/data') as the second argument");
  }
  const ns = d as unknown as { readonly [k: string]: unknown } & {
    struct(props: object): unknown;
    arrayOf(e: unknown, n: number): unknown;
    align(n: number, x: unknown): unknown;
    size(n: number, x: unknown): unknown;
  };
  const made = new Map<StructLayout, unknown>();

  const typeOf = (t: FieldType, path: string): unknown => {
    const l = leafInfo(t);
    if (l) {
      const s = ns[l.name === 'ptr' ? 'u32' : l.name === 'ptr64' ? 'vec2u' : l.name];
      if (s === undefined) {
        throw new UnsupportedSchemaError(path, `this TypeGPU has no ${l.name} (0.12 has mat2x2f, mat3x3f and mat4x4f only); use a square matrix or an array of columns (array('vec${l.rows}f', ${l.cols}))`);
      }
      return s;
    }
    if (isArrayType(t)) return ns.arrayOf(typeOf(t.element, `${path}[]`), t.length);
    return structOf(t as StructLayout);
  };

  const structOf = (s: StructLayout): unknown => {
    const seen = made.get(s);
    if (seen !== undefined) return seen;
    const props: { [k: string]: unknown } = {};
    for (const f of s.fields) {
      const path = `${s.name}.${f.name}`;
      if (WGSL_KEYWORDS.has(f.name) || WGSL_RESERVED.has(f.name)) {
        throw new UnsupportedSchemaError(path, `"${f.name}" is a WGSL keyword or reserved word, which TypeGPU cannot use as a member name; rename the field`);
      }
      let x = typeOf(f.type, path);
      if (f.attributes.size !== undefined) x = ns.size(f.attributes.size, x);
      if (f.attributes.align !== undefined) x = ns.align(f.attributes.align, x);
      props[f.name] = x;
    }
    let schema = ns.struct(props);
    const named = schema as { $name?: (n: string) => unknown };
    if (typeof named.$name === 'function') schema = named.$name(s.name);
    made.set(s, schema);
    return schema;
  };

  return structOf(layout) as ReturnType<D['struct']>;
}

function isSchema(x: unknown): x is TypeGpuSchema {
  // TypeGPU's struct and scalar schemas are callable (they construct values), so functions count too.
  return (typeof x === 'object' || typeof x === 'function') && x !== null && typeof (x as { type?: unknown }).type === 'string';
}

/** A nested struct's layout name: its TypeGPU name (`.$name('Light')`, visible in toString), or Parent + Field. */
function nameOf(s: TypeGpuSchema, parent: string, field: string): string {
  const m = /^struct:([A-Za-z][A-Za-z0-9]*)$/.exec(String(s));
  if (m) return m[1]!;
  return parent + field.split('_').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
}
