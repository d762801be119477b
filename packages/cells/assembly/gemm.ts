// The matmul: B packed into panels of 8 (or 4) columns, register tiles of 4 x 8 over them.

import { madd } from './math';
import { storeTransposed } from './rows';

/**
 * B (K, N) row-major into column panels for `gemm`: each 8 columns as K rows of 8 contiguous
 * floats, then (N % 8 == 4) the last 4 columns as K rows of 4. N % 4 == 0.
 */
export function packPanels(out: usize, B: usize, K: i32, N: i32): void {
  packPanelsWide(out, B, K, N, N);
}

/**
 * `packPanels` from rows of `ldb` floats: columns j0 .. j0 + N of a wider matrix (called with
 * B + 4 j0 and out + 4 K j0, j0 % 8 == 0), which is how threads split one packing by panels.
 */
export function packPanelsWide(out: usize, B: usize, K: i32, N: i32, ldb: i32): void {
  const N4 = <usize>N << 2;
  const L4 = <usize>ldb << 2;
  let o = out;
  let j: usize = 0;
  for (; j + 32 <= N4; j += 32) {
    let b = B + j;
    for (let k = 0; k < K; k++) {
      v128.store(o, v128.load(b));
      v128.store(o, v128.load(b, 16), 16);
      o += 32;
      b += L4;
    }
  }
  if (j < N4) {
    let b = B + j;
    for (let k = 0; k < K; k++) {
      v128.store(o, v128.load(b));
      o += 16;
      b += L4;
    }
  }
}

/**
 * The panels `packPanels` makes of W^T (K, N), read from W (N, K) with rows of `ldw` floats:
 * `transposeStrided` and `packPanelsWide` in one pass, each panel's 8 rows of W read 4 columns at a
 * time and turned in registers, so that threads can split one packing by panels with nothing in
 * between (called with W + 4 ldw j0 and out + 4 K j0, j0 % 8 == 0). N % 4 == 0, K % 4 == 0.
 */
export function packPanelsTransposed(out: usize, W: usize, K: i32, N: i32, ldw: i32): void {
  const K4 = <usize>K << 2;
  const L4 = <usize>ldw << 2;
  let o = out;
  let j = 0;
  // A panel's k-th row is W's rows j .. j + 7 at column k: per 4 columns, the two 4 x 4 blocks of
  // rows j .. j + 3 and j + 4 .. j + 7 transposed, at 0 and 16 bytes in each 32-byte row.
  for (; j + 8 <= N; j += 8) {
    const w0 = W + <usize>j * L4;
    for (let k: usize = 0; k < K4; k += 16) {
      const p = w0 + k;
      storeTransposed(o, 32, v128.load(p), v128.load(p + L4), v128.load(p + 2 * L4), v128.load(p + 3 * L4));
      storeTransposed(o + 16, 32, v128.load(p + 4 * L4), v128.load(p + 5 * L4), v128.load(p + 6 * L4), v128.load(p + 7 * L4));
      o += 128;
    }
  }
  if (j < N) {
    // The last 4 columns of W^T: one 4 x 4 block per 4 k's, in 16-byte rows.
    const w0 = W + <usize>j * L4;
    for (let k: usize = 0; k < K4; k += 16) {
      const p = w0 + k;
      storeTransposed(o, 16, v128.load(p), v128.load(p + L4), v128.load(p + 2 * L4), v128.load(p + 3 * L4));
      o += 64;
    }
  }
}

/** v to p, or (with `add`) p's value plus v: a product added to C's values once its sum is made. */
// @ts-ignore: decorator
@inline
function put(p: usize, v: v128, add: bool): void {
  if (add) v128.store(p, f32x4.add(v128.load(p), v));
  else v128.store(p, v);
}

/** The 4 x 8 tile's sums to C's 4 rows (`L4` bytes apart) at c (added to them with `add`). */
// @ts-ignore: decorator
@inline
function storeTile(c: usize, L4: usize, c00: v128, c01: v128, c10: v128, c11: v128, c20: v128, c21: v128, c30: v128, c31: v128, add: bool): void {
  put(c, c00, add);
  put(c + 16, c01, add);
  put(c + L4, c10, add);
  put(c + L4 + 16, c11, add);
  put(c + 2 * L4, c20, add);
  put(c + 2 * L4 + 16, c21, add);
  put(c + 3 * L4, c30, add);
  put(c + 3 * L4 + 16, c31, add);
}

/** The last 4 columns' sums of 8 rows to C's rows (`L4` bytes apart) at c (added to them with `add`). */
// @ts-ignore: decorator
@inline
function storeColumn(c: usize, L4: usize, c0: v128, c1: v128, c2: v128, c3: v128, c4: v128, c5: v128, c6: v128, c7: v128, add: bool): void {
  put(c, c0, add);
  put(c + L4, c1, add);
  put(c + 2 * L4, c2, add);
  put(c + 3 * L4, c3, add);
  put(c + 4 * L4, c4, add);
  put(c + 5 * L4, c5, add);
  put(c + 6 * L4, c6, add);
  put(c + 7 * L4, c7, add);
}

