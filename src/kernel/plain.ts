// Plain kernels: ordinary WGSL compute shaders — their own entry point, their
// own `var<storage> data: array<T>` bindings — run over an address space
// without a line changed (issue 15 item 2, issue 18 item 4a). No prelude is
// linked and nothing is translated: each storage buffer the shader declares is
// bound, at dispatch, to a range of the space (`bind`) that the runtime has
// made resident in consecutive frames of one pool window
// (src/migrate/contiguous.ts), as a sub-range of that window; the kernel reads
// and writes it as a plain array at the speed of a hand-written pipeline.
// Every other binding (uniforms, textures, samplers, buffers of the user's
// own) is a `resources` entry.
//
// Isolation holds by construction: a plain kernel has no binding the runtime
// did not supply, a bound range covers only the space's own pages (WebGPU
// keeps every access, in bounds or not, inside the bound sub-range), and a
// buffer of the runtime's (windows, page tables, records: src/gpu/runtime-buffers.ts)
// is refused as a resource. The source rules of prelude kernels
// (src/kernel/source-rules.ts) are about the prelude's names and bindings in
// one module; a plain module has neither.
//
// The pipeline layout is WebGPU's 'auto' one (the shader's own declarations),
// so the kernel's group and binding numbers are its own; what the runtime needs
// from the source — which (group, binding) pairs are storage buffers and
// whether they are written — is read from its tokens here, so the dirty
// tracking of bound ranges follows what the shader may write, not what the
// caller says.

import { InvalidArgumentError, KernelCompileError } from '../errors.ts';
import { markKernel, type Kernel } from './kernel.ts';
import { readyLostCheck, readyTarget, type KernelPool, type ReadyOptions } from './pipelines.ts';
import { scanWgsl } from './wgsl-tokens.ts';

/** A binding a plain kernel's source declares. */
export interface DeclaredBinding {
  /** Its `@group(g)`. */
  readonly group: number;
  /** Its `@binding(b)`. */
  readonly binding: number;
  /** The variable's name (for messages). */
  readonly name: string;
  /** 'storage' buffers are bound to ranges of the space (`bind`); the others come from `resources`. */
  readonly kind: 'storage' | 'uniform' | 'other';
  /** Storage buffers: read_write (written ranges become device-dirty) or read. */
  readonly write: boolean;
  /** 1-based line of the declaration in the module. */
  readonly line: number;
}

/** What makes a Kernel plain (src/kernel/kernel.ts `Kernel.plain`). */
export interface PlainInfo {
  /** The `@compute` function the pipeline runs. */
  readonly entryPoint: string;
  /** Every binding the module declares, in source order. */
  readonly bindings: readonly DeclaredBinding[];
}

/** createPlainKernel's argument. */
export interface PlainKernelDescriptor {
  /** A complete WGSL module with a `@compute` entry point, as it would be given to `device.createShaderModule`. */
  code: string;
  /** The entry point's name. Default: the module's only `@compute` function. */
  entryPoint?: string;
  /** Name used in errors, traces and GPU object labels. */
  label?: string;
}

