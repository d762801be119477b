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

/**
 * One step of TensorFlow.js's Adam (`tf.train.adam`, the same float32 operations in the same
 * order, so the same bits) over n floats: g' = g scale (clipping), m = m beta1 + g' (1 - beta1),
 * v = v beta2 + g'^2 (1 - beta2), p += -lr (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps).
 * No fused multiply-add, whatever the build: each product is rounded, as TensorFlow.js rounds it.
 */
export function adam(
  p: usize,
  g: usize,
  m: usize,
  v: usize,
  n: i32,
  scale: f32,
  beta1: f32,
  oneMinusBeta1: f32,
  beta2: f32,
  oneMinusBeta2: f32,
  oneMinusPower1: f32,
  oneMinusPower2: f32,
  epsilon: f32,
  negLr: f32,
): void {
  const end = (<usize>n & ~3) << 2;
  const s = f32x4.splat(scale);
  const b1 = f32x4.splat(beta1);
  const c1 = f32x4.splat(oneMinusBeta1);
  const b2 = f32x4.splat(beta2);
  const c2 = f32x4.splat(oneMinusBeta2);
  const d1 = f32x4.splat(oneMinusPower1);
  const d2 = f32x4.splat(oneMinusPower2);
  const e = f32x4.splat(epsilon);
  const lr = f32x4.splat(negLr);
  for (let i: usize = 0; i < end; i += 16) {
    const gi = f32x4.mul(v128.load(g + i), s);
    const mi = f32x4.add(f32x4.mul(v128.load(m + i), b1), f32x4.mul(gi, c1));
    const vi = f32x4.add(f32x4.mul(v128.load(v + i), b2), f32x4.mul(f32x4.mul(gi, gi), c2));
    v128.store(m + i, mi);
    v128.store(v + i, vi);
    const step = f32x4.div(f32x4.div(mi, d1), f32x4.add(f32x4.sqrt(f32x4.div(vi, d2)), e));
    v128.store(p + i, f32x4.add(f32x4.mul(step, lr), v128.load(p + i)));
  }
  for (let i = end; i < <usize>n << 2; i += 4) {
    const gi = load<f32>(g + i) * scale;
    const mi = load<f32>(m + i) * beta1 + gi * oneMinusBeta1;
    const vi = load<f32>(v + i) * beta2 + gi * gi * oneMinusBeta2;
    store<f32>(m + i, mi);
    store<f32>(v + i, vi);
    const step = mi / oneMinusPower1 / (Mathf.sqrt(vi / oneMinusPower2) + epsilon);
    store<f32>(p + i, step * negLr + load<f32>(p + i));
  }
}
