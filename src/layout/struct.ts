// Shared-pointer data structures: one struct layout, two views of it. On the
// host, `write`/`read` put records into the space's bytes; in WGSL, generated
// accessors (`Node_key(p)`, `Node_set_left(p, q)`) load and store the same
// fields through the prelude. A pointer is a virtual address (0 = null,
// which alloc() never returns), so a tree or list built in JavaScript is
// walked by a kernel with no copying or marshalling. In a space of at most
// 4 GiB it is a u32; over 4 GiB (defineStruct's `space` or `pointers: 64`) a
// `ptr` field is a VmPtr (8 bytes, low word first, 8-aligned), and the
// accessors take and return VmPtr, loading and storing through vm_ptr_*.
//
// Layout is WGSL's, exactly (./types.ts has AlignOf/SizeOf): each field at
// roundUp(AlignOfMember, end of the previous one), where @align(n) and
// @size(n) replace the type's own alignment and size; the struct's alignment
// is its largest member alignment and its size a multiple of it, so arrays of
// records stay aligned for the prelude's vector accesses. The same record can
// therefore be declared as a WGSL struct (`wgslStruct()`) or as a TypeGPU
// schema (./typegpu.ts) and read by either side.
//
// Accessors use only the prelude's public loads and stores. The prelude's
// vector accesses need the address aligned to the vector's size and it has no
// vec3; a vec3 field (size 12, often followed by a scalar in its 16-byte slot)
// is a vec2 and a scalar access, since a vec4 store would overwrite the next
// field, while a vec3 that owns its slot (array element, matrix column) is one
// vec4 access. Every prelude access inlines an address translation, which is
// what a kernel's compile time grows with, so accessors use as few as the
// alignment rule allows. Matrices go column by column. Nested structs are reached by address
// (`Name_field_ptr(p)`) and their own accessors, so one nested layout's WGSL
// serves every struct that contains it (structsOf() lists them for a kernel).

import { InvalidArgumentError } from '../errors.ts';
import {
  type ArrayType, type Component, type FieldSpec, type FieldSpecs, type FieldType, type LeafInfo,
  type MatrixTypeName, type ScalarTypeName, type TypeName,
  MAX_TYPE_SIZE, alignOf, checkFieldType, isArrayType, isStructLayout, leafInfo, registerLayout, sizeOf, typeLabel,
} from './types.ts';
import { wgslIdentifierProblem, WGSL_KEYWORDS, WGSL_RESERVED } from './wgsl-words.ts';

export {
  array, alignOf, sizeOf, isStructLayout,
  type ArrayType, type FieldAttributes, type FieldSpec, type FieldSpecs, type TypeName, type ScalarTypeName,
  type VectorTypeName, type MatrixTypeName,
} from './types.ts';

/** A field's type, given by name, as array(type, n), or as a nested layout. */
export type { FieldType };

/** The tuple a vector or matrix field reads as (matrices flat, column-major). */
export type Vec<T> = T extends `vec2${string}` ? readonly [number, number]
  : T extends `vec3${string}` ? readonly [number, number, number]
  : readonly [number, number, number, number];

/**
 * The JavaScript value of a field as `read` returns it: a number for scalars and `ptr`,
 * a tuple for vectors, the C×R numbers of a matrix column-major (no padding),
 * an array for `array(…)`, a record object for a nested layout.
 */
export type FieldValue<T> =
  T extends {
    /** An array type (see {@link ArrayType}). */
    readonly kind: 'array';
    /** Its element type. */
    readonly element: infer E;
  } ? readonly FieldValue<E>[]
  : T extends {
    /** A nested struct layout's field specification. */
    readonly spec: infer G extends FieldSpecs;
    /** A nested struct layout's WGSL. */
    readonly wgsl: string;
  } ? StructRecord<G>
  : T extends {
    /** A field given with attributes: its type. */
    readonly type: infer U;
  } ? FieldValue<U>
  : T extends ScalarTypeName ? number
  : T extends MatrixTypeName ? readonly number[]
  : T extends TypeName ? Vec<T>
  : never;

/**
 * What `write` accepts for a field: numbers, array-likes (typed arrays too) for vectors and
 * matrices (flat column-major, or an array of columns), array-likes of element values,
 * and partial records for nested layouts.
 */
