// Counting GPU buffers for leak checks (test/soak/): no vitest here, so
// scripts (npm run soak) can use it too.

export interface BufferCounter {
  /** Buffers made since the counter was installed and not destroyed yet. */
  readonly live: number;
  readonly liveBytes: number;
  readonly created: number;
  /** Live buffers by label with the [index] dropped, for naming a leak. */
  byLabel(): Record<string, number>;
  /** Put device.createBuffer back. */
  restore(): void;
}

/**
 * Count the GPU buffers `device` makes from now on, by wrapping createBuffer
 * and each buffer's destroy (a second destroy counts once). Buffers made
 * before this call are not counted.
 */
export function countBuffers(device: GPUDevice): BufferCounter {
  const original = device.createBuffer;
  const live = new Map<GPUBuffer, { size: number; label: string }>();
  let created = 0;
  device.createBuffer = function (this: GPUDevice, desc: GPUBufferDescriptor): GPUBuffer {
    const buffer = original.call(this, desc);
    created++;
    live.set(buffer, { size: desc.size, label: (desc.label ?? '').replace(/\[\d+\]/g, '[]') });
    const destroy = buffer.destroy.bind(buffer);
    buffer.destroy = () => {
      live.delete(buffer);
      destroy();
    };
    return buffer;
  };
  return {
    get live() { return live.size; },
    get liveBytes() { let n = 0; for (const b of live.values()) n += b.size; return n; },
    get created() { return created; },
    byLabel() {
      const out: Record<string, number> = {};
      for (const b of live.values()) out[b.label] = (out[b.label] ?? 0) + 1;
      return out;
    },
    restore() { device.createBuffer = original; },
  };
}
