import * as tf from '@tensorflow/tfjs-core';
import { activeKernels, tensorOfView } from './simd.js';

/** Chris Wellons' lowbias32, as the kernels' `mix4` computes it on each lane. */
function mix(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** A dropout mask's key: two 32-bit words drawn from a seeded generator. */
export interface MaskKey {
  lo: number;
  hi: number;
}

/** A key from two draws of `next` (a seeded generator's uniform [0, 1)). */
export function maskKey(next: () => number): MaskKey {
  return { lo: Math.floor(next() * 2 ** 32) >>> 0, hi: Math.floor(next() * 2 ** 32) >>> 0 };
}

/**
 * An inverted-dropout mask of n floats: each entry 0 with probability `rate`, else 1 / (1 - rate)
 * (PyTorch's scaling), entry i decided by a hash of i and `key` alone. The same key gives the same
 * bits on rnnkit's kernels (n % 4 == 0), in these JS loops (elsewhere), and on any thread count.
 */
export function dropoutMaskValues(n: number, rate: number, key: MaskKey): Float32Array {
  return drawDropoutMask(n, rate, key, (values, inKernels) => {
    if (!inKernels) return values;
    const out = new Float32Array(n);
    out.set(values); // a set: slice of a shared memory's view is slow in V8
    return out;
  });
}

/**
 * `dropoutMaskValues(size of shape, rate, key)` as a float32 tensor of `shape`, made straight
 * from the kernels' memory where they draw it (one copy, not two).
 */
export function dropoutMaskTensor(shape: number[], rate: number, key: MaskKey): tf.Tensor {
  return drawDropoutMask(tf.util.sizeFromShape(shape), rate, key, (values, inKernels) =>
    inKernels ? tensorOfView<tf.Rank>(values, shape) : tf.tensor(values, shape, 'float32'),
  );
}

/**
 * Draws the mask and hands it to `use`: a view of the kernels' memory, valid only during the call
 * (`inKernels`), or an array of its own that `use` may keep.
 */
function drawDropoutMask<T>(n: number, rate: number, key: MaskKey, use: (values: Float32Array, inKernels: boolean) => T): T {
  if (!(rate >= 0 && rate < 1)) throw new RangeError(`dropout rate must be in [0, 1), got ${rate}.`);
  const keep = 1 - rate;
  const threshold = Math.min(2 ** 32 - 1, Math.floor(keep * 2 ** 32));
  const scale = Math.fround(1 / keep);
  const k = n % 4 === 0 && n > 0 ? activeKernels() : null;
  if (k) {
    const at = k.alloc(n);
    try {
      k.fn.dropoutMask(4 * at, n, 0, key.lo | 0, key.hi | 0, threshold | 0, scale);
      return use(k.f32.subarray(at, at + n), true);
    } finally {
      k.release(at);
    }
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const h = mix((mix((i + key.lo) | 0) ^ key.hi) | 0);
    out[i] = h < threshold ? scale : 0;
  }
  return use(out, false);
}
