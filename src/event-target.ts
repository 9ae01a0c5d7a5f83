// The event stream as the platform delivers events: pools and spaces are
// EventTargets, so page code listens with addEventListener('migration', …) as
// it does on any element or GPUDevice. Each event is a CustomEvent whose
// `type` is the record's type and whose `detail` is the record itself — the
// same object pool.on(listener) hears (src/events.ts).
//
// Cost. The bus builds no record while nobody listens (EventBus.active). A
// target joins the bus only while it has a listener of its own: it counts its
// registrations, and leaves the bus when the last one goes — removed, fired
// with `once`, or its `signal` aborted. So that the count is exact, every
// listener is registered with the platform's EventTarget through a wrapper of
// its own, one per (type, listener, capture) as the platform keys them; the
// platform then does the rest (order, stopImmediatePropagation, currentTarget,
// a throwing listener reported the platform's way, never to the runtime).

import type { HmmEvent, PressureEvent } from './events.ts';

/** What a pool's EventTarget dispatches: one CustomEvent type per record type, `detail` the record. */
export type PoolEventMap = {
  /** The event of each record type: a CustomEvent whose `detail` is the record. */
  [K in HmmEvent['type']]: CustomEvent<Extract<HmmEvent, {
    /** The record type the event is named after. */
    type: K;
  }>>;
};

/** What a space's EventTarget dispatches: its own space's records (pressure is the pool's: listen on the pool). */
export type SpaceEventMap = Omit<PoolEventMap, PressureEvent['type']>;

/** A listener of one event type of a map: a function, or an object with handleEvent. */
export type TypedListener<E> = ((event: E) => void) | {
  /** Called with each event, `this` being the listener object. */
  handleEvent(event: E): void;
};

/**
 * The platform's listener and options types, spelt out: the DOM lib names them
 * EventListenerOrEventListenerObject and AddEventListenerOptions, and Node's
 * types keep theirs module-local, so declarations that must compile with
 * either (and without the DOM) cannot name them.
 */
export type PlatformListener = ((event: Event) => void) | {
  /** Called with each event, `this` being the listener object. */
  handleEvent(event: Event): void;
};
/** The options of `addEventListener`, as the platform's `AddEventListenerOptions`. */
export interface ListenerOptions {
  /** Register for the capture phase; a listener is keyed by (type, listener, capture). Default false. */
  capture?: boolean;
  /** Remove the listener after it has been called once. Default false. */
  once?: boolean;
  /** Promise not to call `preventDefault()` (passed through to the platform). */
  passive?: boolean;
  /** Remove the listener when this signal aborts; an already aborted signal adds nothing. */
  signal?: AbortSignal;
}

/** An EventTarget whose events of the types in `M` are typed. */
export interface TypedEventTarget<M> extends EventTarget {
  /**
   * Listen to one event type; the listener gets a CustomEvent whose `detail` is
   * the runtime's record. The runtime builds no records of a type nobody
   * listens to, so an unused listener costs nothing once removed.
   *
   * @example
   * ```ts
   * pool.addEventListener('migration', (e) => console.log(e.detail.direction, e.detail.bytes));
   * ```
   */
  addEventListener<K extends keyof M & string>(type: K, listener: TypedListener<M[K]> | null, options?: boolean | ListenerOptions): void;
  /** Listen to any event type by name, untyped (as on any EventTarget). */
  addEventListener(type: string, listener: PlatformListener | null, options?: boolean | ListenerOptions): void;
  /** Remove a listener added with the same type, listener and `capture`. */
  removeEventListener<K extends keyof M & string>(type: K, listener: TypedListener<M[K]> | null, options?: boolean | EventListenerOptions): void;
  /** Remove a listener added with the same type, listener and `capture` (untyped form). */
  removeEventListener(type: string, listener: PlatformListener | null, options?: boolean | EventListenerOptions): void;
}

type AnyListener = ((event: never) => void) | { handleEvent(event: never): void };