/** Reads `@group(g) @binding(b) var<space, access> name` declarations at module scope. */
export function declaredBindings(code: string): {
  bindings: DeclaredBinding[]; computeEntries: string[]; problems: string[]; workgroupSizes: Map<string, [number, number, number]>;
} {
  const scan = scanWgsl(code);
  const problems: string[] = scan.error ? [scan.error] : [];
  const tokens = scan.tokens;
  const bindings: DeclaredBinding[] = [];
  const computeEntries: string[] = [];
  const workgroupSizes = new Map<string, [number, number, number]>();
  let size: [number, number, number] | undefined;
  let depth = 0;
  let group: number | undefined;
  let binding: number | undefined;
  let compute = false;
  const literal = (i: number): number | undefined => {
    if (tokens[i]?.text !== '(' || tokens[i + 2]?.text !== ')') return undefined;
    const m = /^(\d+)[ui]?$/.exec(tokens[i + 1]?.text ?? '');
    return m ? Number(m[1]) : undefined;
  };
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind === 'punct') {
      if (t.text === '{') depth++;
      else if (t.text === '}') depth = Math.max(0, depth - 1);
      else if (t.text === '@' && depth === 0) {
        const name = tokens[i + 1]?.text;
        if (name === 'group' || name === 'binding') {
          const v = literal(i + 2);
          if (v === undefined) problems.push(`line ${t.line}: write @${name}(…) with a number literal: the runtime reads it to bind the range`);
          else if (name === 'group') group = v;
          else binding = v;
        }
        if (name === 'compute') compute = true;
        if (name === 'workgroup_size' && tokens[i + 2]?.text === '(') {
          // Literal sizes only (an override or const expression is left to the compiler).
          const dims: number[] = [];
          let j = i + 3;
          for (; j < tokens.length && tokens[j]!.text !== ')'; j++) {
            const m = /^(\d+)[ui]?$/.exec(tokens[j]!.text);
            if (m) dims.push(Number(m[1]));
            else if (tokens[j]!.text !== ',') break;
          }
          size = tokens[j]?.text === ')' && dims.length >= 1 && dims.length <= 3 ? [dims[0]!, dims[1] ?? 1, dims[2] ?? 1] : undefined;
        }
      }
      continue;
    }
    if (depth !== 0) continue;
    if (t.text === 'fn') {
      if (compute && tokens[i + 1]?.kind === 'word') {
        computeEntries.push(tokens[i + 1]!.text);
        if (size) workgroupSizes.set(tokens[i + 1]!.text, size);
      }
      compute = false;
      size = undefined;
      group = binding = undefined;
    } else if (t.text === 'var' && group !== undefined && binding !== undefined) {
      let j = i + 1;
      let space = '';
      let access = '';
      if (tokens[j]?.text === '<') {
        const words: string[] = [];
        for (j++; j < tokens.length && tokens[j]!.text !== '>'; j++) if (tokens[j]!.kind === 'word') words.push(tokens[j]!.text);
        j++;
        space = words[0] ?? '';
        access = words[1] ?? '';
      }
      const name = tokens[j]?.text ?? '';
      const kind = space === 'storage' ? 'storage' : space === 'uniform' ? 'uniform' : 'other';
      bindings.push({ group, binding, name, kind, write: kind === 'storage' && access === 'read_write', line: t.line });
      group = binding = undefined;
    } else if (t.text === 'const' || t.text === 'struct' || t.text === 'alias' || t.text === 'override') {
      group = binding = undefined;
    }
  }
  return { bindings, computeEntries, problems, workgroupSizes };
}

/**
 * A kernel from a complete WGSL compute module, run through `bind` ranges
 * without translation (see the guide, "Plain kernels and bound ranges").
 *
 * @example
 * ```ts
 * const add = createPlainKernel({ code: `
 *   @group(0) @binding(0) var<storage, read> a: array<f32>;
 *   @group(0) @binding(1) var<storage, read_write> b: array<f32>;
 *   @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
 *     if (id.x < arrayLength(&b)) { b[id.x] += a[id.x]; }
 *   }` });
 * await space.dispatch(add, { workgroups: n / 64, bind: [
 *   { binding: 0, addr: aAddr, byteLength: n * 4 },
 *   { binding: 1, addr: bAddr, byteLength: n * 4 },
 * ] });
 * ```
 */
