// Internal-bug checks. These never fire on bad user input (that gets a typed
// HmmError from ./errors.ts); a failing assert means the runtime itself is wrong.

export class InternalError extends Error {
  override name = 'InternalError';
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InternalError(`webgpu-hmm internal error: ${message}`);
}

/**
 * Throws the InternalError for a failed check: `if (!cond) fail(\`…\`)` builds its
 * message only when the check fails (an `assert` call's template literal is built
 * every time, which costs more than the check on per-page paths).
 */
export function fail(message: string): never {
  throw new InternalError(`webgpu-hmm internal error: ${message}`);
}

export function unreachable(what: never | string): never {
  throw new InternalError(`webgpu-hmm internal error: unreachable (${String(what)})`);
}
