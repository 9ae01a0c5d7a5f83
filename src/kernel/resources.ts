// A prelude kernel's own resources (issue 18 item 8): uniforms, textures,
// samplers and buffers of the user's, in a bind group of their own —
// RESOURCE_GROUP — that the runtime never shares with the pool's windows
// (group 0 is the runtime's: its uniforms, page table, record and windows).
//
// The kernel lists them in createKernel's `resources`, in WebGPU's own words
// (a GPUBindGroupLayoutEntry without `visibility`), and declares each in its
// code as `@group(1) @binding(n) var…`. The source rules
// (src/kernel/source-rules.ts) still refuse every other binding: a
// `@group`/`@binding` attribute or a uniform/storage/handle variable is
// allowed only on a declaration this file accepts — group 1, a listed
// binding. What the dispatch binds there is checked at the call
// (src/fault/pass.ts): each listed binding gets a resource, and none is a
// buffer of the runtime's (src/gpu/runtime-buffers.ts), so nothing reaches a
// pool window except through the prelude's checked translation.

import { declaredBindings } from './plain.ts';
import { scanWgsl } from './wgsl-tokens.ts';

/** The bind group of a prelude kernel's own resources. */
export const RESOURCE_GROUP = 1;

/** One of a kernel's own resources, as WebGPU lays it out (`visibility` is compute, added by the runtime). */
export type KernelResourceLayout = Omit<GPUBindGroupLayoutEntry, 'visibility'>;

/** Checks a kernel's resource declarations against its `resources` list. */
export function checkResources(code: string, resources: readonly KernelResourceLayout[]): { problems: string[]; names: ReadonlySet<string> } {
  const listed = new Set(resources.map((r) => r.binding));
  const { bindings, problems } = declaredBindings(code);
  const names = new Set<string>();
  for (const b of bindings) {
    if (b.group !== RESOURCE_GROUP) {
      problems.push(`line ${b.line}: ${b.name} is bound in @group(${b.group}); a kernel's own resources go in @group(${RESOURCE_GROUP}) (group 0 is the runtime's)`);
    } else if (!listed.has(b.binding)) {
      problems.push(`line ${b.line}: @group(${RESOURCE_GROUP}) @binding(${b.binding}) ${b.name} is not in createKernel's resources; list it there with its layout`);
    } else {
      names.add(b.name);
    }
  }
  // Every @group/@binding attribute must belong to one of those declarations (none on anything else).
  const { tokens } = scanWgsl(code);
  let attrs = 0;
  tokens.forEach((t, i) => {
    if (t.text === '@' && (tokens[i + 1]?.text === 'group' || tokens[i + 1]?.text === 'binding')) attrs++;
  });
  if (attrs !== 2 * bindings.length) problems.push('@group and @binding may stand only on module-scope resource declarations, one of each per declaration');
  const seen = new Set<number>();
  for (const r of resources) {
    if (typeof r?.binding !== 'number' || !Number.isInteger(r.binding) || r.binding < 0) problems.push(`resources: binding must be a whole number ≥ 0, got ${String(r?.binding)}`);
    else if (seen.has(r.binding)) problems.push(`resources: binding ${r.binding} is listed twice`);
    seen.add(r.binding);
  }
  return { problems, names };
}

const layouts = new WeakMap<GPUDevice, Map<string, GPUBindGroupLayout>>();

/** The kernel's resource bind group layout on `device` (cached by its entries). */
export function resourceLayout(device: GPUDevice, resources: readonly KernelResourceLayout[]): GPUBindGroupLayout {
  let byKey = layouts.get(device);
  if (!byKey) layouts.set(device, (byKey = new Map()));
  const key = JSON.stringify(resources);
  let l = byKey.get(key);
  if (!l) {
    const COMPUTE = 0x4; // GPUShaderStage.COMPUTE
    l = device.createBindGroupLayout({ label: 'hmm:kernel-resources', entries: resources.map((r) => ({ ...r, visibility: COMPUTE })) });
    byKey.set(key, l);
  }
  return l;
}