export function createPlainKernel(desc: PlainKernelDescriptor): Kernel {
  const code: unknown = desc?.code;
  if (desc === null || typeof desc !== 'object' || typeof code !== 'string') {
    throw new InvalidArgumentError('createPlainKernel: pass { code: string, entryPoint?, label? }');
  }
  const label = desc.label ?? 'plain-kernel';
  if (typeof label !== 'string') throw new InvalidArgumentError(`createPlainKernel: label must be a string, got ${typeof label}`);
  const { bindings, computeEntries, problems, workgroupSizes } = declaredBindings(code);
  let entryPoint = desc.entryPoint;
  if (entryPoint !== undefined && typeof entryPoint !== 'string') throw new InvalidArgumentError(`kernel "${label}": entryPoint must be a string`);
  if (entryPoint === undefined) {
    if (computeEntries.length !== 1) {
      problems.push(computeEntries.length === 0
        ? 'no @compute entry point: a plain kernel is a complete compute module'
        : `${computeEntries.length} @compute entry points (${computeEntries.join(', ')}): pass entryPoint to say which`);
    }
    entryPoint = computeEntries[0] ?? '';
  } else if (!computeEntries.includes(entryPoint)) {
    problems.push(`no @compute function named "${entryPoint}"${computeEntries.length ? `; the module has ${computeEntries.join(', ')}` : ''}`);
  }
  const seen = new Set<string>();
  for (const b of bindings) {
    const key = `${b.group}:${b.binding}`;
    if (seen.has(key)) problems.push(`line ${b.line}: @group(${b.group}) @binding(${b.binding}) is declared twice`);
    seen.add(key);
  }
  if (problems.length > 0) throw new KernelCompileError(label, problems);
  const plain: PlainInfo = Object.freeze({ entryPoint, bindings: Object.freeze(bindings) });
  const kernel: Kernel = Object.freeze({
    label, code, plain,
    // The module's own @workgroup_size when it is written with number literals, else [1, 1, 1]
    // (an override or const expression); the compiler checks it against the device either way.
    workgroupSize: Object.freeze(workgroupSizes.get(entryPoint) ?? [1, 1, 1]) as readonly [number, number, number],
    usesAtomics: false, structWgsl: '', idempotent: false, workgroupSync: false, directives: '', body: code,
    ready: (pool: KernelPool, options?: ReadyOptions) => readyPlain(kernel, pool, options),
  });
  markKernel(kernel);
  return kernel;
}

const pipelines = new WeakMap<GPUDevice, WeakMap<Kernel, Promise<GPUComputePipeline>>>();

/** The plain kernel's pipeline on `device` (its 'auto' layout), compiled once per device. */
export function plainPipelineFor(device: GPUDevice, kernel: Kernel): Promise<GPUComputePipeline> {
  let byKernel = pipelines.get(device);
  if (!byKernel) pipelines.set(device, (byKernel = new WeakMap()));
  let p = byKernel.get(kernel);
  if (!p) {
    p = compilePlain(device, kernel);
    byKernel.set(kernel, p);
    p.catch(() => byKernel.delete(kernel));
  }
  return p;
}

async function compilePlain(device: GPUDevice, kernel: Kernel): Promise<GPUComputePipeline> {
  const info = kernel.plain!;
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ label: `hmm:${kernel.label}`, code: kernel.code });
  const messages = (await module.getCompilationInfo()).messages.filter((m) => m.type === 'error').map((m) => `line ${m.lineNum}:${m.linePos}: ${m.message}`);
  const scopeError = await device.popErrorScope();
  if (messages.length > 0 || scopeError) throw new KernelCompileError(kernel.label, messages.length ? messages : [scopeError?.message ?? 'unknown error']);
  try {
    return await device.createComputePipelineAsync({ label: `hmm:${kernel.label}`, layout: 'auto', compute: { module, entryPoint: info.entryPoint } });
  } catch (e) {
    throw new KernelCompileError(kernel.label, [e instanceof Error ? e.message : String(e)]);
  }
}

/**
 * kernel.ready(pool) for a plain kernel: its one pipeline (it has no demand
 * variants; `modes` may name only 'declared'), compiled ahead. Not run once:
 * a plain kernel's bindings are its own, so there is no empty dispatch to make.
 */
async function readyPlain(kernel: Kernel, pool: unknown, options: ReadyOptions | undefined): Promise<void> {
  const target = readyTarget(kernel, pool, options);
  const modes: unknown = options?.modes;
  if (modes !== undefined && !(Array.isArray(modes) && modes.length > 0 && modes.every((m) => m === 'declared'))) {
    throw new InvalidArgumentError(`kernel "${kernel.label}".ready: a plain kernel has one pipeline and no demand variants: leave modes out or pass ['declared']`);
  }
  const t = target();
  t.check();
  try {
    await plainPipelineFor(t.device, kernel);
  } finally {
    readyLostCheck(target, t.device);
  }
}