export type FieldInput<T> =
  T extends {
    /** An array type (see {@link ArrayType}). */
    readonly kind: 'array';
    /** Its element type. */
    readonly element: infer E;
  } ? ArrayLike<FieldInput<E>>
  : T extends {
    /** A nested struct layout's field specification. */
    readonly spec: infer G extends FieldSpecs;
    /** A nested struct layout's WGSL. */
    readonly wgsl: string;
  } ? StructInput<G>
  : T extends {
    /** A field given with attributes: its type. */
    readonly type: infer U;
  } ? FieldInput<U>
  : T extends ScalarTypeName ? number
  : T extends MatrixTypeName ? ArrayLike<number> | ArrayLike<ArrayLike<number>>
  : T extends TypeName ? ArrayLike<number>
  : never;

/** A record as `read` returns it: every field, as its {@link FieldValue}. */
export type StructRecord<F extends FieldSpecs> = { [K in keyof F]: FieldValue<F[K]> };
/** A record to write; missing fields (at any depth of nesting) are left as they are. */
export type StructInput<F extends FieldSpecs> = { [K in keyof F]?: FieldInput<F[K]> };

/** What a field of a {@link StructView} gets and sets: nested layouts are views, everything else a {@link FieldValue}. */
export type ViewValue<T> =
  T extends {
    /** A nested struct layout's field specification. */
    readonly spec: infer G extends FieldSpecs;
    /** A nested struct layout's WGSL. */
    readonly wgsl: string;
  } ? StructView<G>
  : T extends {
    /** An array type: read and written whole, as a {@link FieldValue}. */
    readonly kind: 'array';
  } ? FieldValue<T>
  : T extends {
    /** A field given with attributes: its type. */
    readonly type: infer U;
  } ? ViewValue<U>
  : FieldValue<T>;
/** Live accessors over bytes: getting a field reads it, setting writes it; nested layouts are views themselves. */
export type StructView<F extends FieldSpecs> = { -readonly [K in keyof F]: ViewValue<F[K]> };

/** One member of a struct layout, as laid out. */
export interface Field {
  /** The field's name, as given to defineStruct. */
  readonly name: string;
  /** Its type (for a `ptr` field of a 64-bit layout: `'ptr64'`). */
  readonly type: FieldType;
  /** Byte offset from the start of the record. */
  readonly offset: number;
  /** SizeOfMember: the type's size, or @size. */
  readonly size: number;
  /** AlignOfMember: the type's alignment, or @align. */
  readonly align: number;
  /** The @align/@size given explicitly, as written. */
  readonly attributes: {
    /** `@align(n)`, if given. */
    readonly align?: number;
    /** `@size(n)`, if given. */
    readonly size?: number;
  };
}

/** How defineStruct lays out pointers. */
export interface StructOptions {
  /**
   * 32: `ptr` fields are u32 addresses and accessors take `p: u32` (spaces of at most 4 GiB).
   * 64: `ptr` fields are VmPtr (8 bytes) and accessors take `p: VmPtr` (any space; needed over 4 GiB).
   * Default: from `space` when given, else 32.
   */
  readonly pointers?: 32 | 64;
  /** The space the records live in: 64-bit pointers when it is over 4 GiB (MAX_NARROW_SPACE_SIZE). */
  readonly space?: {
    /** The space's size in bytes. */
    readonly size: number;
  };
}

/**
 * A record layout shared by JavaScript and WGSL, made by {@link defineStruct}: the
 * same bytes are read and written on the host (`write`, `read`, `view`) and by a
 * kernel through the generated accessors (`wgsl`), after WGSL's storage layout rules.
 */
