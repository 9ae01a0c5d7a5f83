// Compiled kernels, cached per device (WeakMap: a device's pipelines go with
// it) and per link configuration. Compile errors come back as
// KernelCompileError with line numbers in the user's own code.
//
// A kernel has up to three pipeline variants per pool (src/kernel/link.ts):
// declared, the demand transaction (probe and commit passes) and the demand
// replay (idempotent kernels) — the last in three forms: a slice's first pass,
// which keeps no completion record, the sample of a cold slice (each
// workgroup's invocation 0), and the passes after a stall, which keep records. Each is compiled on first use, or ahead, all at
// once, by kernel.ready(pool) (readyKernel below). A dispatch that needs a
// variant being compiled waits for that compile: the cache holds promises.
// Some implementations compile a pipeline only at its first dispatch (lavapipe:
// llvmpipe JIT-compiles then, and that is most of the time), so ready() also
// runs each variant once on a grid of nothing, with stand-in buffers.

import { BINDING, RESUME_STRIDE, UNIFORM_BYTES } from '../abi.ts';
import { DeviceLostError, GpuValidationError, InvalidArgumentError, KernelCompileError } from '../errors.ts';
import { BufferUsage } from '../gpu/constants.ts';
import { MAX_REPLAY_INVOCATIONS } from '../options.ts';
import type { Kernel } from './kernel.ts';
import { link, type LinkConfig, type LinkedSource } from './link.ts';
import { resourceLayout, type KernelResourceLayout } from './resources.ts';

/**
 * A kernel's pipeline variants: `'declared'` for dispatches with declared ranges,
 * `'transaction'` for demand dispatches of a kernel that is not idempotent
 * (probe and commit passes), `'replay'` for demand dispatches of an idempotent one.
 */
export type KernelMode = 'declared' | 'transaction' | 'replay';

/** Options of {@link Kernel.ready}. */
export interface ReadyOptions {
  /**
   * The variants to compile. Default: those this kernel's dispatches use —
   * `'declared'`, and `'replay'` for an idempotent kernel or `'transaction'` for
   * any other. A variant the kernel never uses (`'replay'` for a kernel that is
   * not idempotent, `'transaction'` for one that is) is refused.
   */
  modes?: readonly KernelMode[];
  /**
   * The workgroup counts of the demand dispatches to come, x or [x, y, z]: the
   * replay variant records completion per invocation up to MAX_REPLAY_INVOCATIONS
   * invocations and per workgroup beyond (and always for a kernel that synchronizes
   * a workgroup), and the two are different pipelines. Default: a grid within that limit.
   */
  workgroups?: number | readonly [number, number?, number?];
}

/**
 * What {@link Kernel.ready} takes: a `Pool` from `createPool()`. (These are the
 * members it reads; only a pool made by createPool is accepted.)
 */
export interface KernelPool {
  /** The pool's device. */
  readonly device: GPUDevice;
  /** The pool's page size in bytes. */
  readonly pageSize: number;
  /** The pool's window count. */
  readonly windowCount: number;
  /** The pool's window size in bytes. */
  readonly windowSize: number;
}

/** A pool's side of linking: what the variants depend on (src/api/pool.ts registers each pool's). */
export interface CompileTarget {
  readonly device: GPUDevice;
  readonly pageShift: number;
  readonly windowCount: number;
  readonly windowSize: number;
  /** Declared passes set the accessed/written bitmaps (the pool's `accessCounters` option). */
  readonly accessCounters: boolean;
  /** Throws the pool's typed error when it is destroyed or its device is lost. */
  check(): void;
}

const targets = new WeakMap<object, () => CompileTarget>();

/** Make `pool` acceptable to kernel.ready(): `target` reads its current configuration (windows may be given back, the device replaced). */
export function registerCompileTarget(pool: object, target: () => CompileTarget): void {
  targets.set(pool, target);
}

/** A replay variant's form: a slice's first pass, the sample of a cold slice, or (false) the completing passes. */
export type ReplayForm = 'first' | 'sample' | false;
/** A transaction's variant: the usual one, or the one that runs by rounds (a completion word per invocation). */
export type TransactionForm = 'rounds' | false;

