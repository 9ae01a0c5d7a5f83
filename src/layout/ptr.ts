// 64-bit virtual addresses as WGSL sees them: a VmPtr is two u32 words, the
// low word first (shaders/prelude.wgsl). JavaScript keeps addresses as plain
// numbers, exact below 2^53 and so for every address of a space (at most
// 2^40 bytes); these turn one into the words a kernel argument or a struct's
// pointer field holds, and back.

import { InvalidArgumentError } from '../errors.ts';

const TWO_32 = 2 ** 32;

/**
 * The two u32 words of address `addr` as a kernel reads them with `vm_arg_ptr(i)`
 * (or a VmPtr field holds them): `[low, high]`. Pass them in a dispatch's `args`,
 * e.g. `args: [...ptrWords(addr), n]`.
 */
export function ptrWords(addr: number): [low: number, high: number] {
  if (typeof addr !== 'number' || !Number.isSafeInteger(addr) || addr < 0) {
    throw new InvalidArgumentError(`ptrWords: address ${String(addr)} must be a whole number from 0 to 2^53 - 1`);
  }
  return [addr % TWO_32, Math.floor(addr / TWO_32)];
}

/** The address two words (low, high) hold: the inverse of {@link ptrWords}. */
export function ptrFromWords(low: number, high: number): number {
  return (low >>> 0) + (high >>> 0) * TWO_32;
}
