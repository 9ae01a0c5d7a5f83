// The public factory of the per-allocation ledger (src/trace/ledger.ts holds
// the ledger itself; it takes a space's state, this takes the public space).

import { spaceCore } from '../space/state.ts';
import { ledgerOf, type Ledger } from '../trace/ledger.ts';
import type { AddressSpace } from './address-space.ts';

/**
 * Start a ledger for `space`: from now on every migration, fault and eviction
 * of its pages is attributed to the allocations whose bytes they hold. It
 * listens to the pool's event stream, so the runtime builds events while a
 * ledger is open; close() it when done.
 *
 * @example
 * ```ts
 * using ledger = createLedger(space); // close() at the end of the scope
 * await space.dispatch(kernel, { workgroups: 64, demand: true });
 * console.log(ledger.format()); // per allocation: resident bytes, bytes moved by cause, faults, evictions
 * ```
 */
export function createLedger(space: AddressSpace): Ledger {
  return ledgerOf(spaceCore(space, 'createLedger'));
}