/**
 * The forms a replay dispatch of `kernel` may run: the first pass of a slice,
 * the sample of a cold one (not for a kernel that synchronizes its workgroup),
 * and the completing passes after a stall.
 */
export function replayForms(kernel: Kernel): ReplayForm[] {
  return kernel.workgroupSync ? ['first', false] : ['first', 'sample', false];
}

/** The link configuration of one variant for a pool. */
export function variantConfig(
  t: Omit<CompileTarget, 'device' | 'check'>, mode: KernelMode, replayPerInvocation: boolean, firstPass: ReplayForm | TransactionForm = false,
): LinkConfig {
  const demand = mode !== 'declared';
  const replay = mode === 'replay';
  const first = replay && (firstPass === 'first' || firstPass === 'sample');
  return {
    ...(mode === 'transaction' && firstPass === 'rounds' ? { rounds: true } : {}),
    replay,
    // The first-pass variants keep no completion record, so the two units link the same code.
    replayPerInvocation: replay && !first && replayPerInvocation,
    firstPass: first,
    sample: first && firstPass === 'sample',
    pageShift: t.pageShift,
    windowCount: t.windowCount,
    windowWordShift: Math.log2(t.windowSize) - 2,
    demand,
    // Demand passes record the bitmaps for their protocol; the constant only shapes the declared path.
    accessCounters: !demand && t.accessCounters,
    // What ready() compiles: the u32 path over a flat table (every space of at most 4 GiB); a larger
    // space's dispatch sets these (src/fault/pass.ts compileFor) and compiles its own variant.
    wideAddresses: false,
    pageTableLeafShift: 0,
  };
}

/**
 * Whether a demand dispatch of `total` workgroups can keep a completion word
 * per invocation: its invocations can run apart (no workgroup synchronization)
 * and the words fit (MAX_REPLAY_INVOCATIONS). Replays per invocation, and
 * transactions by rounds (src/fault/demand.ts #runRounds), need it.
 */
export function wordPerInvocation(kernel: Kernel, total: number): boolean {
  const [x, y, z] = kernel.workgroupSize;
  return !kernel.workgroupSync && total * x * y * z * recordStride(kernel) <= MAX_REPLAY_INVOCATIONS;
}

/**
 * Record words per invocation of a replay that keeps a word per invocation: the word, and for a
 * resumable kernel (vm_save_u32) its marker and state (src/kernel/link.ts resumeApplies).
 */
export function recordStride(kernel: Kernel): number {
  return kernel.idempotent && kernel.resumes === true ? RESUME_STRIDE : 1;
}

/**
 * How a demand dispatch of `total` workgroups of an idempotent kernel tracks
 * completion: per invocation when it can (wordPerInvocation), else per workgroup.
 */
export function replayUnit(kernel: Kernel, total: number): 'invocation' | 'workgroup' {
  return kernel.idempotent && wordPerInvocation(kernel, total) ? 'invocation' : 'workgroup';
}

interface Entry {
  readonly pipeline: Promise<GPUComputePipeline>;
  /** Run once on an empty grid (ready()): compiled by implementations that compile at first use. */
  warm?: Promise<void>;
}

interface DeviceCache {
  readonly layouts: Map<number, { bgl: GPUBindGroupLayout; pl: GPUPipelineLayout }>;
  readonly pipelines: Map<string, Entry>;
  /** Stand-in bind groups for the warm-up runs, per window count. */
  readonly standIns: Map<number, GPUBindGroup>;
  /** Set when device.lost resolves. */
  lost?: GPUDeviceLostInfo;
}

const caches = new WeakMap<GPUDevice, DeviceCache>();

function cacheFor(device: GPUDevice): DeviceCache {
  let c = caches.get(device);
  if (!c) {
    const cache: DeviceCache = { layouts: new Map(), pipelines: new Map(), standIns: new Map() };
    // A device without `lost` (a test double) is never lost.
    void device.lost?.then((info) => { cache.lost = info; });
    caches.set(device, cache);
    c = cache;
  }
  return c;
}

