// webgpu-hmm: a userspace, HMM-style virtual memory runtime on WebGPU.
// The public API, re-exported explicitly. Browser-neutral: it takes a
// GPUDevice and never touches `navigator.gpu`. Internal modules never import
// this file. The doc comment below is the API reference's page for this
// entry (TypeDoc: `npm run docs`).

// Pools, spaces, ledgers and trace recorders have [Symbol.dispose] (`using`):
// the declarations need the disposable lib's symbols, which a consumer whose
// lib stops at ES2022 or ES2023 does not have.
/// <reference lib="esnext.disposable" preserve="true" />

/**
 * One virtual address space for JavaScript and WGSL compute shaders, backed by
 * host memory, with pages migrated on demand to a GPU pool and back.
 *
 * Browser-neutral: pass any `GPUDevice` (in a page, from `navigator.gpu`; in
 * Node, from `requestNodeDevice()` in `webgpu-hmm/node`). Start with
 * {@link createPool}, {@link createSpace} and {@link createKernel}; the guide
 * (docs/guide.md) explains the model, and every error is an {@link HmmError}
 * whose `code` names the case and whose message names the fix.
 *
 * @module webgpu-hmm
 */

export { createPool } from './api/pool.ts';
export type { Pool, PoolStats, PoolBudget } from './device/pool.ts';
export { createGroup, type MemoryGroup, type GroupOptions, type GroupUsage, type GroupBudget, type EvictionCause } from './device/groups.ts';
export type { RecoveryReport } from './device/loss.ts';
export {
  createSpace, type AddressSpace, type SpaceOptions, type Residency, type ViewMode, type PrefetchOptions, type ReadOptions,
} from './api/address-space.ts';
export type { PoolEventMap, SpaceEventMap, TypedEventTarget, TypedListener, PlatformListener, ListenerOptions } from './event-target.ts';
export type { PrefetchResult } from './migrate/prefetch.ts';
export type { Advice, AdviceState, PreferredLocation, AccessedBy } from './policy/advice.ts';
export { createKernel, type Kernel, type KernelDescriptor } from './kernel/kernel.ts';
export type { KernelMode, KernelPool, ReadyOptions } from './kernel/pipelines.ts';
export { createPlainKernel, type PlainKernelDescriptor, type PlainInfo, type DeclaredBinding } from './kernel/plain.ts';
export { RESOURCE_GROUP, type KernelResourceLayout } from './kernel/resources.ts';
export type { BoundRange, KernelResource } from './fault/bound.ts';
export { INTEROP_BINDING, type SpaceInterop } from './fault/interop.ts';
export {
  defineStruct, array, structsOf, alignOf, sizeOf, type StructLayout, type StructOptions, type StructRecord, type StructInput, type StructView, type ViewValue, type Vec,
  type FieldType, type Field, type FieldValue, type FieldInput, type FieldSpec, type FieldSpecs, type FieldAttributes,
  type ArrayType, type TypeName, type ScalarTypeName, type VectorTypeName, type MatrixTypeName,
} from './layout/struct.ts';
export { ptrWords, ptrFromWords } from './layout/ptr.ts';
export {
  fromTypeGpu, toTypeGpu, UnsupportedSchemaError, type TypeGpuData, type TypeGpuSchema, type TypeGpuStruct, type FromTypeGpu, type FieldsFromTypeGpu, type Scalarish,
} from './layout/typegpu.ts';
export type { DemandStats, DispatchOptions, DispatchResult, Range } from './fault/dispatch-types.ts';
export type { IntervalSubscription, InvalidationEvent, InvalidateCallback } from './notify/notifier.ts';
export type { PageStateName } from './space/page-table.ts';
export type {
  HmmEvent, HmmEventListener, MigrationCause, HostOp, MigrationEvent, EvictionEvent, InvalidatedEvent, FaultBatchEvent,
  PassEvent, DispatchEvent, HostEvent, ViolationEvent, UnexpectedFaultEvent, BypassEvent, ThrashingEvent, PressureEvent, PressureKind,
} from './events.ts';
export { recordTrace, type TraceRecorder, type TraceOptions, type ChromeTrace, type TraceEvent } from './trace/chrome-trace.ts';
export { createLedger } from './api/ledger.ts';
export type { Ledger, LedgerEntry, ByCause } from './trace/ledger.ts';
export type { PoolOptions, PressureOptions, DensityPrefetchOptions, ThrashingOptions } from './options.ts';
export {
  DEFAULT_PAGE_SIZE, MIN_PAGE_SIZE, MAX_PAGE_SIZE, MAX_SPACE_SIZE, MAX_NARROW_SPACE_SIZE,
  DEFAULT_PREFETCH_THRESHOLD, DEFAULT_PREFETCH_BLOCK, DEFAULT_THRASH_THRESHOLD, DEFAULT_THRASH_LAPSE_MS, DEFAULT_THRASH_PIN_MS,
} from './options.ts';
export {
  HmmError, InvalidArgumentError, OutOfRangeError, BadPageSizeError, OutOfVirtualMemoryError,
  DoubleFreeError, UnknownAllocationError, PinLimitError, GroupPinLimitError, NotPinnedError, WorkingSetTooLargeError,
  PoolConfigError, PoolMismatchError, AccessViolationError, KernelCompileError, BindRangeError, GpuValidationError,
  GpuOutOfMemoryError, DeviceLostError, DestroyedError, NoAdapterError, ReplayUnsafeError, HostBypassError, UnexpectedFaultError,
  FileOpenError, FileTooShortError, DiskFullError, ReadOnlySpaceError,
  type HmmErrorCode, type ByteRange, type Violation, type ViolationKind, type LostRange,
} from './errors.ts';