/** One row of A (its K floats `step` bytes apart from a0) times an 8-column panel, to c (added with `add`). */
// @ts-ignore: decorator
@inline
function rowTimesPanel(c: usize, a0: usize, step: usize, panel: usize, K4: usize, add: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let a = a0;
  let b = panel;
  for (let k: usize = 0; k < K4; k += 4) {
    const s = v128.load32_splat(a);
    c00 = madd(s, v128.load(b), c00);
    c01 = madd(s, v128.load(b, 16), c01);
    a += step;
    b += 32;
  }
  put(c, c00, add);
  put(c + 16, c01, add);
}

/** One row of A (its K floats `step` bytes apart from a0) times the last 4-column panel, to c (added with `add`). */
// @ts-ignore: decorator
@inline
function rowTimesEdge(c: usize, a0: usize, step: usize, panel: usize, K4: usize, add: bool): void {
  let c00 = f32x4.splat(0);
  let a = a0;
  let b = panel;
  for (let k: usize = 0; k < K4; k += 4) {
    c00 = madd(v128.load32_splat(a), v128.load(b), c00);
    a += step;
    b += 16;
  }
  put(c, c00, add);
}

/**
 * C (M, N) = A (M, K) B (K, N), A and C row-major, B as `packPanels` lays it out; N % 4 == 0.
 * Register tiles of 4 rows x 8 columns (8 accumulators; a panel is read once per 4 rows of A,
 * front to back), with 1-row and 4-column edges. For the per-step products of a recurrence,
 * which on the backend's matmul would cost a tensor, a copy in and a copy out per step.
 */
export function gemm(C: usize, A: usize, Bp: usize, M: i32, K: i32, N: i32): void {
  gemmStrided(C, A, Bp, M, K, N, N);
}

/**
 * `gemm` into C's rows of `ldc` floats: columns j0 .. j0 + N of a wider product, from the panels
 * at Bp + 4 K j0 (j0 % 8 == 0), which is how worker threads split one product by column panels.
 */
export function gemmStrided(C: usize, A: usize, Bp: usize, M: i32, K: i32, N: i32, ldc: i32): void {
  const N4 = <usize>N << 2;
  const L4 = <usize>ldc << 2;
  const K4 = <usize>K << 2;
  const M4 = M & ~3;
  let j: usize = 0;
  let panel = Bp;
  for (; j + 32 <= N4; j += 32) {
    let i = 0;
    for (; i < M4; i += 4) {
      const a0 = A + <usize>i * K4;
      const a1 = a0 + K4;
      const a2 = a1 + K4;
      const a3 = a2 + K4;
      let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
      let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
      let b = panel;
      for (let k: usize = 0; k < K4; k += 4) {
        const b0 = v128.load(b);
        const b1 = v128.load(b, 16);
        b += 32;
        let a = v128.load32_splat(a0 + k);
        c00 = madd(a, b0, c00);
        c01 = madd(a, b1, c01);
        a = v128.load32_splat(a1 + k);
        c10 = madd(a, b0, c10);
        c11 = madd(a, b1, c11);
        a = v128.load32_splat(a2 + k);
        c20 = madd(a, b0, c20);
        c21 = madd(a, b1, c21);
        a = v128.load32_splat(a3 + k);
        c30 = madd(a, b0, c30);
        c31 = madd(a, b1, c31);
      }
      storeTile(C + <usize>i * L4 + j, L4, c00, c01, c10, c11, c20, c21, c30, c31, false);
    }
    for (; i < M; i++) rowTimesPanel(C + <usize>i * L4 + j, A + <usize>i * K4, 4, panel, K4, false);
    panel += <usize>K * 32;
  }
  if (j < N4) {
    // The last 4 columns: 8 rows at a time (8 independent sums, as many as the 4 x 8 tile's, so
    // the multiply-adds are not waiting on each other: one row at a time ran at a quarter of the
    // speed, and d2l's 28-character vocabulary puts every head's product here), then one row.
    const M8 = M & ~7;
    let i = 0;
    for (; i < M8; i += 8) {
      const a0 = A + <usize>i * K4;
      let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
      let c4 = f32x4.splat(0), c5 = f32x4.splat(0), c6 = f32x4.splat(0), c7 = f32x4.splat(0);
      let b = panel;
      for (let k: usize = 0; k < K4; k += 4) {
        const b0 = v128.load(b);
        b += 16;
        const a = a0 + k;
        c0 = madd(v128.load32_splat(a), b0, c0);
        c1 = madd(v128.load32_splat(a + K4), b0, c1);
        c2 = madd(v128.load32_splat(a + 2 * K4), b0, c2);
        c3 = madd(v128.load32_splat(a + 3 * K4), b0, c3);
        c4 = madd(v128.load32_splat(a + 4 * K4), b0, c4);
        c5 = madd(v128.load32_splat(a + 5 * K4), b0, c5);
        c6 = madd(v128.load32_splat(a + 6 * K4), b0, c6);
        c7 = madd(v128.load32_splat(a + 7 * K4), b0, c7);
      }
      storeColumn(C + <usize>i * L4 + j, L4, c0, c1, c2, c3, c4, c5, c6, c7, false);
    }
    for (; i < M; i++) rowTimesEdge(C + <usize>i * L4 + j, A + <usize>i * K4, 4, panel, K4, false);
  }
}

