// Kernels: user WGSL that addresses the virtual space through the prelude.
// A kernel is a description (code, workgroup size); it is linked and compiled
// per device and pool configuration on first use (src/kernel/pipelines.ts).
//
// The user writes `fn kernel(inv: VmInvocation) { … }` and calls the prelude
// (vm_load_u32, vm_store_f32, vm_atomic_add_u32, vm_arg_u32, …); the runtime
// owns the entry point, the bindings and the workgroup size attribute.

import { InvalidArgumentError, KernelCompileError, ReplayUnsafeError } from '../errors.ts';

export interface KernelDescriptor {
  /** WGSL defining `fn kernel(inv: VmInvocation)`; may define other functions, structs, consts, workgroup vars. */
  code: string;
  /** Threads per workgroup: x or [x, y, z]. Default 64. */
  workgroupSize?: number | readonly [number, number?, number?];
  /** Name used in errors, traces and GPU object labels. */
  label?: string;
  /** Struct layouts from defineStruct() whose WGSL accessors the kernel uses. */
  structs?: readonly { readonly name: string; readonly wgsl: string }[];
  /**
   * The kernel gives the same result when any of its workgroups runs again
   * (it never reads what it writes, and uses no add/sub/xor/exchange atomics).
   * Demand-paged dispatches of such a kernel replay only the workgroups that
   * faulted, instead of running probe and commit passes. Default false.
   */
  idempotent?: boolean;
}

export interface Kernel {
  readonly label: string;
  readonly code: string;
  readonly workgroupSize: readonly [number, number, number];
  /** True when the code calls vm_atomic_*: its windows are bound as atomic<u32>. */
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
}

const ENTRY_RE = /\bfn\s+kernel\s*\(/;
const WORKGROUP_SYNC_RE = /\b(workgroupBarrier|storageBarrier|textureBarrier|workgroupUniformLoad)\b|\bvar\s*<\s*workgroup\s*>/;
const RESERVED_RE = /\b(vm_entry|vm_w\d+|vm_u|vm_pt|vm_log|vm_gid|vm_stalled|vm_wg_\w+)\b/;
/** Atomics whose second application changes the result: a replayed workgroup would apply them twice. */
const NON_IDEMPOTENT_RE = /\bvm_atomic_(add|sub|xor|exchange|compare_exchange)_(u32|i32)\b/;

/** Kernels made by createKernel(): dispatch and compile refuse anything else before touching it. */
const made = new WeakSet<object>();

/** Throws InvalidArgumentError unless `kernel` came from createKernel() (a look-alike object would fail deep inside linking). */
export function checkKernel(kernel: unknown, what: string): asserts kernel is Kernel {
  if (typeof kernel !== 'object' || kernel === null || !made.has(kernel)) {
    throw new InvalidArgumentError(`${what}: pass a Kernel from createKernel({ code, workgroupSize?, label? }), got ${kernel === null ? 'null' : typeof kernel}`);
  }
}

export function createKernel(desc: KernelDescriptor): Kernel {
  if (desc === null || typeof desc !== 'object' || typeof desc.code !== 'string') {
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
  if (!ENTRY_RE.test(desc.code)) {
    throw new KernelCompileError(label, ['no entry function: define `fn kernel(inv: VmInvocation) { … }`']);
  }
  const reserved = RESERVED_RE.exec(desc.code);
  if (reserved) {
    throw new KernelCompileError(label, [`"${reserved[1]}" is reserved by the prelude; use another name or the vm_load_*/vm_store_* functions`]);
  }
  const structs = desc.structs ?? [];
  const names = new Set<string>();
  for (const st of structs) {
    if (!st || typeof st.wgsl !== 'string' || typeof st.name !== 'string') {
      throw new InvalidArgumentError(`kernel "${label}": structs must be layouts from defineStruct()`);
    }
    if (names.has(st.name)) throw new InvalidArgumentError(`kernel "${label}": struct ${st.name} is listed twice`);
    names.add(st.name);
  }
  const idempotent = desc.idempotent ?? false;
  if (typeof idempotent !== 'boolean') throw new InvalidArgumentError(`kernel "${label}": idempotent must be true or false`);
  const unsafe = idempotent ? NON_IDEMPOTENT_RE.exec(desc.code) : null;
  if (unsafe) {
    throw new ReplayUnsafeError(
      label,
      `it calls ${unsafe[0]}, which a replayed workgroup would apply a second time; ` +
        'drop `idempotent: true` and demand dispatches will run it as a transaction (probe, snapshot, commit), which is exact for any kernel',
    );
  }
  const kernel: Kernel = Object.freeze({
    idempotent,
    label,
    code: desc.code,
    structWgsl: structs.map((st) => st.wgsl).join(''),
    workgroupSize: Object.freeze([raw[0]!, raw[1]!, raw[2]!] as const),
    usesAtomics: /\bvm_atomic_/.test(desc.code),
    workgroupSync: WORKGROUP_SYNC_RE.test(desc.code),
  });
  made.add(kernel);
  return kernel;
}
