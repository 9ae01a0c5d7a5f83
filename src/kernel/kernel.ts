// Kernels: user WGSL that addresses the virtual space through the prelude.
// A kernel is a description (code, workgroup size); it is linked and compiled
// per device and pool configuration on first use (src/kernel/pipelines.ts).
//
// The user writes `fn kernel(inv: VmInvocation) { … }` and calls the prelude
// (vm_load_u32, vm_store_f32, vm_atomic_add_u32, vm_arg_u32, …); the runtime
// owns the entry point, the bindings and the workgroup size attribute. The
// code, and the struct accessors it links, are held to the source rules
// (src/kernel/source-rules.ts) here, before anything is linked: what the
// runtime learns about a kernel (atomics, workgroup sync, replay safety) is
// read from the same tokens, so a comment never changes it.

import { InvalidArgumentError, KernelCompileError, ReplayUnsafeError } from '../errors.ts';
import { readyKernel, type KernelPool, type ReadyOptions } from './pipelines.ts';
import type { PlainInfo } from './plain.ts';
import { checkResources, type KernelResourceLayout } from './resources.ts';
import { checkSource } from './source-rules.ts';

/** What {@link createKernel} takes: only `code` is required. */
export interface KernelDescriptor {
  /** WGSL defining `fn kernel(inv: VmInvocation)`; may define other functions, structs, consts, workgroup vars. */
  code: string;
  /** Threads per workgroup: x or [x, y, z]. Default 64. */
  workgroupSize?: number | readonly [number, number?, number?];
  /** Name used in errors, traces and GPU object labels. */
  label?: string;
  /** Struct layouts from defineStruct() whose WGSL accessors the kernel uses. */
  structs?: readonly {
    /** The layout's name (its accessors' prefix). */
    readonly name: string;
    /** The layout's WGSL accessors, linked into the module and held to the same source rules as `code`. */
    readonly wgsl: string;
  }[];
  /**
   * The kernel gives the same result when any of its workgroups runs again
   * (it never reads what it writes, and uses no add/sub/xor/exchange atomics).
   * Demand-paged dispatches of such a kernel replay only the workgroups that
   * faulted, instead of running probe and commit passes. Default false.
   */
  idempotent?: boolean;
  /**
   * The kernel's own resources (uniforms, textures, samplers, buffers of yours),
   * in WebGPU's layout words: `[{ binding: 0, buffer: { type: 'uniform' } }]`.
   * The code declares each as `@group(1) @binding(n) var…`; each dispatch
   * gives them in `resources`. Group 0 stays the runtime's.
   */
  resources?: readonly KernelResourceLayout[];
}

/**
 * A compiled-on-first-use kernel, from {@link createKernel} (or createPlainKernel): an
 * immutable description that any space of any pool can dispatch.
 */
export interface Kernel {
  /** Name used in errors, events, traces and GPU object labels (default `'kernel'`). */
  readonly label: string;
  /** The WGSL as given. */
  readonly code: string;
  /** Threads per workgroup, [x, y, z] (missing ones are 1; default [64, 1, 1]). */
  readonly workgroupSize: readonly [number, number, number];
  /** True when the code calls vm_atomic_* or vm_ptr_atomic_*: its windows are bound as atomic<u32>. */
  readonly usesAtomics: boolean;
  /** WGSL of the struct accessors, linked between the prelude and the user's code. */
  readonly structWgsl: string;
  /** Declared idempotent: demand dispatches replay faulted workgroups only. */
  readonly idempotent: boolean;
  /**
   * The code synchronizes or shares data within a workgroup (barriers,
   * workgroupUniformLoad, var<workgroup>): replays must run whole workgroups.
   * Without it, a replay can skip each finished invocation on its own.
   */
  readonly workgroupSync: boolean;
  /**
   * The code calls vm_save_u32 or vm_resume_u32: a demand replay keeps each invocation's saved
   * state between passes (RESUME_SLOTS words), and a stalled invocation resumes from it.
   */
  readonly resumes?: boolean;
  /** The directives at the head of `code` (enable, requires, diagnostic), linked at the top of the module, where WGSL wants them. */
  readonly directives: string;
  /** `code` with those directives blanked out (lines kept): what is linked after the prelude. */
  readonly body: string;
  /**
   * Compile ahead: the pipeline variants this kernel's dispatches on `pool` will
   * use (by default `'declared'` and its demand variant), all at once, each run
   * once on an empty grid, since some implementations compile at a pipeline's
   * first use (lavapipe). A dispatch issued meanwhile waits for the compile of
   * its variant instead of starting another. Rejects with KernelCompileError if
   * the code does not compile, DeviceLostError or DestroyedError if the pool
   * cannot be used, InvalidArgumentError for bad options (before compiling).
   * Variants depend on the pool's page and window sizes: after a pool gives a
   * window back, or recovers on a new device, the next dispatch compiles again.
   */
  ready(pool: KernelPool, options?: ReadyOptions): Promise<void>;
  /**
   * Set for a plain kernel (createPlainKernel, src/kernel/plain.ts): a complete
   * WGSL module run through bound ranges, with no prelude linked.
   */
  readonly plain?: PlainInfo;
  /** The kernel's own resources' layout (bind group 1), when it has any. */
  readonly resources?: readonly KernelResourceLayout[];
}

