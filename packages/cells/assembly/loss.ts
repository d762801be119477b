// The softmax cross-entropy of a dense head's logits, forward and backward.

import { expWide4 } from './math';

/**
 * Softmax cross-entropy of n rows of logits z (rows of ld floats, ld % 4 == 0) plus the bias b (ld
 * floats, -Infinity past the vocabulary, so that those columns get probability 0): the softmax of
 * z_i + b in place of z_i, and at parts[2i], parts[2i + 1] the two parts of row i's loss
 * log(sum) - (z_label - max), the sum and the difference (the caller takes the log: the library's
 * logf would bring a data segment, which a second instance on the same memory rewrites).
 */
export function softmaxCrossEntropy(z: usize, b: usize, labels: usize, parts: usize, n: i32, ld: i32): void {
  const L = <usize>ld << 2;
  for (let i = 0; i < n; i++) {
    const row = z + <usize>i * L;
    let m = f32x4.splat(-Infinity);
    for (let j: usize = 0; j < L; j += 16) {
      const v = f32x4.add(v128.load(row + j), v128.load(b + j));
      v128.store(row + j, v);
      m = f32x4.max(m, v);
    }
    const top = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
    const label = row + (<usize>load<i32>(labels + (<usize>i << 2)) << 2);
    const zLabel = load<f32>(label);
    const shift = f32x4.splat(top);
    let s = f32x4.splat(0);
    for (let j: usize = 0; j < L; j += 16) {
      const e = expWide4(f32x4.sub(v128.load(row + j), shift));
      v128.store(row + j, e);
      s = f32x4.add(s, e);
    }
    const sum = f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + (f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3));
    store<f32>(parts + (<usize>i << 3), sum);
    store<f32>(parts + (<usize>i << 3) + 4, zLabel - top);
    const inv = f32x4.splat(1 / sum);
    for (let j: usize = 0; j < L; j += 16) v128.store(row + j, f32x4.mul(v128.load(row + j), inv));
  }
}

/**
 * `softmaxCrossEntropy`'s softmax rows p into the gradient of `scale` times the sum of the losses,
 * (p - onehot(label)) scale, in place; with `weights` (n floats; 0 for none) the sum of the losses
 * weighted by row, row i's gradient scaled by scale weights[i]. Its float argument keeps it out of
 * thread jobs (their records hold integers).
 */
export function softmaxCrossEntropyGrad(p: usize, labels: usize, weights: usize, n: i32, ld: i32, scale: f32): void {
  const L = <usize>ld << 2;
  for (let i = 0; i < n; i++) {
    const rowScale = weights != 0 ? scale * load<f32>(weights + (<usize>i << 2)) : scale;
    const s = f32x4.splat(rowScale);
    const row = p + <usize>i * L;
    for (let j: usize = 0; j < L; j += 16) v128.store(row + j, f32x4.mul(v128.load(row + j), s));
    const at = row + (<usize>load<i32>(labels + (<usize>i << 2)) << 2);
    store<f32>(at, load<f32>(at) - rowScale);
  }
}