export interface StructLayout<F extends FieldSpecs = FieldSpecs> {
  /** The struct's name: the prefix of its WGSL accessors (`<name>_<field>`). */
  readonly name: string;
  /** 32 or 64: the width of its `ptr` fields and of the address its WGSL accessors take. */
  readonly pointerBits: 32 | 64;
  /** The fields as laid out, in the order given. */
  readonly fields: readonly Field[];
  /** Bytes per record, a multiple of `align`: also the stride of an array of records. */
  readonly size: number;
  /** AlignOf(struct): the largest member alignment. Allocate records at a multiple of it. */
  readonly align: number;
  /** Byte offset of each field. */
  readonly offsets: { readonly [K in keyof F]: number };
  /** The field specification given to defineStruct. */
  readonly spec: F;
  /** Layouts nested in this one (directly), whose accessors a kernel needs too: see structsOf(). */
  readonly nested: readonly StructLayout[];
  /**
   * WGSL accessors: `const <Name>_SIZE`, `<Name>_ALIGN`, `<Name>_<field>(p)`, `<Name>_set_<field>(p, v)`;
   * array fields take indices (`(p, i)`, `(p, i, v)`, and `<Name>_<field>_LEN`); nested layouts give
   * `<Name>_<field>_ptr(p)`. `p` is a u32, or a VmPtr with 64-bit pointers. Pass the layout in
   * `createKernel({ structs })`.
   */
  readonly wgsl: string;
  /** Write `record` at byte `offset` of `bytes` (e.g. a view from space.withView). Missing fields are left as they are. */
  write(bytes: Uint8Array, offset: number, record: StructInput<F>): void;
  /** Read the record at byte `offset` of `bytes` (every field; nested layouts as records). */
  read(bytes: Uint8Array, offset: number): StructRecord<F>;
  /** Write records one after another (stride `size`) from byte `offset`. */
  writeArray(bytes: Uint8Array, offset: number, records: readonly StructInput<F>[]): void;
  /** Read `count` records one after another (stride `size`) from byte `offset`. */
  readArray(bytes: Uint8Array, offset: number, count: number): StructRecord<F>[];
  /** Getters and setters over the record at `offset`: no copy of the whole record. */
  view(bytes: Uint8Array, offset: number): StructView<F>;
  /** `struct <Name> { … }` with the same @align/@size, for WGSL that binds the bytes directly (nested layouts declared separately). */
  wgslStruct(): string;
}

interface Codec {
  write(dv: DataView, at: number, v: unknown, path: string): void;
  read(dv: DataView, at: number): unknown;
}

interface Laid extends Field {
  readonly codec: Codec;
}

/** Struct names have no `_`, so `<Name>_` starts only this struct's identifiers. */
const IDENT = /^[A-Za-z][A-Za-z0-9]*$/;
const FIELD_IDENT = /^[a-z][A-Za-z0-9_]*$/;
const ATTRIBUTE_KEYS = new Set(['type', 'align', 'size']);
const roundUp = (k: number, n: number) => Math.ceil(n / k) * k;
const isPow2 = (n: number) => Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0 && n <= 2 ** 30;

const internals = new WeakMap<StructLayout, { readonly codec: Codec }>();

/** Spaces up to this size have u32 addresses (options.ts MAX_NARROW_SPACE_SIZE; layout/ sits below options' users). */
const NARROW_LIMIT = 2 ** 32;

function pointerBitsOf(name: string, options: StructOptions | undefined): 32 | 64 {
  if (options === undefined) return 32;
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`defineStruct ${name}: options must be { pointers?: 32 | 64, space? }`);
  for (const k of Object.keys(options)) {
    if (k !== 'pointers' && k !== 'space') throw new InvalidArgumentError(`defineStruct ${name}: unknown option "${k}"; known options: pointers, space`);
  }
  if (options.pointers !== undefined) {
    if (options.pointers !== 32 && options.pointers !== 64) throw new InvalidArgumentError(`defineStruct ${name}: pointers must be 32 or 64, got ${String(options.pointers)}`);
    return options.pointers;
  }
  if (options.space !== undefined) {
    const size: unknown = options.space?.size;
    if (typeof size !== 'number') throw new InvalidArgumentError(`defineStruct ${name}: space must be an AddressSpace (something with a numeric size)`);
    return size > NARROW_LIMIT ? 64 : 32;
  }
  return 32;
}

/** `ptr` as a layout of `bits` lays it out; arrays of `ptr` keep 4-byte elements, so they are refused in 64-bit layouts. */
function widen(t: FieldType, bits: 32 | 64, where: string): FieldType {
  if (bits === 64 && t === 'ptr') return 'ptr64';
  let e: FieldType = t;
  while (isArrayType(e)) e = e.element;
  if (bits === 64 && e === 'ptr') {
    throw new InvalidArgumentError(`${where}: array('ptr', n) has 4-byte elements, but this layout's pointers are 64-bit; use array('ptr64', n)`);
  }
  // A nested layout's accessors take the address type of its own width: the _ptr accessor must give that type.
  if (isStructLayout(e) && e.pointerBits !== bits) {
    throw new InvalidArgumentError(
      `${where}: nested layout ${e.name} has ${e.pointerBits}-bit pointers and this one ${bits}-bit; define ${e.name} with the same { pointers } (or space)`,
    );
  }
  return t;
}

