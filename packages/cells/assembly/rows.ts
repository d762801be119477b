// Row movement: gathers by id, their gradient's scatter-add, and transposes.

/** Row i of src (n rows of N floats) added into row ids[i] of out: a row gather's gradient. N % 4 == 0. */
export function addRows(out: usize, src: usize, ids: usize, n: i32, N: i32): void {
  addRowsStrided(out, src, ids, n, N, N);
}

/**
 * `addRows` over N of each row's `ld` floats: columns j0 .. j0 + N of wider rows (called with
 * out + 4 j0 and src + 4 j0), which is how threads split one scatter-add by columns (each sum
 * still adds the rows in order). N % 4 == 0.
 */
export function addRowsStrided(out: usize, src: usize, ids: usize, n: i32, N: i32, ld: i32): void {
  const N4 = <usize>N << 2;
  const L4 = <usize>ld << 2;
  for (let i = 0; i < n; i++) {
    const dst = out + <usize>load<i32>(ids + (<usize>i << 2)) * L4;
    const from = src + <usize>i * L4;
    for (let j: usize = 0; j < N4; j += 16) v128.store(dst + j, f32x4.add(v128.load(dst + j), v128.load(from + j)));
  }
}

/** out (cols, rows) = src (rows, cols) transposed, in 4 x 4 blocks; rows and cols % 4 == 0. */
export function transpose(out: usize, src: usize, rows: i32, cols: i32): void {
  transposeStrided(out, src, rows, cols, rows);
}

/**
 * The 4 x 4 block whose rows are a0..a3 stored transposed: its columns as 4 vectors, `stride`
 * bytes apart from q.
 */
// @ts-ignore: decorator
@inline
export function storeTransposed(q: usize, stride: usize, a0: v128, a1: v128, a2: v128, a3: v128): void {
  const t0 = v128.shuffle<f32>(a0, a1, 0, 4, 1, 5);
  const t1 = v128.shuffle<f32>(a0, a1, 2, 6, 3, 7);
  const t2 = v128.shuffle<f32>(a2, a3, 0, 4, 1, 5);
  const t3 = v128.shuffle<f32>(a2, a3, 2, 6, 3, 7);
  v128.store(q, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
  v128.store(q + stride, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7));
  v128.store(q + 2 * stride, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5));
  v128.store(q + 3 * stride, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7));
}

/**
 * `transpose` into rows of `ldo` floats: source rows r0 .. r0 + rows of a taller matrix go to
 * columns r0 .. of out (called with out + 4 r0), which is how threads split one transpose.
 */
export function transposeStrided(out: usize, src: usize, rows: i32, cols: i32, ldo: i32): void {
  const rowBytes = <usize>cols << 2;
  const colBytes = <usize>ldo << 2;
  for (let r = 0; r < rows; r += 4) {
    const s = src + <usize>r * rowBytes;
    for (let c = 0; c < cols; c += 4) {
      const p = s + (<usize>c << 2);
      const q = out + <usize>c * colBytes + (<usize>r << 2);
      storeTransposed(q, colBytes, v128.load(p), v128.load(p + rowBytes), v128.load(p + 2 * rowBytes), v128.load(p + 3 * rowBytes));
    }
  }
}

/** Row ids[i] of table (rows of N floats) to row i of out, for n ids: a row gather. N % 4 == 0. */
export function gatherRows(out: usize, table: usize, ids: usize, n: i32, N: i32): void {
  const N4 = <usize>N << 2;
  for (let i = 0; i < n; i++) {
    const from = table + <usize>load<i32>(ids + (<usize>i << 2)) * N4;
    const to = out + <usize>i * N4;
    for (let j: usize = 0; j < N4; j += 16) v128.store(to + j, v128.load(from + j));
  }
}
