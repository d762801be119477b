// Element-wise kernels behind the wasm backend's replaced Tanh and Sum kernels and the fused
// Sigmoid and Tanh gradients (src/kernels/backend.ts): tanh on f32x4 lanes, column sums in the
// order TensorFlow.js' Sum kernel adds, and the activations' gradients rounded as its ops round.

import { loadPartial, storePartial, tanh4 } from './math';

/** out = tanh(x) element-wise (tanh4), n floats, any n; out may be x. Two vectors a turn: their chains overlap (20% faster than one). */
export function tanhFloats(out: usize, x: usize, n: i32): void {
  const end = (<usize>n & ~3) << 2;
  const end2 = (<usize>n & ~7) << 2;
  let i: usize = 0;
  for (; i < end2; i += 32) {
    const a = tanh4(v128.load(x + i));
    const b = tanh4(v128.load(x + i, 16));
    v128.store(out + i, a);
    v128.store(out + i, b, 16);
  }
  for (; i < end; i += 16) v128.store(out + i, tanh4(v128.load(x + i)));
  const rest = n & 3;
  if (rest != 0) storePartial(out + end, tanh4(loadPartial(x + end, rest)), rest);
}

/**
 * out[j] = x[0][j] + x[1][j] + ... + x[rows - 1][j] for a row-major (rows, cols) matrix, each
 * column summed from 0 in row order in float32: the sums TensorFlow.js' Sum kernel forms (it
 * transposes and adds each run from 0 in order), bit for bit.
 */
export function columnSums(out: usize, x: usize, rows: i32, cols: i32): void {
  const rowBytes = <usize>cols << 2;
  // Sixteen columns (a cache line) a pass down the rows, then four: each column's sum is the same
  // chain either way, so the bits do not change, but a pass reads whole lines.
  const wide = (<usize>cols & ~15) << 2;
  const end = (<usize>cols & ~3) << 2;
  let j: usize = 0;
  for (; j < wide; j += 64) {
    let s0 = f32x4.splat(0.0), s1 = f32x4.splat(0.0), s2 = f32x4.splat(0.0), s3 = f32x4.splat(0.0);
    let p = x + j;
    for (let i = 0; i < rows; i++) {
      s0 = f32x4.add(s0, v128.load(p));
      s1 = f32x4.add(s1, v128.load(p, 16));
      s2 = f32x4.add(s2, v128.load(p, 32));
      s3 = f32x4.add(s3, v128.load(p, 48));
      p += rowBytes;
    }
    v128.store(out + j, s0);
    v128.store(out + j, s1, 16);
    v128.store(out + j, s2, 32);
    v128.store(out + j, s3, 48);
  }
  for (; j < end; j += 16) {
    let s = f32x4.splat(0.0);
    let p = x + j;
    for (let i = 0; i < rows; i++) {
      s = f32x4.add(s, v128.load(p));
      p += rowBytes;
    }
    v128.store(out + j, s);
  }
  for (; j < rowBytes; j += 4) {
    let s: f32 = 0.0;
    let p = x + j;
    for (let i = 0; i < rows; i++) {
      s += load<f32>(p);
      p += rowBytes;
    }
    store<f32>(out + j, s);
  }
}

/**
 * out = dy * (y * (1 - y)) element-wise (the gradient of sigmoid at its output y), n floats, any
 * n, each product and difference rounded to float32 as TensorFlow.js's three ops round them (no
 * fused multiply-add); out may be y or dy.
 */
export function sigmoidGrad(out: usize, y: usize, dy: usize, n: i32): void {
  const one = f32x4.splat(1.0);
  const end = (<usize>n & ~3) << 2;
  for (let i: usize = 0; i < end; i += 16) {
    const v = v128.load(y + i);
    v128.store(out + i, f32x4.mul(v128.load(dy + i), f32x4.mul(v, f32x4.sub(one, v))));
  }
  const rest = n & 3;
  if (rest != 0) {
    const v = loadPartial(y + end, rest);
    storePartial(out + end, f32x4.mul(loadPartial(dy + end, rest), f32x4.mul(v, f32x4.sub(one, v))), rest);
  }
}

/** out = (1 - y * y) * dy element-wise (the gradient of tanh at its output y), rounded as `sigmoidGrad`. */
export function tanhGrad(out: usize, y: usize, dy: usize, n: i32): void {
  const one = f32x4.splat(1.0);
  const end = (<usize>n & ~3) << 2;
  for (let i: usize = 0; i < end; i += 16) {
    const v = v128.load(y + i);
    v128.store(out + i, f32x4.mul(f32x4.sub(one, f32x4.mul(v, v)), v128.load(dy + i)));
  }
  const rest = n & 3;
  if (rest != 0) {
    const v = loadPartial(y + end, rest);
    storePartial(out + end, f32x4.mul(f32x4.sub(one, f32x4.mul(v, v)), loadPartial(dy + end, rest)), rest);
  }
}