/**
 * Define a struct layout shared by JavaScript and WGSL. Fields are laid out in the order given.
 * `options.space` (or `pointers: 64`) makes `ptr` fields and accessor addresses 64-bit for a space over 4 GiB.
 * Throws InvalidArgumentError for a bad name (letters and digits only, not starting with `vm`), no
 * fields, an unknown type or a bad `@align`/`@size`.
 *
 * @example
 * ```ts
 * const Node = defineStruct('Node', { value: 'f32', next: 'ptr' });
 * const addr = space.alloc(Node.size * 2);
 * await space.withView(addr, Node.size * 2, 'write', (bytes) => {
 *   Node.write(bytes, 0, { value: 1, next: addr + Node.size });
 *   Node.write(bytes, Node.size, { value: 2, next: 0 });
 * });
 * // In WGSL (createKernel({ structs: [Node], … })): Node_value(p), Node_next(p), Node_set_value(p, v).
 * ```
 */
export function defineStruct<F extends FieldSpecs>(name: string, fields: F, options?: StructOptions): StructLayout<F> {
  if (typeof name !== 'string' || !IDENT.test(name) || /^vm/i.test(name)) {
    throw new InvalidArgumentError(
      `defineStruct: name "${String(name)}" must be a WGSL identifier of letters and digits, not starting with vm/Vm/VM (the prelude's prefix)`,
    );
  }
  const entries = typeof fields === 'object' && fields !== null ? Object.entries(fields) : [];
  if (entries.length === 0) throw new InvalidArgumentError(`defineStruct ${name}: give at least one field`);
  const pointerBits = pointerBitsOf(name, options);
  const laid: Laid[] = [];
  let end = 0;
  let align = 4;
  for (const [f, spec] of entries) {
    if (!FIELD_IDENT.test(f) || f.startsWith('set_')) {
      throw new InvalidArgumentError(`defineStruct ${name}: field "${f}" must start with a lower-case letter, use letters, digits and _, and not start with set_`);
    }
    const parsed = parseSpec(spec, `defineStruct ${name}.${f}`);
    const type = widen(parsed.type, pointerBits, `defineStruct ${name}.${f}`);
    const { attributes } = parsed;
    if (type !== parsed.type && attributes.align !== undefined && attributes.align % alignOf(type) !== 0) {
      throw new InvalidArgumentError(`defineStruct ${name}.${f}: @align(${attributes.align}) is not a multiple of 8, a 64-bit pointer's alignment; use 8, 16, …`);
    }
    if (type !== parsed.type && attributes.size !== undefined && attributes.size < sizeOf(type)) {
      throw new InvalidArgumentError(`defineStruct ${name}.${f}: @size(${attributes.size}) is smaller than 8, a 64-bit pointer's size; use at least 8`);
    }
    const memberAlign = attributes.align ?? alignOf(type);
    const memberSize = attributes.size ?? sizeOf(type);
    const offset = roundUp(memberAlign, end);
    laid.push({ name: f, type, offset, size: memberSize, align: memberAlign, attributes, codec: codecOf(type, name) });
    end = offset + memberSize;
    align = Math.max(align, memberAlign);
  }
  const size = roundUp(align, end);
  if (size > MAX_TYPE_SIZE) throw new InvalidArgumentError(`defineStruct ${name}: ${size} bytes is more than ${MAX_TYPE_SIZE}; make the arrays smaller`);
  const offsets = Object.fromEntries(laid.map((f) => [f.name, f.offset])) as { [K in keyof F]: number };
  const nested = [...new Set(laid.flatMap((f) => nestedIn(f.type)))];
  // A nested layout of the same name would emit the same identifiers (<Name>_…) into one kernel.
  if (nested.length > 0 && structsOf(...nested).some((n) => n.name === name)) {
    throw new InvalidArgumentError(`defineStruct ${name}: a nested layout is also named ${name}; give one of them another name`);
  }
  const wgsl = emitWgsl(name, size, align, laid, pointerBits === 64);

  const codec: Codec = {
    write(dv, at, v, path) {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) {
        throw new InvalidArgumentError(`${path}: expected a ${name} record (an object of fields), got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`);
      }
      for (const f of laid) {
        const x = (v as { readonly [k: string]: unknown })[f.name];
        if (x !== undefined) f.codec.write(dv, at + f.offset, x, `${path}.${f.name}`);
      }
    },
    read(dv, at) {
      const out: { [k: string]: unknown } = {};
      for (const f of laid) out[f.name] = f.codec.read(dv, at + f.offset);
      return out;
    },
  };

  const checkAt = (op: string, bytes: Uint8Array, at: number, length = size) => {
    if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError(`${name}.${op}: pass a Uint8Array (e.g. the view from space.withView), got ${typeof bytes}`);
    if (!Number.isInteger(at) || at < 0 || at + length > bytes.byteLength) {
      throw new InvalidArgumentError(`${name}.${op}: offset ${at} with size ${length} is outside the ${bytes.byteLength}-byte view`);
    }
  };
  const dataView = (bytes: Uint8Array, at: number, length: number) => new DataView(bytes.buffer, bytes.byteOffset + at, length);

  const layout: StructLayout<F> = Object.freeze({
    name,
    pointerBits,
    fields: Object.freeze(laid.map(({ codec: _, ...field }) => Object.freeze(field))),
    size,
    align,
    offsets: Object.freeze(offsets),
    spec: fields,
    nested: Object.freeze(nested),
    wgsl,
    write(bytes: Uint8Array, at: number, record: StructInput<F>): void {
      checkAt('write', bytes, at);
      codec.write(dataView(bytes, at, size), 0, record, name);
    },
    read(bytes: Uint8Array, at: number): StructRecord<F> {
      checkAt('read', bytes, at);
      return codec.read(dataView(bytes, at, size), 0) as StructRecord<F>;
    },
    writeArray(bytes: Uint8Array, at: number, records: readonly StructInput<F>[]): void {
      if (!Array.isArray(records)) throw new InvalidArgumentError(`${name}.writeArray: pass an array of records, got ${typeof records}`);
      checkAt('writeArray', bytes, at, records.length * size);
      if (records.length === 0) return;
      const dv = dataView(bytes, at, records.length * size);
      records.forEach((r, i) => codec.write(dv, i * size, r, `${name}[${i}]`));
    },
    readArray(bytes: Uint8Array, at: number, count: number): StructRecord<F>[] {
      if (!Number.isInteger(count) || count < 0) throw new InvalidArgumentError(`${name}.readArray: count ${String(count)} must be a whole number ≥ 0`);
      checkAt('readArray', bytes, at, count * size);
      if (count === 0) return [];
      const dv = dataView(bytes, at, count * size);
      return Array.from({ length: count }, (_, i) => codec.read(dv, i * size) as StructRecord<F>);
    },
    view(bytes: Uint8Array, at: number): StructView<F> {
      checkAt('view', bytes, at);
      return makeView(laid, name, bytes, at) as StructView<F>;
    },
    wgslStruct(): string {
      return declare(name, laid);
    },
  });
  internals.set(layout as unknown as StructLayout, { codec });
  registerLayout(layout);
  return layout;
}

