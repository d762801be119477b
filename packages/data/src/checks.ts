/**
 * Throws a TypeError when a constructor or function that needs an options object got none (or
 * not an object), showing the call it expects, e.g. `new RNNModel({ vocabSize, cell, numHiddens })`.
 */
export function checkOptions(options: unknown, call: string): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(
      `${call.replace(/\(.*$/, '')} needs an options object: ${call}; got ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}.`,
    );
  }
}

/** Throws a TypeError unless `seed` is a finite number or a string (NaN, objects and the like would all seed the same stream). */
export function checkSeed(seed: unknown, name = 'seed'): void {
  if (!(typeof seed === 'string' || (typeof seed === 'number' && Number.isFinite(seed)))) {
    const got = typeof seed === 'number' ? String(seed) : seed === null ? 'null' : typeof seed;
    throw new TypeError(`${name} must be a finite number or a string, got ${got}.`);
  }
}

/** Throws a RangeError naming the first value that is not a whole number >= 1. */
export function checkPositiveInts(values: Record<string, number>): void {
  for (const [name, v] of Object.entries(values)) {
    if (!Number.isInteger(v) || v <= 0) throw new RangeError(`${name} must be a whole number >= 1, got ${v}.`);
  }
}
