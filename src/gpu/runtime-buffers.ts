// The GPU buffers the runtime owns and never lends to a kernel as a resource of
// its own: the pool's windows, the device page tables, the pass records. A
// plain kernel (src/kernel/plain.ts) reaches the pool only through the ranges
// the runtime binds for it; a buffer the user passes in `resources` is checked
// here, so that interop handles (space.interop(): the windows and the page
// table, for users who build their own passes) cannot be handed back to a
// dispatch to reach another space's frames behind the runtime's back.

const owned = new WeakSet<GPUBuffer>();

/** `buffer` belongs to the runtime: never a kernel's resource. */
export function markRuntimeBuffer<B extends GPUBuffer>(buffer: B): B {
  owned.add(buffer);
  return buffer;
}

export function isRuntimeBuffer(buffer: unknown): boolean {
  return typeof buffer === 'object' && buffer !== null && owned.has(buffer as GPUBuffer);
}