/**
 * The layouts and every layout nested in them, each once, nested ones first:
 * what `createKernel({ structs })` needs for kernels that follow `_ptr` accessors.
 * Refuses two different layouts with one name (their WGSL would collide).
 */
export function structsOf(...layouts: readonly StructLayout[]): StructLayout[] {
  const out: StructLayout[] = [];
  const byName = new Map<string, StructLayout>();
  const visit = (l: StructLayout) => {
    if (!isStructLayout(l)) throw new InvalidArgumentError(`structsOf: pass layouts from defineStruct(), got ${l === null ? 'null' : typeof l}`);
    const seen = byName.get(l.name);
    if (seen !== undefined) {
      if (seen.wgsl !== l.wgsl) {
        throw new InvalidArgumentError(`structsOf: two different layouts are named ${l.name}; give one of them another name`);
      }
      return;
    }
    byName.set(l.name, l);
    for (const n of l.nested) visit(n);
    out.push(l);
  };
  for (const l of layouts) visit(l);
  return out;
}

function parseSpec(spec: FieldSpec, where: string): { type: FieldType; attributes: Field['attributes'] } {
  if (typeof spec !== 'object' || spec === null || isArrayType(spec) || isStructLayout(spec) || !('type' in spec)) {
    checkFieldType(spec, where);
    return { type: spec, attributes: Object.freeze({}) };
  }
  for (const k of Object.keys(spec)) {
    if (!ATTRIBUTE_KEYS.has(k)) throw new InvalidArgumentError(`${where}: unknown key "${k}"; a field with attributes is { type, align?, size? }`);
  }
  const type = spec.type;
  checkFieldType(type, where);
  const attributes: { align?: number; size?: number } = {};
  if (spec.align !== undefined) {
    const natural = alignOf(type);
    if (!isPow2(spec.align) || spec.align % natural !== 0) {
      throw new InvalidArgumentError(
        `${where}: @align(${String(spec.align)}) must be a power of two and a multiple of AlignOf(${typeLabel(type)}) = ${natural} ` +
          `(WGSL requires n = k × RequiredAlignOf(T, storage)); use ${natural}, ${natural * 2}, ${natural * 4}, …`,
      );
    }
    attributes.align = spec.align;
  }
  if (spec.size !== undefined) {
    const natural = sizeOf(type);
    if (!Number.isInteger(spec.size) || spec.size < natural || spec.size > MAX_TYPE_SIZE) {
      throw new InvalidArgumentError(`${where}: @size(${String(spec.size)}) must be a whole number ≥ SizeOf(${typeLabel(type)}) = ${natural}`);
    }
    attributes.size = spec.size;
  }
  return { type, attributes: Object.freeze(attributes) };
}

