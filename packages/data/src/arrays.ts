/** Rows `rows` (in that order) of a row-major array of `width` columns, as a new array of the same type. */
export function selectRows<A extends Int32Array | Float32Array>(array: A, rows: readonly number[], width: number): A {
  const out = new (array.constructor as new (n: number) => A)(rows.length * width);
  rows.forEach((r, i) => {
    out.set(array.subarray(r * width, (r + 1) * width), i * width);
  });
  return out;
}

/**
 * Row-major (n, steps) rows rearranged time-major, (steps, n): windows as a (steps, n, 1) input,
 * or a (batch, steps) block of token ids in step order.
 */
export function timeMajor<A extends Int32Array | Float32Array>(rows: A, steps: number): A {
  if (rows.length % steps !== 0) throw new RangeError(`rows has ${rows.length} values, not a multiple of tau = ${steps} (steps).`);
  const n = rows.length / steps;
  const out = new (rows.constructor as new (n: number) => A)(rows.length);
  for (let i = 0; i < n; i++) for (let t = 0; t < steps; t++) out[t * n + i] = rows[i * steps + t] as number;
  return out;
}