/**
 * A (M, K), rows of `lda` floats, into `gemmPacked`'s layout: each 4 rows as K groups of their
 * 4 floats at k (the tile's 4 broadcasts then come from one address, at immediate offsets, where
 * row-major A costs an address sum per row and step), then the last M % 4 rows as they are. Row i
 * of either part starts at out + 4 K i, so a chunk of rows from a multiple of 4 is a layout too.
 */
export function packRows(out: usize, A: usize, M: i32, K: i32, lda: i32): void {
  packRowsInto(out, A, M, K, lda, K, 0);
}

/**
 * `packRows` of A (M, K) into columns k0 .. k0 + K of the layout of a wider matrix, `ldo` columns
 * in all: a product's A assembled side by side from its parts ([X H 1] of an affine map) without
 * forming it row-major first. `lda` 0 repeats A's one row (a column of ones from one float).
 */
export function packRowsInto(out: usize, A: usize, M: i32, K: i32, lda: i32, ldo: i32, k0: i32): void {
  const K4 = <usize>K << 2;
  const L4 = <usize>lda << 2;
  const O4 = <usize>ldo << 2;
  const M4 = M & ~3;
  let i = 0;
  for (; i < M4; i += 4) {
    const a0 = A + <usize>i * L4;
    const a1 = a0 + L4;
    const a2 = a1 + L4;
    const a3 = a2 + L4;
    // Block i starts at row i (4 O4 bytes a block); column k0 is 16 k0 bytes into it.
    let o = out + <usize>i * O4 + (<usize>k0 << 4);
    let k: usize = 0;
    // 4 x 4 blocks transposed in registers: 4 k's of the 4 rows.
    for (; k + 16 <= K4; k += 16) {
      const r0 = v128.load(a0 + k);
      const r1 = v128.load(a1 + k);
      const r2 = v128.load(a2 + k);
      const r3 = v128.load(a3 + k);
      const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5);
      const t1 = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
      const t2 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
      const t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
      v128.store(o, i64x2.shuffle(t0, t1, 0, 2));
      v128.store(o, i64x2.shuffle(t0, t1, 1, 3), 16);
      v128.store(o, i64x2.shuffle(t2, t3, 0, 2), 32);
      v128.store(o, i64x2.shuffle(t2, t3, 1, 3), 48);
      o += 64;
    }
    for (; k < K4; k += 4) {
      store<f32>(o, load<f32>(a0 + k));
      store<f32>(o, load<f32>(a1 + k), 4);
      store<f32>(o, load<f32>(a2 + k), 8);
      store<f32>(o, load<f32>(a3 + k), 12);
      o += 16;
    }
  }
  for (; i < M; i++) memory.copy(out + <usize>i * O4 + (<usize>k0 << 2), A + <usize>i * L4, K4);
}

/**
 * X^T into `gemmPacked`'s layout, for X (K, M) with rows of `ldx` floats: A = X^T (M, K), as a
 * weight gradient X^T G takes it. Each 4 columns of X are K runs of 4 contiguous floats, so this is
 * a copy of 16 bytes per row and block, with no transpose; the last M % 4 columns are gathered.
 */
export function packColumns(out: usize, X: usize, K: i32, M: i32, ldx: i32): void {
  const K4 = <usize>K << 2;
  const L4 = <usize>ldx << 2;
  const M4 = <usize>(M & ~3);
  const M1 = <usize>M;
  // Row by row of X: the reads run along its rows, each block's writes along its own run.
  let x = X;
  let o = out;
  for (let k = 0; k < K; k++) {
    let dst = o;
    let i: usize = 0;
    for (; i < M4; i += 4) {
      v128.store(dst, v128.load(x + (i << 2)));
      dst += K4 << 2;
    }
    for (; i < M1; i++) store<f32>(out + i * K4 + (<usize>k << 2), load<f32>(x + (i << 2)));
    x += L4;
    o += 16;
  }
}