function nestedIn(t: FieldType): StructLayout[] {
  if (isArrayType(t)) return nestedIn(t.element);
  return isStructLayout(t) ? [t] : [];
}

// ---- host codecs ----

function checkLane(v: unknown, kind: Component, path: string): number {
  const ok = typeof v === 'number' &&
    (kind === 'f' || (Number.isInteger(v) && (kind === 'u' ? v >= 0 && v < 2 ** 32 : v >= -(2 ** 31) && v < 2 ** 31)));
  if (!ok) {
    const want = kind === 'f' ? 'a number' : kind === 'u' ? 'a whole number from 0 to 2^32-1' : 'a whole number in the i32 range';
    throw new InvalidArgumentError(`${path}: ${String(v)} is not ${want}`);
  }
  return v;
}

function setLane(dv: DataView, at: number, kind: Component, v: number): void {
  if (kind === 'f') dv.setFloat32(at, v, true);
  else if (kind === 'i') dv.setInt32(at, v, true);
  else dv.setUint32(at, v >>> 0, true);
}

function getLane(dv: DataView, at: number, kind: Component): number {
  return kind === 'f' ? dv.getFloat32(at, true) : kind === 'i' ? dv.getInt32(at, true) : dv.getUint32(at, true);
}

const isArrayLike = (v: unknown): v is ArrayLike<unknown> =>
  Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView));

function leafCodec(l: LeafInfo): Codec {
  const { component: kind, rows, cols, colStride } = l;
  if (rows === 1) {
    return {
      write: (dv, at, v, path) => setLane(dv, at, kind, checkLane(v, kind, path)),
      read: (dv, at) => getLane(dv, at, kind),
    };
  }
  const n = rows * cols;
  const expected = cols === 1 ? `expected ${rows} numbers` : `expected ${n} numbers (column-major: ${cols} columns of ${rows}) or ${cols} columns`;
  return {
    write(dv, at, v, path) {
      if (!isArrayLike(v)) throw new InvalidArgumentError(`${path}: ${expected}`);
      if (cols > 1 && v.length === cols) {
        // An array of columns, as TypeGPU and gl-matrix users may hold them.
        for (let c = 0; c < cols; c++) {
          const col = v[c];
          if (!isArrayLike(col) || col.length !== rows) throw new InvalidArgumentError(`${path}: ${expected}`);
          for (let r = 0; r < rows; r++) setLane(dv, at + c * colStride + 4 * r, kind, checkLane(col[r], kind, `${path}[${c}][${r}]`));
        }
        return;
      }
      if (v.length !== n) throw new InvalidArgumentError(`${path}: ${expected}`);
      for (let c = 0; c < cols; c++) {
        for (let r = 0; r < rows; r++) setLane(dv, at + c * colStride + 4 * r, kind, checkLane(v[c * rows + r], kind, path));
      }
    },
    read(dv, at) {
      const out = new Array<number>(n);
      for (let c = 0; c < cols; c++) for (let r = 0; r < rows; r++) out[c * rows + r] = getLane(dv, at + c * colStride + 4 * r, kind);
      return out;
    },
  };
}

/** A VmPtr: two u32 words (low, high) holding an address, a whole number below 2^53. */
const PTR64_CODEC: Codec = {
  write(dv, at, v, path) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw new InvalidArgumentError(`${path}: ${String(v)} is not an address (a whole number from 0 to 2^53-1)`);
    }
    dv.setUint32(at, v % 2 ** 32, true);
    dv.setUint32(at + 4, Math.floor(v / 2 ** 32), true);
  },
  read: (dv, at) => dv.getUint32(at, true) + dv.getUint32(at + 4, true) * 2 ** 32,
};

