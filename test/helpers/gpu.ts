// testWithDevice: each Dawn test gets a fresh device (a new adapter: one
// adapter gives one device), runs inside validation and out-of-memory error
// scopes, and fails if WebGPU reported an error nobody expected. Everything the
// test created through `track` is destroyed afterwards, and the device too.

import { test, expect } from 'vitest';
import { requestNodeDevice, type NodeDevice } from '../../src/node.ts';

export interface DeviceContext {
  readonly device: GPUDevice;
  readonly node: NodeDevice;
  /** Register something with destroy() to be destroyed after the test. */
  track<T extends { destroy(): void }>(thing: T): T;
}

export function testWithDevice(name: string, fn: (ctx: DeviceContext) => Promise<void>, timeout?: number): void {
  test(name, () => runWithDevice(fn), timeout);
}

/** testWithDevice, skipped: for a test written before what it needs has landed (say why beside it). */
testWithDevice.skip = (name: string, fn: (ctx: DeviceContext) => Promise<void>, timeout?: number): void => {
  test.skip(name, () => runWithDevice(fn), timeout);
};

async function runWithDevice(fn: (ctx: DeviceContext) => Promise<void>): Promise<void> {
  {
    const node = await requestNodeDevice();
    const device = node.device;
    const made: { destroy(): void }[] = [];
    const uncaptured: string[] = [];
    device.addEventListener('uncapturederror', (ev) => uncaptured.push((ev as GPUUncapturedErrorEvent).error.message));
    device.pushErrorScope('validation');
    device.pushErrorScope('out-of-memory');
    try {
      await fn({ device, node, track: (t) => (made.push(t), t) });
    } finally {
      const oom = await device.popErrorScope();
      const validation = await device.popErrorScope();
      for (const t of made.reverse()) t.destroy();
      node.destroy();
      expect(oom?.message ?? null, 'out-of-memory error').toBeNull();
      expect(validation?.message ?? null, 'validation error').toBeNull();
      expect(uncaptured, 'uncaptured WebGPU errors').toEqual([]);
    }
  }
}

export const MiB = 1024 * 1024;
export const KiB = 1024;