/**
 * `gemmStrided` with A in `packRows`' layout: the same products, summed in the same order (so the
 * same bits), with fewer instructions per multiply-add in the 4 x 8 tile. With `add` != 0 each
 * sum is added to C's value (C + (A B), rounded once more), rather than stored.
 */
export function gemmPacked(C: usize, Ap: usize, Bp: usize, M: i32, K: i32, N: i32, ldc: i32, add: i32): void {
  const plus = add != 0;
  const N4 = <usize>N << 2;
  const L4 = <usize>ldc << 2;
  const K4 = <usize>K << 2;
  const K16 = K4 << 2;
  const M4 = M & ~3;
  let j: usize = 0;
  let panel = Bp;
  for (; j + 32 <= N4; j += 32) {
    let i = 0;
    for (; i < M4; i += 4) {
      let a = Ap + <usize>i * K4;
      const end = a + K16;
      let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
      let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
      let b = panel;
      while (a < end) {
        const b0 = v128.load(b);
        const b1 = v128.load(b, 16);
        let s = v128.load32_splat(a);
        c00 = madd(s, b0, c00);
        c01 = madd(s, b1, c01);
        s = v128.load32_splat(a, 4);
        c10 = madd(s, b0, c10);
        c11 = madd(s, b1, c11);
        s = v128.load32_splat(a, 8);
        c20 = madd(s, b0, c20);
        c21 = madd(s, b1, c21);
        s = v128.load32_splat(a, 12);
        c30 = madd(s, b0, c30);
        c31 = madd(s, b1, c31);
        a += 16;
        b += 32;
      }
      storeTile(C + <usize>i * L4 + j, L4, c00, c01, c10, c11, c20, c21, c30, c31, plus);
    }
    for (; i < M; i++) rowTimesPanel(C + <usize>i * L4 + j, Ap + <usize>i * K4, 4, panel, K4, plus);
    panel += <usize>K * 32;
  }
  if (j < N4) {
    // The last 4 columns: 8 rows (two packed blocks) at a time, then one row.
    const M8 = M & ~7;
    let i = 0;
    for (; i < M8; i += 8) {
      let a = Ap + <usize>i * K4;
      const end = a + K16;
      let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
      let c4 = f32x4.splat(0), c5 = f32x4.splat(0), c6 = f32x4.splat(0), c7 = f32x4.splat(0);
      let b = panel;
      while (a < end) {
        const b0 = v128.load(b);
        b += 16;
        c0 = madd(v128.load32_splat(a), b0, c0);
        c1 = madd(v128.load32_splat(a, 4), b0, c1);
        c2 = madd(v128.load32_splat(a, 8), b0, c2);
        c3 = madd(v128.load32_splat(a, 12), b0, c3);
        const a2 = a + K16;
        c4 = madd(v128.load32_splat(a2), b0, c4);
        c5 = madd(v128.load32_splat(a2, 4), b0, c5);
        c6 = madd(v128.load32_splat(a2, 8), b0, c6);
        c7 = madd(v128.load32_splat(a2, 12), b0, c7);
        a += 16;
      }
      storeColumn(C + <usize>i * L4 + j, L4, c0, c1, c2, c3, c4, c5, c6, c7, plus);
    }
    for (; i < M; i++) {
      // Row i in its packed block (stride 16 bytes, lane i % 4), or in the row-major tail.
      const packed = i < M4;
      const a0 = packed ? Ap + <usize>(i & ~3) * K4 + (<usize>(i & 3) << 2) : Ap + <usize>i * K4;
      rowTimesEdge(C + <usize>i * L4 + j, a0, packed ? 16 : 4, panel, K4, plus);
    }
  }
}

/**
 * B (K, N) into `gemm`'s panels from any layout: element (k, j) is the float at byte
 * B + 4 (k rs + j cs). N need not be a multiple of 4: the panels are those of N rounded up to
 * one, the extra columns zero. With rs = 1, cs = K it packs the transpose of a row-major (N, K)
 * matrix without forming it (a matmul's transposed operand).
 */
export function packPanelsStrided(out: usize, B: usize, K: i32, N: i32, rs: i32, cs: i32): void {
  const Np = (N + 3) & ~3;
  const rowStep = <usize>rs << 2;
  const colStep = <usize>cs << 2;
  let o = out;
  for (let j0 = 0; j0 < Np; ) {
    const w = j0 + 8 <= Np ? 8 : 4;
    const real = min(w, N - j0); // columns of B in this panel; the rest are padding
    let row = B + <usize>j0 * colStep;
    for (let k = 0; k < K; k++) {
      let b = row;
      let jj = 0;
      for (; jj < real; jj++) {
        store<f32>(o, load<f32>(b));
        o += 4;
        b += colStep;
      }
      for (; jj < w; jj++) {
        store<f32>(o, 0);
        o += 4;
      }
      row += rowStep;
    }
    j0 += w;
  }
}