/** A kernel as linking reads it: everything but its methods. */
export type KernelSource = Omit<Kernel, 'ready'>;

/** Builtins that synchronize a workgroup (a var<workgroup> shares data within one, too). */
const WORKGROUP_SYNC = new Set(['workgroupBarrier', 'storageBarrier', 'textureBarrier', 'workgroupUniformLoad']);
/** Atomics whose second application changes the result: a replayed workgroup would apply them twice. */
const NON_IDEMPOTENT = /^vm_(ptr_)?atomic_(add|sub|xor|exchange|compare_exchange)_(u32|i32)$/;
/** Problems listed in one error; the rest are counted. */
const MAX_PROBLEMS = 12;

/** Kernels made by createKernel(): dispatch and compile refuse anything else before touching it. */
const made = new WeakSet<object>();

/** Registers a kernel made by a factory of this folder (createPlainKernel) as one dispatch accepts. */
export function markKernel(kernel: Kernel): void {
  made.add(kernel);
}

/** Throws InvalidArgumentError unless `kernel` came from createKernel() (a look-alike object would fail deep inside linking). */
export function checkKernel(kernel: unknown, what: string): asserts kernel is Kernel {
  if (typeof kernel !== 'object' || kernel === null || !made.has(kernel)) {
    throw new InvalidArgumentError(`${what}: pass a Kernel from createKernel({ code, workgroupSize?, label? }), got ${kernel === null ? 'null' : typeof kernel}`);
  }
}

/**
 * Make a kernel from WGSL that defines `fn kernel(inv: VmInvocation)` and reaches the space
 * through the prelude (`vm_load_f32(addr)`, `vm_store_u32(addr, v)`, `vm_arg_u32(i)`, …); the
 * runtime links the prelude and owns the entry point and bindings. The source rules are checked
 * now: throws KernelCompileError for code that has no `kernel` function, names the prelude's
 * internals, shadows a name it uses or declares resources outside `resources`;
 * ReplayUnsafeError for `idempotent: true` with add/sub/xor/exchange atomics;
 * InvalidArgumentError for bad options. WGSL compilation itself happens on first use (or `ready`).
 *
 * @example
 * ```ts
 * const scale = createKernel({
 *   label: 'scale',
 *   workgroupSize: 64,
 *   code: `
 *     fn kernel(inv: VmInvocation) {
 *       let i = inv.global_id.x;
 *       if (i >= vm_arg_u32(1u)) { return; }
 *       let addr = vm_arg_u32(0u) + i * 4u;   // the same address as in JavaScript
 *       vm_store_f32(addr, vm_load_f32(addr) * 2.0);
 *     }`,
 * });
 * await space.dispatch(scale, { workgroups: n / 64, write: [{ addr: a, byteLength: n * 4 }], args: [a, n] });
 * ```
 */
