// createPool: where the layers meet. The device pool (src/device/pool.ts)
// knows frames, windows and buffers; what it must ask of the layers above it
// asks through the hooks given here — give its last window back when the
// device is out of memory (migrate/shrink.ts), move to a new device after a
// loss (migrate/recover.ts), check its members' page tables. The pressure
// monitor (trace/pressure.ts) is attached here too: it observes the pool's
// event stream and emits what it finds on it.

import { assert } from '../assert.ts';
import { InvalidArgumentError } from '../errors.ts';
import type { FrameTable } from '../device/frames.ts';
import { PoolImpl, type Pool, type PoolHooks } from '../device/pool.ts';
import { createWindows } from '../device/windows.ts';
import { recoverPool } from '../migrate/recover.ts';
import { shrinkLastWindow } from '../migrate/shrink.ts';
import { RUNTIME_STORAGE_BINDINGS } from '../abi.ts';
import { resolvePoolOptions, type PoolOptions } from '../options.ts';
import type { SpaceCore } from '../space/state.ts';
import { createPressureMonitor } from '../trace/pressure.ts';
import { registerCompileTarget } from '../kernel/pipelines.ts';

const HOOKS: PoolHooks<SpaceCore> = {
  shrink: shrinkLastWindow,
  recover: recoverPool,
  checkMember: (s) => s.table.checkInvariants(),
};

/**
 * Create a pool on `device`. Windows are created inside an out-of-memory error
 * scope; if the device cannot give the whole capacity, the pool shrinks by
 * windows and goes on with what it got (`pool.capacity` says how much).
 * Throws InvalidArgumentError for a bad option or a `device` that is not a GPUDevice,
 * BadPageSizeError for a bad `pageSize`, PoolConfigError for options that do not fit
 * the device's limits.
 *
 * @example
 * ```ts
 * const pool = await createPool(device, { capacity: 64 << 20, pageSize: 64 << 10 });
 * pool.on((e) => { if (e.type === 'eviction') console.log(e.space, e.pages); });
 * ```
 */
export async function createPool(device: GPUDevice, options: PoolOptions = {}): Promise<Pool> {
  if (!device || typeof device.createBuffer !== 'function') {
    throw new InvalidArgumentError('createPool: pass a GPUDevice (in Node, from requestNodeDevice() in webgpu-hmm/node)');
  }
  const wanted = resolvePoolOptions(options, device.limits);
  const { buffers, options: resolved } = await createWindows(device, wanted, 'createPool');
  assert(device.limits.maxStorageBuffersPerShaderStage >= resolved.windowCount + RUNTIME_STORAGE_BINDINGS, 'window count over the binding limit');
  const pool = new PoolImpl<SpaceCore>(device, resolved, buffers, HOOKS, { ...options }, wanted.capacity);
  watchPressure(pool);
  // kernel.ready(pool) compiles for the pool as it is at the call (windows may be given back, the device replaced).
  registerCompileTarget(pool, () => ({
    device: pool.device,
    pageShift: pool.options.pageShift,
    windowCount: pool.windowCount,
    windowSize: pool.windowSize,
    accessCounters: pool.options.accessCounters,
    check: () => pool.check(),
  }));
  return pool;
}

/** Attach the pressure monitor to the pool's event stream (it hears events only while someone listens). */
function watchPressure(pool: PoolImpl<SpaceCore>): void {
  const pr = pool.options.pressure;
  const frames = (): FrameTable => pool.frames; // replaced by an out-of-memory shrink or recover()
  const monitor = createPressureMonitor(
    { highWater: pr.highWater, lowWater: pr.lowWater, stormPages: pr.stormPages ?? pool.frameCount, stormWindowMs: pr.stormWindowMs },
    {
      pageSize: pool.pageSize,
      get capacityFrames() { return frames().frameCount; },
      usedFrames: () => frames().frameCount - frames().freeCount,
      groups: () => pool.groups.pressureGroups(),
      // Read while the eviction's event is heard (synchronously inside it): the group whose max made it.
      evictionLimit: () => pool.groups.evictionLimit(),
    },
  );
  pool.events.observe((e) => {
    for (const p of monitor.hear(e)) pool.events.emit(p);
  });
}
