// One-pass optimizer updates over all of a model's gradients: the global norm for clipping, and the
// updates themselves.

/** The sum of the squares of n floats, each square added in double precision. */
export function sumSquares(x: usize, n: i32): f64 {
  const end = (<usize>n & ~3) << 2;
  let lo = f64x2.splat(0);
  let hi = f64x2.splat(0);
  for (let i: usize = 0; i < end; i += 16) {
    const v = v128.load(x + i);
    const sq = f32x4.mul(v, v);
    lo = f64x2.add(lo, f64x2.promote_low_f32x4(sq));
    hi = f64x2.add(hi, f64x2.promote_low_f32x4(v128.shuffle<f32>(sq, sq, 2, 3, 0, 1)));
  }
  let sum = f64x2.extract_lane(lo, 0) + f64x2.extract_lane(lo, 1) + (f64x2.extract_lane(hi, 0) + f64x2.extract_lane(hi, 1));
  for (let i = end; i < <usize>n << 2; i += 4) {
    const v = load<f32>(x + i);
    sum += <f64>(v * v);
  }
  return sum;
}

/** y += a x over n floats, each a x rounded before the add (as a multiply then an add). */
export function axpy(y: usize, x: usize, a: f32, n: i32): void {
  const end = (<usize>n & ~3) << 2;
  const av = f32x4.splat(a);
  for (let i: usize = 0; i < end; i += 16) v128.store(y + i, f32x4.add(v128.load(y + i), f32x4.mul(av, v128.load(x + i))));
  for (let i = end; i < <usize>n << 2; i += 4) store<f32>(y + i, load<f32>(y + i) + a * load<f32>(x + i));
}