export function createKernel(desc: KernelDescriptor): Kernel {
  // Each field is read once: what is checked is what is linked (a getter could answer twice).
  const code: unknown = desc?.code;
  if (desc === null || typeof desc !== 'object' || typeof code !== 'string') {
    throw new InvalidArgumentError('createKernel: pass { code: string, workgroupSize?, label? }');
  }
  const label = desc.label ?? 'kernel';
  if (typeof label !== 'string') throw new InvalidArgumentError(`createKernel: label must be a string, got ${typeof label}`);
  const ws = desc.workgroupSize ?? 64;
  const raw = typeof ws === 'number' ? [ws, 1, 1] : [ws[0], ws[1] ?? 1, ws[2] ?? 1];
  for (const d of raw) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 1) {
      throw new InvalidArgumentError(`kernel "${label}": workgroupSize entries must be whole numbers ≥ 1, got [${raw.join(', ')}]`);
    }
  }
  const structs: { name: string; wgsl: string }[] = [];
  for (const st of desc.structs ?? []) {
    const name: unknown = st?.name;
    const wgsl: unknown = st?.wgsl;
    if (typeof wgsl !== 'string' || typeof name !== 'string') {
      throw new InvalidArgumentError(`kernel "${label}": structs must be layouts from defineStruct()`);
    }
    if (structs.some((x) => x.name === name)) throw new InvalidArgumentError(`kernel "${label}": struct ${name} is listed twice`);
    structs.push({ name, wgsl });
  }
  const resources = desc.resources;
  if (resources !== undefined && !Array.isArray(resources)) throw new InvalidArgumentError(`kernel "${label}": resources must be an array of bind group layout entries`);
  const res = resources && resources.length > 0 ? checkResources(code, resources) : undefined;
  const src = checkSource(code, 'line', res?.names);
  const problems: string[] = [...(res?.problems ?? [])];
  if (!src.declaresKernel) problems.push('no entry function: define `fn kernel(inv: VmInvocation) { … }`');
  problems.push(...src.problems);
  // Struct accessors are linked into the module like the code: whatever wgsl a layout
  // carries (defineStruct's, or any other object's) is held to the same rules.
  for (const st of structs) problems.push(...checkSource(st.wgsl, `struct ${st.name} line`).problems);
  if (problems.length > 0) {
    const shown = problems.slice(0, MAX_PROBLEMS);
    if (problems.length > MAX_PROBLEMS) shown.push(`… and ${problems.length - MAX_PROBLEMS} more`);
    throw new KernelCompileError(label, shown);
  }
  const idempotent = desc.idempotent ?? false;
  if (typeof idempotent !== 'boolean') throw new InvalidArgumentError(`kernel "${label}": idempotent must be true or false`);
  const unsafe = idempotent ? src.words.find((w) => NON_IDEMPOTENT.test(w)) : undefined;
  if (unsafe) {
    throw new ReplayUnsafeError(
      label,
      `it calls ${unsafe}, which a replayed workgroup would apply a second time; ` +
        'drop `idempotent: true` and demand dispatches will run it as a transaction (probe, snapshot, commit), which is exact for any kernel',
    );
  }
  const kernel: Kernel = Object.freeze({
    ready: (pool: KernelPool, options?: ReadyOptions) => readyKernel(kernel, pool, options),
    idempotent,
    label,
    code,
    structWgsl: structs.map((st) => st.wgsl).join(''),
    workgroupSize: Object.freeze([raw[0]!, raw[1]!, raw[2]!] as const),
    usesAtomics: src.words.some((w) => w.startsWith('vm_atomic_') || w.startsWith('vm_ptr_atomic_')),
    workgroupSync: src.workgroupVar || src.words.some((w) => WORKGROUP_SYNC.has(w)),
    resumes: src.words.some((w) => w === 'vm_save_u32' || w === 'vm_resume_u32'),
    directives: src.directives,
    body: src.body,
    ...(res ? { resources: Object.freeze(resources!.map((r) => Object.freeze({ ...r }))) } : {}),
  });
  made.add(kernel);
  return kernel;
}
