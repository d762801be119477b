// TensorFlow.js's wasm backend is an Emscripten module: in Node it adds process-wide
// `uncaughtException` and `unhandledRejection` listeners that rethrow from inside the backend's
// bundle. Node then reports any uncaught error of the whole program at that line (one minified line
// of about 40 KB in the builds that bundlers and tsx load) before the error's own message.

const RETHROW_UNLESS_EXIT = /^function\((\w+)\)\{if\(!\(\1instanceof[\w$]+\)\)\{?throw\1;?\}?\}$/;
const RETHROW = /^function\((\w+)\)\{throw\1;?\}$/;

interface ProcessEvents {
  listeners(event: string): ((...args: unknown[]) => void)[];
  removeListener(event: string, listener: (...args: unknown[]) => void): unknown;
}

/**
 * Removes the `uncaughtException` and `unhandledRejection` listeners that TensorFlow.js's wasm
 * backend (Emscripten) installs in Node, so that an uncaught error prints as Node prints it: the
 * error and its stack, not the backend's minified source. Only those two rethrowing listeners are
 * removed (recognised by their code); the program's own listeners stay. Call it after the wasm
 * backend has started (`installWasmKernels` does); a no-op outside Node. Returns how many it removed.
 */
export function keepNodeErrorReporting(): number {
  const proc = (globalThis as { process?: Partial<ProcessEvents> }).process;
  if (typeof proc?.listeners !== 'function' || typeof proc.removeListener !== 'function') return 0;
  let removed = 0;
  for (const [event, shape] of [
    ['uncaughtException', RETHROW_UNLESS_EXIT],
    ['unhandledRejection', RETHROW],
  ] as const) {
    for (const listener of proc.listeners(event)) {
      if (shape.test(Function.prototype.toString.call(listener).replace(/\s+/g, ''))) {
        proc.removeListener(event, listener);
        removed++;
      }
    }
  }
  return removed;
}
