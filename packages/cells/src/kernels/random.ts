import { activeKernels } from './simd.js';

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
  if (!(rate >= 0 && rate < 1)) throw new RangeError(`dropout rate must be in [0, 1), got ${rate}.`);
  const keep = 1 - rate;
  const threshold = Math.min(2 ** 32 - 1, Math.floor(keep * 2 ** 32));
  const scale = Math.fround(1 / keep);
  const k = n % 4 === 0 && n > 0 ? activeKernels() : null;
  if (k) {
    const at = k.alloc(n);
    try {
      k.fn.dropoutMask(4 * at, n, 0, key.lo | 0, key.hi | 0, threshold | 0, scale);
      const out = new Float32Array(n);
      out.set(k.f32.subarray(at, at + n)); // a set: slice of a shared memory's view is slow in V8
      return out;
    } finally {
      k.release(at);
    }
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const h = mix((mix((i + key.lo) | 0) ^ key.hi) | 0);
    out[i] = h < threshold ? scale : 0;
  }
  return out;
}
