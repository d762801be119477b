/** Throws a RangeError naming the first value that is not a whole number >= 1. */
export function checkPositiveInts(values: Record<string, number>): void {
  for (const [name, v] of Object.entries(values)) {
    if (!Number.isInteger(v) || v <= 0) throw new RangeError(`${name} must be a whole number >= 1, got ${v}.`);
  }
}
