// The kernels' arithmetic on f32x4 lanes: exp, sigmoid and tanh for the gates, the wide exp for
// softmax, a multiply-add that fuses under relaxed SIMD, and the element-wise kernels built on them.

// Cephes' expf for f32 lanes: x = n ln2 + r, exp(r) by a degree-6 polynomial, 2^n through the
// exponent bits. n is rounded by adding 1.5 * 2^23 (the sum's low bits are n), which also gives
// it as an integer; pmin/pmax are single instructions where min/max carry NaN fix-ups.
const EXP_MAGIC: f32 = 12582912.0;

/** x log2(e) + 1.5 * 2^23: n as a float is this minus the magic number, and as an integer its low bits. */
// @ts-ignore: decorator
@inline
function expShifted(x: v128): v128 {
  return f32x4.add(f32x4.mul(x, f32x4.splat(1.44269504089)), f32x4.splat(EXP_MAGIC));
}

/** exp(r) for x = n ln2 + r, n from `expShifted(x)`. */
// @ts-ignore: decorator
@inline
function expReduced(x: v128, shifted: v128): v128 {
  const n = f32x4.sub(shifted, f32x4.splat(EXP_MAGIC));
  let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  return f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), f32x4.splat(1.0));
}

// exp(x) for the gates, on [-87, 88]: relative error about 2e-7.
// @ts-ignore: decorator
@inline
export function exp4(x: v128): v128 {
  x = f32x4.pmin(f32x4.pmax(x, f32x4.splat(-87.0)), f32x4.splat(88.0));
  const shifted = expShifted(x);
  // The integer n sits in shifted's low mantissa bits: 2^n = (n + 127) << 23.
  const scale = i32x4.shl(i32x4.add(i32x4.sub(shifted, f32x4.splat(EXP_MAGIC)), i32x4.splat(127)), 23);
  return f32x4.mul(expReduced(x, shifted), scale);
}

// exp(x) over all of f32 as Math.exp rounded to f32 gives it: Infinity above about 88.72, denormals
// down to 0 below about -87.3, NaN kept. The same polynomial on [-104, 89] (below -104 the result
// rounds to 0, above 88.73 to Infinity), with 2^n applied as two factors so neither overflows and a
// denormal result is rounded once. exp4 keeps its narrower clamp for the gates.
// @ts-ignore: decorator
@inline
export function expWide4(x: v128): v128 {
  x = f32x4.pmin(f32x4.pmax(x, f32x4.splat(-104.0)), f32x4.splat(89.0));
  const shifted = expShifted(x);
  const p = expReduced(x, shifted);
  // n in [-150, 129]: 2^n = 2^n1 2^n2 with n1 = n >> 1, each factor a normal float.
  const ni = i32x4.sub(shifted, f32x4.splat(EXP_MAGIC));
  const n1 = i32x4.shr_s(ni, 1);
  const bias = i32x4.splat(127);
  const s1 = i32x4.shl(i32x4.add(n1, bias), 23);
  const s2 = i32x4.shl(i32x4.add(i32x4.sub(ni, n1), bias), 23);
  return f32x4.mul(f32x4.mul(p, s1), s2);
}

// @ts-ignore: decorator
@inline
export function sigmoid4(x: v128): v128 {
  const one = f32x4.splat(1.0);
  return f32x4.div(one, f32x4.add(one, exp4(f32x4.neg(x))));
}

// tanh: Cephes' odd polynomial below |x| 0.625 (where 1 - 2/(e^2x + 1) cancels), that formula above.
// @ts-ignore: decorator
@inline
export function tanh4(x: v128): v128 {
  const one = f32x4.splat(1.0);
  const big = f32x4.sub(one, f32x4.div(f32x4.splat(2.0), f32x4.add(exp4(f32x4.add(x, x)), one)));
  const z = f32x4.mul(x, x);
  let p = f32x4.splat(-5.70498872745e-3);
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(2.06390887954e-2));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(-5.37397155531e-2));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(1.33314422036e-1));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(-3.33332819422e-1));
  const small = f32x4.add(f32x4.mul(f32x4.mul(p, z), x), x);
  return v128.bitselect(small, big, f32x4.lt(f32x4.abs(x), f32x4.splat(0.625)));
}

/** a b + c, fused into one rounding where the module is built with relaxed SIMD (RELAXED = 1). */
// @ts-ignore: decorator
@inline
export function madd(a: v128, b: v128, c: v128): v128 {
  // @ts-ignore: RELAXED is a compile-time constant (asc --use RELAXED=0|1)
  return RELAXED ? f32x4.relaxed_madd(a, b, c) : f32x4.add(f32x4.mul(a, b), c);
}

/** out = a + b (+ c when c != 0), n floats, n % 4 == 0. */
export function add3(out: usize, a: usize, b: usize, c: usize, n: i32): void {
  const end = <usize>n << 2;
  for (let i: usize = 0; i < end; i += 16) {
    let s = f32x4.add(v128.load(a + i), v128.load(b + i));
    if (c != 0) s = f32x4.add(s, v128.load(c + i));
    v128.store(out + i, s);
  }
}

/** The last `rest` (1-3) floats at x as one vector, the other lanes 0. */
export function loadPartial(x: usize, rest: i32): v128 {
  let v = f32x4.splat(0.0);
  v = f32x4.replace_lane(v, 0, load<f32>(x));
  if (rest > 1) v = f32x4.replace_lane(v, 1, load<f32>(x + 4));
  if (rest > 2) v = f32x4.replace_lane(v, 2, load<f32>(x + 8));
  return v;
}

/** The first `rest` (1-3) lanes of y to out. */
export function storePartial(out: usize, y: v128, rest: i32): void {
  store<f32>(out, f32x4.extract_lane(y, 0));
  if (rest > 1) store<f32>(out + 4, f32x4.extract_lane(y, 1));
  if (rest > 2) store<f32>(out + 8, f32x4.extract_lane(y, 2));
}

/** out = exp(x) element-wise (expWide4), n floats, any n; out may be x. Two vectors a turn, as tanhFloats; the last n % 4 go as one partial vector. */
export function expFloats(out: usize, x: usize, n: i32): void {
  const end = (<usize>n & ~3) << 2;
  const end2 = (<usize>n & ~7) << 2;
  let i: usize = 0;
  for (; i < end2; i += 32) {
    const a = expWide4(v128.load(x + i));
    const b = expWide4(v128.load(x + i, 16));
    v128.store(out + i, a);
    v128.store(out + i, b, 16);
  }
  for (; i < end; i += 16) v128.store(out + i, expWide4(v128.load(x + i)));
  const rest = n & 3;
  if (rest != 0) storePartial(out + end, expWide4(loadPartial(x + end, rest)), rest);
}