/** Bind group layout shared by every kernel on pools with `windowCount` windows. */
export function layoutFor(device: GPUDevice, windowCount: number): { bgl: GPUBindGroupLayout; pl: GPUPipelineLayout } {
  const c = cacheFor(device);
  let l = c.layouts.get(windowCount);
  if (!l) {
    const COMPUTE = 0x4; // GPUShaderStage.COMPUTE
    const entries: GPUBindGroupLayoutEntry[] = [
      { binding: BINDING.uniforms, visibility: COMPUTE, buffer: { type: 'uniform' } },
      { binding: BINDING.pageTable, visibility: COMPUTE, buffer: { type: 'read-only-storage' } },
      { binding: BINDING.record, visibility: COMPUTE, buffer: { type: 'storage' } },
    ];
    for (let w = 0; w < windowCount; w++) entries.push({ binding: BINDING.firstWindow + w, visibility: COMPUTE, buffer: { type: 'storage' } });
    const bgl = device.createBindGroupLayout({ label: `hmm:bgl:${windowCount}w`, entries });
    const pl = device.createPipelineLayout({ label: `hmm:pl:${windowCount}w`, bindGroupLayouts: [bgl] });
    l = { bgl, pl };
    c.layouts.set(windowCount, l);
  }
  return l;
}

/** The pipeline layout of a kernel with resources of its own: the runtime's group 0, the kernel's group 1 (src/kernel/resources.ts). */
function resourcePipelineLayout(device: GPUDevice, windowCount: number, resources: readonly KernelResourceLayout[]): GPUPipelineLayout {
  return device.createPipelineLayout({ label: `hmm:pl:${windowCount}w+resources`, bindGroupLayouts: [layoutFor(device, windowCount).bgl, resourceLayout(device, resources)] });
}

function describe(msgs: readonly GPUCompilationMessage[], src: LinkedSource): string[] {
  return msgs
    .filter((m) => m.type === 'error')
    .map((m) => {
      const userLine = m.lineNum - src.userFirstLine + 1;
      const where = userLine >= 1 && userLine <= src.userLineCount ? `line ${userLine}:${m.linePos}` : `prelude line ${m.lineNum}`;
      return `${where}: ${m.message}`;
    });
}

async function compile(device: GPUDevice, kernel: Kernel, cfg: LinkConfig): Promise<GPUComputePipeline> {
  const src = link(kernel, cfg);
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ label: `hmm:${kernel.label}`, code: src.code });
  // Popped at once, not after an await: compiles run in parallel, and error scopes are one stack per device.
  const scope = device.popErrorScope();
  const info = await module.getCompilationInfo();
  const scopeError = await scope;
  const errors = describe(info.messages, src);
  if (errors.length > 0 || scopeError) {
    throw new KernelCompileError(kernel.label, errors.length ? errors : [scopeError?.message ?? 'unknown error']);
  }
  try {
    return await device.createComputePipelineAsync({
      label: `hmm:${kernel.label}`,
      layout: kernel.resources ? resourcePipelineLayout(device, cfg.windowCount, kernel.resources) : layoutFor(device, cfg.windowCount).pl,
      compute: { module, entryPoint: 'vm_entry' },
    });
  } catch (e) {
    throw new KernelCompileError(kernel.label, [e instanceof Error ? e.message : String(e)]);
  }
}

function entryFor(device: GPUDevice, kernel: Kernel, cfg: LinkConfig): Entry {
  const c = cacheFor(device);
  const key = JSON.stringify([kernel.code, kernel.structWgsl, kernel.workgroupSize, kernel.label, cfg, kernel.resources ?? null]);
  let e = c.pipelines.get(key);
  if (!e) {
    const entry: Entry = { pipeline: compile(device, kernel, cfg) };
    c.pipelines.set(key, entry);
    // A failed compile is not cached: the error is re-raised fresh next time.
    entry.pipeline.catch(() => c.pipelines.delete(key));
    e = entry;
  }
  return e;
}

