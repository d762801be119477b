/** Rows `rows` (in that order) of a row-major array of `width` columns, as a new array of the same type. */
export function selectRows<A extends Int32Array | Float32Array>(array: A, rows: readonly number[], width: number): A {
  const out = new (array.constructor as new (n: number) => A)(rows.length * width);
  rows.forEach((r, i) => out.set(array.subarray(r * width, (r + 1) * width), i * width));
  return out;
}

/** Row-major (n, steps) windows rearranged time-major, (steps, n): the layout of a (steps, n, 1) input. */
export function timeMajor(windows: Float32Array, steps: number): Float32Array {
  if (windows.length % steps !== 0) throw new RangeError(`windows has ${windows.length} values, not a multiple of tau = ${steps}.`);
  const n = windows.length / steps;
  const out = new Float32Array(windows.length);
  for (let i = 0; i < n; i++) for (let t = 0; t < steps; t++) out[t * n + i] = windows[i * steps + t] as number;
  return out;
}
