// Lifetimes the platform's way: the disposal symbols that `using` and
// `await using` look up.
//
// Symbol.dispose and Symbol.asyncDispose exist in Node 20 (18.18+) and in
// current browsers; where they do not, the runtime keys its disposers as
// esbuild's `using` helper looks them up (Symbol.for('Symbol.dispose')), so
// code compiled by esbuild or Vite still disposes our objects there. The
// values are computed once, without touching the global Symbol (the package
// has no side effects).

/** Symbol.dispose, or the key esbuild's `using` helper falls back to where it does not exist. */
export const DISPOSE: typeof Symbol.dispose = (Symbol.dispose ?? Symbol.for('Symbol.dispose')) as typeof Symbol.dispose;
/** Symbol.asyncDispose, or the key esbuild's `await using` helper falls back to where it does not exist. */
export const ASYNC_DISPOSE: typeof Symbol.asyncDispose = (Symbol.asyncDispose ?? Symbol.for('Symbol.asyncDispose')) as typeof Symbol.asyncDispose;