interface Registration {
  readonly listener: AnyListener;
  readonly capture: boolean;
  readonly wrapper: (event: Event) => void;
  /** Removes the listener of the registration's `signal` option, if it had one. */
  unwatch?: () => void;
}

/**
 * An EventTarget that tells its subclass when it gains its first listener and
 * loses its last (see the header): `listening(true)` / `listening(false)`.
 */
export class HmmEventTarget<M> extends EventTarget implements TypedEventTarget<M> {
  readonly #registrations = new Map<string, Registration[]>();
  #count = 0;

  /** The first listener came (true) or the last went (false): join or leave the event bus. */
  protected listening(_on: boolean): void {}

  /** Does any listener of `type` exist (no event is built for a type nobody hears)? */
  protected hears(type: string): boolean {
    return (this.#registrations.get(type)?.length ?? 0) > 0;
  }

  override addEventListener<K extends keyof M & string>(type: K, listener: TypedListener<M[K]> | null, options?: boolean | ListenerOptions): void;
  override addEventListener(type: string, listener: PlatformListener | null, options?: boolean | ListenerOptions): void;
  override addEventListener(type: string, listener: AnyListener | null, options?: boolean | ListenerOptions): void {
    if (listener === null || listener === undefined) return; // as the platform does
    type = String(type);
    const capture = typeof options === 'boolean' ? options : options?.capture === true;
    const opts = typeof options === 'object' && options !== null ? options : {};
    const signal = opts.signal;
    if (signal?.aborted) return;
    let list = this.#registrations.get(type);
    if (list?.some((r) => r.listener === listener && r.capture === capture)) return; // the platform ignores it too
    const once = opts.once === true;
    const target = this;
    const reg: Registration = {
      listener, capture,
      wrapper(event: Event) {
        if (once) target.#forget(type, reg);
        const l = reg.listener as ((this: unknown, e: Event) => void) | { handleEvent(e: Event): void };
        if (typeof l === 'function') l.call(target, event);
        else l.handleEvent(event);
      },
    };
    if (!list) this.#registrations.set(type, (list = []));
    list.push(reg);
    super.addEventListener(type, reg.wrapper, { capture, once, ...(opts.passive !== undefined ? { passive: opts.passive } : {}) });
    if (signal) {
      const onAbort = (): void => this.removeEventListener(type, listener as PlatformListener, { capture });
      signal.addEventListener('abort', onAbort, { once: true });
      reg.unwatch = () => signal.removeEventListener('abort', onAbort);
    }
    if (++this.#count === 1) this.listening(true);
  }

  override removeEventListener<K extends keyof M & string>(type: K, listener: TypedListener<M[K]> | null, options?: boolean | EventListenerOptions): void;
  override removeEventListener(type: string, listener: PlatformListener | null, options?: boolean | EventListenerOptions): void;
  override removeEventListener(type: string, listener: AnyListener | null, options?: boolean | EventListenerOptions): void {
    if (listener === null || listener === undefined) return;
    type = String(type);
    const capture = typeof options === 'boolean' ? options : options?.capture === true;
    const reg = this.#registrations.get(type)?.find((r) => r.listener === listener && r.capture === capture);
    if (!reg) return;
    super.removeEventListener(type, reg.wrapper, { capture });
    this.#forget(type, reg);
  }

  /** Drop a registration from the count (removed, or fired with `once`: the platform has let go of it). */
  #forget(type: string, reg: Registration): void {
    const list = this.#registrations.get(type);
    const i = list?.indexOf(reg) ?? -1;
    if (i < 0) return;
    list!.splice(i, 1);
    if (list!.length === 0) this.#registrations.delete(type);
    reg.unwatch?.();
    if (--this.#count === 0) this.listening(false);
  }

  /** Dispatch a runtime record as a CustomEvent of its type, if anyone listens to that type. */
  protected deliver(record: HmmEvent): void {
    if (this.hears(record.type)) this.dispatchEvent(new CustomEvent(record.type, { detail: record }));
  }
}
