// Field types of struct layouts and their WGSL memory layout: AlignOf and
// SizeOf exactly as the WGSL spec ("Memory Layout", "Alignment and Size")
// defines them for host-shareable types in the storage address space, so a
// record written by JavaScript, read by a kernel through the prelude, declared
// as a WGSL struct in someone else's shader, or described by a TypeGPU schema
// all agree byte for byte.
//
// f16 types are left out on purpose: the prelude moves 32-bit words (its
// translation, overlay and bounds checks are per word), so a 2-byte store
// would be a read-modify-write of a word that a neighbouring invocation may be
// writing at the same time; and `enable f16;` would have to precede the
// prelude, which Chrome's SwiftShader adapter cannot compile (no shader-f16).
// bool is not host-shareable in WGSL at all.

import { InvalidArgumentError } from '../errors.ts';
import type { StructLayout } from './struct.ts';

/** Scalar field types: `ptr` is a virtual address (u32, or a VmPtr in a 64-bit layout), `ptr64` always a VmPtr. */
export type ScalarTypeName = 'u32' | 'i32' | 'f32' | 'ptr' | 'ptr64';
/** Vector field types (`vec3*` is 16-byte aligned and 12 bytes long, as in WGSL). */
export type VectorTypeName = 'vec2u' | 'vec2i' | 'vec2f' | 'vec3u' | 'vec3i' | 'vec3f' | 'vec4u' | 'vec4i' | 'vec4f';
/** f32 matrix field types `matCxRf` (C columns of R rows, column-major). */
export type MatrixTypeName =
  | 'mat2x2f' | 'mat2x3f' | 'mat2x4f' | 'mat3x2f' | 'mat3x3f' | 'mat3x4f' | 'mat4x2f' | 'mat4x3f' | 'mat4x4f';
/**
 * Types named by a string: scalars, `ptr` (a virtual address: u32, or in a layout with 64-bit
 * pointers a VmPtr), `ptr64` (always a VmPtr: two u32 words, low first, 8-byte aligned),
 * vectors and f32 matrices.
 */
export type TypeName = ScalarTypeName | VectorTypeName | MatrixTypeName;

/** `array<E, N>`, made by {@link array}. Element stride is roundUp(AlignOf(E), SizeOf(E)). */
export interface ArrayType<E extends FieldType = FieldType, N extends number = number> {
  /** Discriminant: an array type. */
  readonly kind: 'array';
  /** The element type. */
  readonly element: E;
  /** Number of elements. */
  readonly length: N;
  /** AlignOf(array<E, N>) = AlignOf(E). */
  readonly align: number;
  /** SizeOf(array<E, N>) = N × stride. */
  readonly size: number;
  /** Bytes from one element to the next: roundUp(AlignOf(E), SizeOf(E)). */
  readonly stride: number;
}

/** A field's type: a type name, an array, or another struct layout (nested by value, as in WGSL). */
export type FieldType = TypeName | ArrayType | StructLayout;

/** A struct member with WGSL's explicit `@align(n)` / `@size(n)` attributes. */
export interface FieldAttributes<T extends FieldType = FieldType> {
  /** The member's type. */
  readonly type: T;
  /** `@align(n)`: a power of two and a multiple of AlignOf(type) (WGSL: n = k × RequiredAlignOf(T, storage)). */
  readonly align?: number;
  /** `@size(n)`: at least SizeOf(type); the bytes past the value are padding. */
  readonly size?: number;
}

/** How one field is given to defineStruct: a type, or a type with `@align`/`@size`. */
export type FieldSpec = FieldType | FieldAttributes;
/** The fields given to defineStruct: name → {@link FieldSpec}, laid out in this order. */
export type FieldSpecs = { readonly [field: string]: FieldSpec };

/** Component kind: u32 (and ptr), i32 or f32. */
export type Component = 'u' | 'i' | 'f';

/** A scalar, vector or matrix: what the prelude loads and stores, by words or by vectors. */
export interface LeafInfo {
  readonly name: TypeName;
  readonly component: Component;
  /** Components per column: 1 for scalars, N for vecN, R for matCxR. */
  readonly rows: number;
  /** 1, or C for matCxR. */
  readonly cols: number;
  /** Bytes between columns: roundUp(AlignOf(vecR), SizeOf(vecR)). */
  readonly colStride: number;
  readonly align: number;
  readonly size: number;
  /** The WGSL type, spelled out (vec3<f32>, mat4x4<f32>). */
  readonly wgsl: string;
}

const COMPONENT_WGSL: { readonly [C in Component]: string } = { u: 'u32', i: 'i32', f: 'f32' };
const VEC_ALIGN = [0, 4, 8, 16, 16];
const VEC_SIZE = [0, 4, 8, 12, 16];
const roundUp = (k: number, n: number) => Math.ceil(n / k) * k;

function leaf(name: TypeName, component: Component, rows: number, cols: number): LeafInfo {
  const colStride = roundUp(VEC_ALIGN[rows]!, VEC_SIZE[rows]!);
  const c = COMPONENT_WGSL[component];
  return Object.freeze({
    name,
    component,
    rows,
    cols,
    colStride,
    align: VEC_ALIGN[rows]!,
    // matCxR is laid out as array<vecR, C>; a vector or scalar is one column without the stride padding.
    size: cols === 1 ? VEC_SIZE[rows]! : cols * colStride,
    wgsl: cols > 1 ? `mat${cols}x${rows}<${c}>` : rows > 1 ? `vec${rows}<${c}>` : c,
  });
}