function codecOf(t: FieldType, owner: string): Codec {
  if (t === 'ptr64') return PTR64_CODEC;
  const l = leafInfo(t);
  if (l) return leafCodec(l);
  if (isArrayType(t)) {
    const el = codecOf(t.element, owner);
    const { length, stride } = t;
    return {
      write(dv, at, v, path) {
        if (!isArrayLike(v) || v.length !== length) {
          throw new InvalidArgumentError(`${path}: expected an array of ${length} elements, got ${isArrayLike(v) ? `${v.length}` : typeof v}`);
        }
        for (let k = 0; k < length; k++) el.write(dv, at + k * stride, v[k], `${path}[${k}]`);
      },
      read: (dv, at) => Array.from({ length }, (_, k) => el.read(dv, at + k * stride)),
    };
  }
  const inner = internals.get(t as StructLayout);
  if (!inner) throw new InvalidArgumentError(`defineStruct ${owner}: nested layouts must come from defineStruct()`);
  return inner.codec;
}

function makeView(laid: readonly Laid[], name: string, bytes: Uint8Array, at: number): object {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const view: object = {};
  for (const f of laid) {
    const o = at + f.offset;
    const t = f.type;
    Object.defineProperty(view, f.name, {
      enumerable: true,
      get: isStructLayout(t) ? () => t.view(bytes, o) : () => f.codec.read(dv, o),
      set: (v: unknown) => f.codec.write(dv, o, v, `${name}.${f.name}`),
    });
  }
  return Object.seal(view);
}

// ---- WGSL ----

function wgslTypeOf(t: FieldType): string {
  const l = leafInfo(t);
  if (l) return l.wgsl;
  if (isArrayType(t)) return `array<${wgslTypeOf(t.element)}, ${t.length}>`;
  return (t as StructLayout).name;
}

function declare(name: string, laid: readonly Laid[]): string {
  let s = `struct ${name} {\n`;
  for (const f of laid) {
    if (WGSL_KEYWORDS.has(f.name) || WGSL_RESERVED.has(f.name)) {
      throw new InvalidArgumentError(`${name}.wgslStruct: field "${f.name}" is a WGSL keyword or reserved word and cannot name a struct member; rename the field`);
    }
    const attrs = (f.attributes.align !== undefined ? `@align(${f.attributes.align}) ` : '') + (f.attributes.size !== undefined ? `@size(${f.attributes.size}) ` : '');
    s += `  ${attrs}${f.name}: ${wgslTypeOf(f.type)},\n`;
  }
  return s + '}\n';
}

const SCALAR: { readonly [C in Component]: string } = { u: 'u32', i: 'i32', f: 'f32' };

/** How accessors reach memory: u32 addresses and vm_load_*, or VmPtr and vm_ptr_load_* (64-bit layouts). */
interface Access {
  readonly prefix: 'vm_' | 'vm_ptr_';
  readonly addrType: 'u32' | 'VmPtr';
  plus(a: string, k: number | string): string;
}
const NARROW: Access = { prefix: 'vm_', addrType: 'u32', plus: (a, k) => (k === 0 ? a : `${a} + ${typeof k === 'number' ? `${k}u` : k}`) };
const WIDE: Access = { prefix: 'vm_ptr_', addrType: 'VmPtr', plus: (a, k) => (k === 0 ? a : `vm_ptr_add(${a}, ${typeof k === 'number' ? `${k}u` : k})`) };

/**
 * A vector of `rows` components (or a scalar) at address `a` + `k` bytes. A vec3 whose 16-byte
 * slot is its own (an array element, a matrix column: the 4th word is padding no other field can
 * use) is one vec4 access, storing 0 in the padding word; a vec3 field, whose 4th word may be the
 * next field, is a vec2 and a scalar access, touching its 12 bytes only. Both keep the prelude's
 * alignment rule (the slot is 16-aligned) and as few translations as that allows.
 */
const load = (x: Access, l: LeafInfo, rows: number, a: string, k: number, ownSlot: boolean): string => {
  const s = SCALAR[l.component];
  const m = x.prefix;
  if (rows === 1) return `${m}load_${s}(${x.plus(a, k)})`;
  if (rows === 3 && ownSlot) return `${m}load_vec4${l.component}(${x.plus(a, k)}).xyz`;
  if (rows === 3) return `vec3<${s}>(${m}load_vec2${l.component}(${x.plus(a, k)}), ${m}load_${s}(${x.plus(a, k + 8)}))`;
  return `${m}load_vec${rows}${l.component}(${x.plus(a, k)})`;
};

