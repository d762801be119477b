// Random numbers drawn by position: a value is a hash of its index and a key, so a mask comes out
// the same in any order, on any thread, and in the JS mirror of this code.

/** Chris Wellons' lowbias32: a 32-bit bijection whose output bits each depend on every input bit. */
// @ts-ignore: decorator
@inline
function mix4(x: v128): v128 {
  x = v128.xor(x, i32x4.shr_u(x, 16));
  x = i32x4.mul(x, i32x4.splat(0x7feb352d));
  x = v128.xor(x, i32x4.shr_u(x, 15));
  x = i32x4.mul(x, i32x4.splat(0x846ca68b));
  return v128.xor(x, i32x4.shr_u(x, 16));
}

/**
 * An inverted-dropout mask of n floats (n % 4 == 0): entry i is `scale` where
 * mix(mix(start + i + keyLo) ^ keyHi) < threshold (unsigned; threshold = keep * 2^32), else 0.
 * Its float argument keeps it out of thread jobs: it runs on the calling thread.
 */
export function dropoutMask(out: usize, n: i32, start: i32, keyLo: i32, keyHi: i32, threshold: i32, scale: f32): void {
  let index = i32x4.add(i32x4(0, 1, 2, 3), i32x4.splat(start + keyLo));
  const four = i32x4.splat(4);
  const hi = i32x4.splat(keyHi);
  const limit = i32x4.splat(threshold);
  const value = f32x4.splat(scale);
  const end = <usize>n << 2;
  for (let i: usize = 0; i < end; i += 16) {
    const h = mix4(v128.xor(mix4(index), hi));
    v128.store(out + i, v128.and(i32x4.lt_u(h, limit), value));
    index = i32x4.add(index, four);
  }
}