const LEAVES: ReadonlyMap<string, LeafInfo> = new Map<TypeName, LeafInfo>([
  ['u32', leaf('u32', 'u', 1, 1)],
  ['ptr', leaf('ptr', 'u', 1, 1)],
  // A VmPtr: WGSL's vec2<u32> (low word, high word); JavaScript reads and writes it as one number.
  ['ptr64', leaf('ptr64', 'u', 2, 1)],
  ['i32', leaf('i32', 'i', 1, 1)],
  ['f32', leaf('f32', 'f', 1, 1)],
  ...(['u', 'i', 'f'] as const).flatMap((k) =>
    [2, 3, 4].map((n) => [`vec${n}${k}` as TypeName, leaf(`vec${n}${k}` as TypeName, k, n, 1)] as const)),
  ...[2, 3, 4].flatMap((c) =>
    [2, 3, 4].map((r) => [`mat${c}x${r}f` as TypeName, leaf(`mat${c}x${r}f` as TypeName, 'f', r, c)] as const)),
]);

export const TYPE_NAMES: readonly TypeName[] = Object.freeze([...LEAVES.keys()] as TypeName[]);

/** Layouts made by defineStruct(): a look-alike object would be laid out from fields it does not really have. */
const layouts = new WeakSet<object>();
export function registerLayout(layout: object): void {
  layouts.add(layout);
}
export function isStructLayout(x: unknown): x is StructLayout {
  return typeof x === 'object' && x !== null && layouts.has(x);
}

const arrays = new WeakSet<object>();
export function isArrayType(x: unknown): x is ArrayType {
  return typeof x === 'object' && x !== null && arrays.has(x);
}

export function leafInfo(t: unknown): LeafInfo | undefined {
  return typeof t === 'string' ? LEAVES.get(t) : undefined;
}

/** Throws unless `t` is a field type (not attributes: WGSL puts those on struct members only). */
export function checkFieldType(t: unknown, where: string): asserts t is FieldType {
  if (leafInfo(t) || isArrayType(t) || isStructLayout(t)) return;
  if (typeof t === 'object' && t !== null && 'type' in t) {
    throw new InvalidArgumentError(
      `${where}: @align/@size ({ type, align, size }) apply to struct fields only, as in WGSL; ` +
        'to space out array elements, make the element a struct with the attribute on its field',
    );
  }
  throw new InvalidArgumentError(
    `${where}: unknown type ${describe(t)}; use one of ${TYPE_NAMES.join(', ')}, array(type, n), or a layout from defineStruct()`,
  );
}

/** AlignOf(T) in the storage address space. */
export function alignOf(t: FieldType): number {
  checkFieldType(t, 'alignOf');
  return leafInfo(t)?.align ?? (t as ArrayType | StructLayout).align;
}

/** SizeOf(T). */
export function sizeOf(t: FieldType): number {
  checkFieldType(t, 'sizeOf');
  return leafInfo(t)?.size ?? (t as ArrayType | StructLayout).size;
}

/** Largest record or array size: addresses and offsets are u32 in the prelude. */
export const MAX_TYPE_SIZE = 2 ** 31;

/**
 * `array<element, length>`: a fixed-size array, laid out as WGSL lays it out
 * (element stride roundUp(AlignOf(element), SizeOf(element)): 16 for vec3f, 48 for mat3x3f).
 * WGSL accessors take an index: `Name_field(p, i)`, `Name_set_field(p, i, v)`.
 */
export function array<const E extends FieldType, const N extends number>(element: E, length: N): ArrayType<E, N> {
  checkFieldType(element, 'array()');
  if (typeof length !== 'number' || !Number.isInteger(length) || length < 1) {
    throw new InvalidArgumentError(`array(): length ${String(length)} must be a whole number ≥ 1 (WGSL fixed-size arrays are not empty; records have no runtime-sized arrays)`);
  }
  const align = alignOf(element);
  const stride = roundUp(align, sizeOf(element));
  const size = stride * length;
  if (size > MAX_TYPE_SIZE) {
    throw new InvalidArgumentError(`array(): ${length} elements of stride ${stride} make ${size} bytes, more than ${MAX_TYPE_SIZE}; use fewer elements`);
  }
  const a: ArrayType<E, N> = Object.freeze({ kind: 'array', element, length, align, size, stride });
  arrays.add(a);
  return a;
}

/** A short description of a type for messages. */
export function typeLabel(t: FieldType): string {
  const l = leafInfo(t);
  if (l) return l.name;
  if (isArrayType(t)) return `array<${typeLabel(t.element)}, ${t.length}>`;
  return (t as StructLayout).name;
}

function describe(t: unknown): string {
  if (typeof t === 'string') return `"${t}"`;
  if (t === null || typeof t !== 'object') return String(t);
  return 'object (not made by array() or defineStruct())';
}