const store = (x: Access, l: LeafInfo, rows: number, a: string, k: number, v: string, ownSlot: boolean): string => {
  const s = SCALAR[l.component];
  const m = x.prefix;
  if (rows === 1) return `${m}store_${s}(${x.plus(a, k)}, ${v});`;
  if (rows === 3 && ownSlot) return `${m}store_vec4${l.component}(${x.plus(a, k)}, vec4<${s}>(${v}, ${s}(0)));`;
  if (rows === 3) return `${m}store_vec2${l.component}(${x.plus(a, k)}, ${v}.xy); ${m}store_${s}(${x.plus(a, k + 8)}, ${v}.z);`;
  return `${m}store_vec${rows}${l.component}(${x.plus(a, k)}, ${v});`;
};

const indexName = (k: number, n: number) => (n === 1 ? 'i' : k < 3 ? 'ijk'[k]! : `i${k}`);

function emitWgsl(name: string, size: number, align: number, laid: readonly Laid[], wide: boolean): string {
  const x = wide ? WIDE : NARROW;
  let wgsl = `// ---- struct ${name} (webgpu-hmm defineStruct: ${size} bytes, align ${align}${wide ? ', 64-bit pointers' : ''}) ----\n`;
  const ids = new Map<string, string>();
  const claim = (id: string, field: string) => {
    const problem = wgslIdentifierProblem(id);
    if (problem) throw new InvalidArgumentError(`defineStruct ${name}.${field}: the accessor ${problem}; rename the struct or the field`);
    const other = ids.get(id);
    if (other !== undefined) {
      throw new InvalidArgumentError(`defineStruct ${name}: fields "${other}" and "${field}" both generate the WGSL identifier ${id}; rename one of them`);
    }
    ids.set(id, field);
    return id;
  };
  wgsl += `const ${claim(`${name}_SIZE`, '(size)')}: u32 = ${size}u;\n`;
  wgsl += `const ${claim(`${name}_ALIGN`, '(align)')}: u32 = ${align}u;\n`;
  for (const f of laid) {
    const dims: ArrayType[] = [];
    let t: FieldType = f.type;
    while (isArrayType(t)) {
      dims.push(t);
      t = t.element;
    }
    const idx = dims.map((_, k) => indexName(k, dims.length));
    const params = [`p: ${x.addrType}`, ...idx.map((i) => `${i}: u32`)].join(', ');
    // Clamped like WGSL's own out-of-bounds array accesses: an index never reaches past its field.
    // The offset within the record is below 2^31 (MAX_TYPE_SIZE): one u32 added to the address.
    const within = [`${f.offset}u`, ...dims.map((d, k) => `min(${idx[k]}, ${d.length - 1}u) * ${d.stride}u`)].join(' + ');
    const addr = wide ? `vm_ptr_add(p, ${within})` : `p + ${within}`;
    if (dims.length > 0) wgsl += `const ${claim(`${name}_${f.name}_LEN`, f.name)}: u32 = ${dims[0]!.length}u;\n`;
    const l = leafInfo(t);
    if (!l) {
      wgsl += `fn ${claim(`${name}_${f.name}_ptr`, f.name)}(${params}) -> ${x.addrType} { return ${addr}; }\n`;
      continue;
    }
    const get = claim(`${name}_${f.name}`, f.name);
    const set = claim(`${name}_set_${f.name}`, f.name);
    const own = dims.length > 0;
    if (l.cols === 1 && (l.rows !== 3 || own)) {
      // One prelude call: scalars, vec2, vec4 (the form the first version of this module emitted), vec3 array elements.
      wgsl += `fn ${get}(${params}) -> ${l.wgsl} { return ${load(x, l, l.rows, addr, 0, own)}; }\n`;
      wgsl += `fn ${set}(${params}, v: ${l.wgsl}) { ${store(x, l, l.rows, addr, 0, 'v', own)} }\n`;
    } else if (l.cols === 1) {
      wgsl += `fn ${get}(${params}) -> ${l.wgsl} { let a = ${addr}; return ${load(x, l, 3, 'a', 0, false)}; }\n`;
      wgsl += `fn ${set}(${params}, v: ${l.wgsl}) { let a = ${addr}; ${store(x, l, 3, 'a', 0, 'v', false)} }\n`;
    } else {
      const cols = Array.from({ length: l.cols }, (_, c) => c);
      wgsl += `fn ${get}(${params}) -> ${l.wgsl} { let a = ${addr}; return ${l.wgsl}(${cols.map((c) => load(x, l, l.rows, 'a', c * l.colStride, true)).join(', ')}); }\n`;
      wgsl += `fn ${set}(${params}, v: ${l.wgsl}) { let a = ${addr}; ${cols.map((c) => store(x, l, l.rows, 'a', c * l.colStride, `v[${c}]`, true)).join(' ')} }\n`;
    }
  }
  return wgsl;
}