export function pipelineFor(device: GPUDevice, kernel: Kernel, cfg: LinkConfig): Promise<GPUComputePipeline> {
  return entryFor(device, kernel, cfg).pipeline;
}

/** Bind group of tiny stand-in buffers with the layout of a pool of `windowCount` windows. */
function standInGroup(device: GPUDevice, windowCount: number): GPUBindGroup {
  const c = cacheFor(device);
  let g = c.standIns.get(windowCount);
  if (!g) {
    const buffer = (size: number, usage: number): GPUBuffer => device.createBuffer({ label: 'hmm:ready:stand-in', size, usage });
    // All zero: the uniform grid's end (grid.w) is 0, so every invocation returns at its first line.
    const entries: GPUBindGroupEntry[] = [
      { binding: BINDING.uniforms, resource: { buffer: buffer(UNIFORM_BYTES, BufferUsage.UNIFORM) } },
      { binding: BINDING.pageTable, resource: { buffer: buffer(16, BufferUsage.STORAGE) } },
      { binding: BINDING.record, resource: { buffer: buffer(16, BufferUsage.STORAGE) } },
    ];
    for (let w = 0; w < windowCount; w++) entries.push({ binding: BINDING.firstWindow + w, resource: { buffer: buffer(16, BufferUsage.STORAGE) } });
    g = device.createBindGroup({ label: `hmm:ready:${windowCount}w`, layout: layoutFor(device, windowCount).bgl, entries });
    c.standIns.set(windowCount, g);
  }
  return g;
}

/** Run `pipeline` once on one workgroup whose invocations all return at once. */
async function warmUp(device: GPUDevice, kernel: Kernel, pipeline: GPUComputePipeline, windowCount: number): Promise<void> {
  // A kernel with resources of its own (bind group 1) has no stand-ins to run with: compiled only.
  if (kernel.resources && kernel.resources.length > 0) return;
  device.pushErrorScope('validation');
  const encoder = device.createCommandEncoder({ label: `hmm:ready:${kernel.label}` });
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, standInGroup(device, windowCount));
  pass.dispatchWorkgroups(1);
  pass.end();
  device.queue.submit([encoder.finish()]);
  const scope = device.popErrorScope();
  await device.queue.onSubmittedWorkDone();
  const error = await scope;
  if (error) throw new GpuValidationError(`kernel "${kernel.label}": ready`, error.message);
}

/** Compile one variant and run it once (shared: a second ready() of it, or a dispatch, waits for the same compile). */
function warmed(device: GPUDevice, kernel: Kernel, cfg: LinkConfig): Promise<void> {
  const e = entryFor(device, kernel, cfg);
  if (!e.warm) {
    const warm = e.pipeline.then((p) => warmUp(device, kernel, p, cfg.windowCount));
    e.warm = warm;
    // A failed run is tried again by the next ready().
    warm.catch(() => { if (e.warm === warm) delete e.warm; });
  }
  return e.warm;
}

const MODES: readonly KernelMode[] = ['declared', 'transaction', 'replay'];
const READY_OPTIONS: readonly string[] = ['modes', 'workgroups'] satisfies (keyof ReadyOptions)[];

function readyModes(kernel: Kernel, modes: unknown): KernelMode[] {
  const demandMode: KernelMode = kernel.idempotent ? 'replay' : 'transaction';
  if (modes === undefined) return ['declared', demandMode];
  if (!Array.isArray(modes) || modes.length === 0) {
    throw new InvalidArgumentError(`kernel "${kernel.label}".ready: modes must be a non-empty array of ${MODES.map((m) => `'${m}'`).join(', ')}`);
  }
  const out: KernelMode[] = [];
  for (const m of modes as unknown[]) {
    if (!MODES.includes(m as KernelMode)) {
      throw new InvalidArgumentError(`kernel "${kernel.label}".ready: unknown mode ${JSON.stringify(m)}; the modes are ${MODES.map((x) => `'${x}'`).join(', ')}`);
    }
    if (m !== 'declared' && m !== demandMode) {
      throw new InvalidArgumentError(
        `kernel "${kernel.label}".ready: its demand dispatches never use the '${String(m)}' variant: ` +
          (kernel.idempotent ? `it is idempotent, so they replay: ask for 'replay'` : `it is not idempotent, so they run as a transaction: ask for 'transaction'`),
      );
    }
    if (!out.includes(m as KernelMode)) out.push(m as KernelMode);
  }
  return out;
}

function readyWorkgroups(kernel: Kernel, wg: unknown): number {
  if (wg === undefined) return 0;
  const raw = typeof wg === 'number' ? [wg, 1, 1] : Array.isArray(wg) && wg.length >= 1 && wg.length <= 3 ? [wg[0], wg[1] ?? 1, wg[2] ?? 1] : [];
  if (raw.length !== 3 || raw.some((d) => typeof d !== 'number' || !Number.isInteger(d) || d < 0)) {
    throw new InvalidArgumentError(`kernel "${kernel.label}".ready: workgroups must be a whole number or [x, y?, z?] of them, got ${JSON.stringify(wg)}`);
  }
  return (raw as number[]).reduce((a, b) => a * b, 1);
}

/**
 * kernel.ready(pool, options): compile the variants its dispatches on `pool`
 * will use, all at once, and run each once so that the first dispatch finds it
 * compiled. Bad arguments are refused before anything is compiled.
 */
/**
 * The pool a ready() call names, checked (its compile target); refuses anything
 * else, and options that are not an object, before anything is compiled.
 */
export function readyTarget(kernel: Kernel, pool: unknown, options: ReadyOptions | undefined): () => CompileTarget {
  const what = `kernel "${kernel.label}".ready`;
  const target = typeof pool === 'object' && pool !== null ? targets.get(pool) : undefined;
  if (!target) throw new InvalidArgumentError(`${what}: pass a Pool from createPool(), got ${pool === null ? 'null' : typeof pool}`);
  if (options !== undefined && (options === null || typeof options !== 'object')) throw new InvalidArgumentError(`${what}: options must be { modes?, workgroups? }`);
  for (const k of Object.keys(options ?? {})) {
    if (!READY_OPTIONS.includes(k)) throw new InvalidArgumentError(`${what}: unknown option "${k}"; known options: ${READY_OPTIONS.join(', ')}`);
  }
  return target;
}

/** After a ready() compile: a pool destroyed or a device lost meanwhile is an error, not a success. */
export function readyLostCheck(target: () => CompileTarget, device: GPUDevice): void {
  lostCheck(target, device);
}

export async function readyKernel(kernel: Kernel, pool: unknown, options: ReadyOptions | undefined): Promise<void> {
  const target = readyTarget(kernel, pool, options);
  const modes = readyModes(kernel, options?.modes);
  const total = readyWorkgroups(kernel, options?.workgroups);
  const t = target();
  t.check();
  const perInvocation = replayUnit(kernel, total) === 'invocation';
  const device = t.device;
  try {
    // In parallel: each compile runs on its own (createComputePipelineAsync), and the runs queue behind them.
    // A transaction's variant that runs by rounds too (a sliced dispatch of a kernel whose invocations
    // can run apart takes it): on lavapipe it compiled at a sliced dispatch's first round otherwise,
    // seconds into the dispatch ready() was meant to make quick.
    const forms = (m: KernelMode): (ReplayForm | TransactionForm)[] =>
      m === 'replay' ? replayForms(kernel) : m === 'transaction' && wordPerInvocation(kernel, total) ? [false, 'rounds'] : [false];
    const configs = modes.flatMap((m) => forms(m).map((f) => variantConfig(t, m, perInvocation, f)));
    await Promise.all(configs.map((cfg) => warmed(device, kernel, cfg)));
  } catch (e) {
    lostCheck(target, device);
    throw e;
  }
  // A device lost meanwhile compiles nothing and reports no error: say so.
  lostCheck(target, device);
}

function lostCheck(target: () => CompileTarget, device: GPUDevice): void {
  target().check();
  const lost = caches.get(device)?.lost;
  if (lost) throw new DeviceLostError(lost.reason ?? 'unknown', lost.message);
}
