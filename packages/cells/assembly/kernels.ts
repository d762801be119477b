// rnnkit's WebAssembly SIMD kernels, 4 lanes at a time: the element-wise gate work of the fused
// recurrences (one forward/backward pair per cell kind), a matmul on packed panels, and the row
// gather, scatter-add and transpose around them. AssemblyScript, compiled by
// `pnpm --filter @rnnkit/cells build:wasm` into src/kernels/simd-module.generated.ts. Arguments
// are byte offsets into this module's memory; the caller lays the buffers out and needs H % 4 == 0.

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
function exp4(x: v128): v128 {
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
function expWide4(x: v128): v128 {
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
function sigmoid4(x: v128): v128 {
  const one = f32x4.splat(1.0);
  return f32x4.div(one, f32x4.add(one, exp4(f32x4.neg(x))));
}

// tanh: Cephes' odd polynomial below |x| 0.625 (where 1 - 2/(e^2x + 1) cancels), that formula above.
// @ts-ignore: decorator
@inline
function tanh4(x: v128): v128 {
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
function madd(a: v128, b: v128, c: v128): v128 {
  // @ts-ignore: RELAXED is a compile-time constant (asc --use RELAXED=0|1)
  return RELAXED ? f32x4.relaxed_madd(a, b, c) : f32x4.add(f32x4.mul(a, b), c);
}

/** A gate's pre-activation: x + b_ih + h W_hh + b_hh, at byte `o` of a row starting at `row`. */
// @ts-ignore: decorator
@inline
function preact(x: usize, gh: usize, bx: usize, bh: usize, row: usize, o: usize): v128 {
  return f32x4.add(f32x4.add(v128.load(x + row + o), v128.load(bx + o)), f32x4.add(v128.load(gh + row + o), v128.load(bh + o)));
}

/**
 * One forward step of PyTorch's GRU for B rows: r, z = sigmoid(x + bx + gh + bh),
 * n = tanh(x_n + bx_n + r (gh_n + bh_n)), h' = (1 - z) n + z h. Saves [r, z, n] to acts and
 * gh_n + bh_n to ex for the backward pass.
 */
export function gruForward(x: usize, gh: usize, bx: usize, bh: usize, hPrev: usize, hNext: usize, acts: usize, ex: usize, B: i32, H: i32): void {
  const H4 = <usize>H << 2;
  for (let bi = 0; bi < B; bi++) {
    const row = <usize>bi * 3 * H4;
    const hrow = <usize>bi * H4;
    for (let j: usize = 0; j < H4; j += 16) {
      const r = sigmoid4(preact(x, gh, bx, bh, row, j));
      const zo: usize = H4 + j;
      // z and 1 - z = e z from the same e = exp(-a): 1 - z stays accurate where z rounds to near 1.
      const ez = exp4(f32x4.neg(preact(x, gh, bx, bh, row, zo)));
      const z = f32x4.div(f32x4.splat(1.0), f32x4.add(f32x4.splat(1.0), ez));
      const omz = f32x4.mul(ez, z);
      const no: usize = (H4 << 1) + j;
      const ghn = f32x4.add(v128.load(gh + row + no), v128.load(bh + no));
      const n = tanh4(f32x4.add(f32x4.add(v128.load(x + row + no), v128.load(bx + no)), f32x4.mul(r, ghn)));
      v128.store(acts + row + j, r);
      v128.store(acts + row + zo, z);
      v128.store(acts + row + no, n);
      v128.store(ex + hrow + j, ghn);
      v128.store(hNext + hrow + j, f32x4.add(f32x4.mul(omz, n), f32x4.mul(z, v128.load(hPrev + hrow + j))));
    }
  }
}

/**
 * The GRU step backwards from dh (B, H): the pre-activation gradients seen by the input
 * projection (dx) and by the recurrent matmul (dg; they differ in the candidate, r * dn),
 * and dh_{t-1}'s direct part dh z. The bias gradients are column sums of dx and dg, taken by
 * the caller after the pass.
 */
export function gruBackward(acts: usize, ex: usize, hPrev: usize, dh: usize, dx: usize, dg: usize, dhPrev: usize, B: i32, H: i32): void {
  const H4 = <usize>H << 2;
  const one = f32x4.splat(1.0);
  for (let bi = 0; bi < B; bi++) {
    const row = <usize>bi * 3 * H4;
    const hrow = <usize>bi * H4;
    for (let j: usize = 0; j < H4; j += 16) {
      const zo: usize = H4 + j;
      const no: usize = (H4 << 1) + j;
      const r = v128.load(acts + row + j);
      const z = v128.load(acts + row + zo);
      const n = v128.load(acts + row + no);
      const d = v128.load(dh + hrow + j);
      v128.store(dhPrev + hrow + j, f32x4.mul(d, z));
      const dzp = f32x4.mul(f32x4.mul(d, f32x4.sub(v128.load(hPrev + hrow + j), n)), f32x4.mul(z, f32x4.sub(one, z)));
      const dnp = f32x4.mul(f32x4.mul(d, f32x4.sub(one, z)), f32x4.sub(one, f32x4.mul(n, n)));
      const drp = f32x4.mul(f32x4.mul(dnp, v128.load(ex + hrow + j)), f32x4.mul(r, f32x4.sub(one, r)));
      const dgn = f32x4.mul(dnp, r);
      v128.store(dx + row + j, drp);
      v128.store(dx + row + zo, dzp);
      v128.store(dx + row + no, dnp);
      v128.store(dg + row + j, drp);
      v128.store(dg + row + zo, dzp);
      v128.store(dg + row + no, dgn);
    }
  }
}

/**
 * d2l's GRU, whose reset gate multiplies h before the candidate's own product, first half of a
 * forward step for B rows: r, z = sigmoid(x + bx + gh + bh), gh (B, 2H) = h W_hh's r and z
 * blocks. Saves r and z to acts and r h to rh, the input of the candidate's product (r h) W_n.
 */
export function gruResetBeforeGates(x: usize, gh: usize, bx: usize, bh: usize, hPrev: usize, acts: usize, rh: usize, B: i32, H: i32): void {
  const H4 = <usize>H << 2;
  for (let bi = 0; bi < B; bi++) {
    const row = <usize>bi * 3 * H4;
    const grow = <usize>bi * 2 * H4;
    const hrow = <usize>bi * H4;
    for (let j: usize = 0; j < H4; j += 16) {
      const zo: usize = H4 + j;
      const r = sigmoid4(f32x4.add(f32x4.add(v128.load(x + row + j), v128.load(bx + j)), f32x4.add(v128.load(gh + grow + j), v128.load(bh + j))));
      const z = sigmoid4(f32x4.add(f32x4.add(v128.load(x + row + zo), v128.load(bx + zo)), f32x4.add(v128.load(gh + grow + zo), v128.load(bh + zo))));
      v128.store(acts + row + j, r);
      v128.store(acts + row + zo, z);
      v128.store(rh + hrow + j, f32x4.mul(r, v128.load(hPrev + hrow + j)));
    }
  }
}

/**
 * The second half: n = tanh(x_n + bx_n + nPre + bh_n) with nPre (B, H) = (r h) W_n, and
 * h' = (1 - z) n + z h. Saves n to acts.
 */
export function gruResetBeforeCandidate(x: usize, nPre: usize, bx: usize, bh: usize, hPrev: usize, hNext: usize, acts: usize, B: i32, H: i32): void {
  const H4 = <usize>H << 2;
  const one = f32x4.splat(1.0);
  for (let bi = 0; bi < B; bi++) {
    const row = <usize>bi * 3 * H4;
    const hrow = <usize>bi * H4;
    for (let j: usize = 0; j < H4; j += 16) {
      const no: usize = (H4 << 1) + j;
      const n = tanh4(f32x4.add(f32x4.add(v128.load(x + row + no), v128.load(bx + no)), f32x4.add(v128.load(nPre + hrow + j), v128.load(bh + no))));
      const z = v128.load(acts + row + H4 + j);
      v128.store(acts + row + no, n);
      v128.store(hNext + hrow + j, f32x4.add(f32x4.mul(f32x4.sub(one, z), n), f32x4.mul(z, v128.load(hPrev + hrow + j))));
    }
  }
}

/**
 * d2l's GRU backwards, first half, from dh: the z and n pre-activation gradients to dx (they are
 * also the recurrent product's), dn (B, H) a copy of the n block for the product dn W_n^T, and
 * dh_{t-1}'s direct part dh z.
 */
export function gruResetBeforeBackwardCandidate(acts: usize, hPrev: usize, dh: usize, dx: usize, dn: usize, dhPrev: usize, B: i32, H: i32): void {
  const H4 = <usize>H << 2;
  const one = f32x4.splat(1.0);
  for (let bi = 0; bi < B; bi++) {
    const row = <usize>bi * 3 * H4;
    const hrow = <usize>bi * H4;
    for (let j: usize = 0; j < H4; j += 16) {
      const zo: usize = H4 + j;
      const no: usize = (H4 << 1) + j;
      const z = v128.load(acts + row + zo);
      const n = v128.load(acts + row + no);
      const d = v128.load(dh + hrow + j);
      v128.store(dhPrev + hrow + j, f32x4.mul(d, z));
      const dzp = f32x4.mul(f32x4.mul(f32x4.mul(d, f32x4.sub(v128.load(hPrev + hrow + j), n)), z), f32x4.sub(one, z));
      const dnp = f32x4.mul(f32x4.mul(d, f32x4.sub(one, z)), f32x4.sub(one, f32x4.mul(n, n)));
      v128.store(dx + row + zo, dzp);
      v128.store(dx + row + no, dnp);
      v128.store(dn + hrow + j, dnp);
    }
  }
}

/**
 * The second half, from drh (B, H) = dn W_n^T, the gradient of r h: dh_{t-1} += drh r, the r
 * pre-activation gradient to dx, the r and z blocks copied to drz (B, 2H) for the product
 * drz W_rz^T. The bias gradient is dx's column sums, taken by the caller after the pass.
 */
export function gruResetBeforeBackwardGates(acts: usize, hPrev: usize, drh: usize, dx: usize, drz: usize, dhPrev: usize, B: i32, H: i32): void {
  const H4 = <usize>H << 2;
  const one = f32x4.splat(1.0);
  for (let bi = 0; bi < B; bi++) {
    const row = <usize>bi * 3 * H4;
    const grow = <usize>bi * 2 * H4;
    const hrow = <usize>bi * H4;
    for (let j: usize = 0; j < H4; j += 16) {
      const zo: usize = H4 + j;
      const r = v128.load(acts + row + j);
      const g = v128.load(drh + hrow + j);
      v128.store(dhPrev + hrow + j, f32x4.add(v128.load(dhPrev + hrow + j), f32x4.mul(g, r)));
      const drp = f32x4.mul(f32x4.mul(f32x4.mul(g, v128.load(hPrev + hrow + j)), r), f32x4.sub(one, r));
      const dzp = v128.load(dx + row + zo);
      v128.store(dx + row + j, drp);
      v128.store(drz + grow + j, drp);
      v128.store(drz + grow + zo, dzp);
    }
  }
}

/** One step of the tanh RNN for B rows: h' = tanh(x + bx + gh + bh). */
export function rnnForward(x: usize, gh: usize, bx: usize, bh: usize, hNext: usize, B: i32, H: i32): void {
  const end = <usize>(B * H) << 2;
  const H4 = <usize>H << 2;
  for (let i: usize = 0; i < end; i += 16) {
    const j = i % H4;
    v128.store(hNext + i, tanh4(f32x4.add(f32x4.add(v128.load(x + i), v128.load(bx + j)), f32x4.add(v128.load(gh + i), v128.load(bh + j)))));
  }
}

/**
 * The RNN step backwards: dx = dh (1 - h'^2), which is also the recurrent matmul's. The bias
 * gradient is dx's column sums, taken by the caller after the pass.
 */
export function rnnBackward(hOut: usize, dh: usize, dx: usize, B: i32, H: i32): void {
  const end = <usize>(B * H) << 2;
  const one = f32x4.splat(1.0);
  for (let i: usize = 0; i < end; i += 16) {
    const h = v128.load(hOut + i);
    v128.store(dx + i, f32x4.mul(v128.load(dh + i), f32x4.sub(one, f32x4.mul(h, h))));
  }
}

/**
 * One step of the LSTM for B rows, gates [i, f, g, o]: c' = f c + i g, h' = o tanh(c').
 * Saves the gates to acts and tanh(c') to tc.
 */
export function lstmForward(x: usize, gh: usize, bx: usize, bh: usize, cPrev: usize, cNext: usize, hNext: usize, acts: usize, tc: usize, B: i32, H: i32): void {
  const H4 = <usize>H << 2;
  for (let bi = 0; bi < B; bi++) {
    const row = <usize>bi * 4 * H4;
    const hrow = <usize>bi * H4;
    for (let j: usize = 0; j < H4; j += 16) {
      const fo: usize = H4 + j;
      const go: usize = (H4 << 1) + j;
      const oo: usize = H4 * 3 + j;
      const ig = sigmoid4(preact(x, gh, bx, bh, row, j));
      const fg = sigmoid4(preact(x, gh, bx, bh, row, fo));
      const gg = tanh4(preact(x, gh, bx, bh, row, go));
      const og = sigmoid4(preact(x, gh, bx, bh, row, oo));
      const c = f32x4.add(f32x4.mul(fg, v128.load(cPrev + hrow + j)), f32x4.mul(ig, gg));
      const t = tanh4(c);
      v128.store(acts + row + j, ig);
      v128.store(acts + row + fo, fg);
      v128.store(acts + row + go, gg);
      v128.store(acts + row + oo, og);
      v128.store(cNext + hrow + j, c);
      v128.store(tc + hrow + j, t);
      v128.store(hNext + hrow + j, f32x4.mul(og, t));
    }
  }
}

/**
 * The LSTM step backwards from dh and the running dc (updated in place to dc_{t-1}): the gate
 * pre-activation gradients dx (also the recurrent matmul's). The bias gradient is dx's column
 * sums, taken by the caller after the pass.
 */
export function lstmBackward(acts: usize, tc: usize, cPrev: usize, dh: usize, dc: usize, dx: usize, B: i32, H: i32): void {
  const H4 = <usize>H << 2;
  const one = f32x4.splat(1.0);
  for (let bi = 0; bi < B; bi++) {
    const row = <usize>bi * 4 * H4;
    const hrow = <usize>bi * H4;
    for (let j: usize = 0; j < H4; j += 16) {
      const fo: usize = H4 + j;
      const go: usize = (H4 << 1) + j;
      const oo: usize = H4 * 3 + j;
      const ig = v128.load(acts + row + j);
      const fg = v128.load(acts + row + fo);
      const gg = v128.load(acts + row + go);
      const og = v128.load(acts + row + oo);
      const t = v128.load(tc + hrow + j);
      const d = v128.load(dh + hrow + j);
      const dcv = f32x4.add(v128.load(dc + hrow + j), f32x4.mul(f32x4.mul(d, og), f32x4.sub(one, f32x4.mul(t, t))));
      const di = f32x4.mul(f32x4.mul(dcv, gg), f32x4.mul(ig, f32x4.sub(one, ig)));
      const df = f32x4.mul(f32x4.mul(dcv, v128.load(cPrev + hrow + j)), f32x4.mul(fg, f32x4.sub(one, fg)));
      const dgg = f32x4.mul(f32x4.mul(dcv, ig), f32x4.sub(one, f32x4.mul(gg, gg)));
      const dog = f32x4.mul(f32x4.mul(d, t), f32x4.mul(og, f32x4.sub(one, og)));
      v128.store(dx + row + j, di);
      v128.store(dx + row + fo, df);
      v128.store(dx + row + go, dgg);
      v128.store(dx + row + oo, dog);
      v128.store(dc + hrow + j, f32x4.mul(dcv, fg));
    }
  }
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

/** out = exp(x) element-wise (expWide4), n floats, any n; out may be x. The last n % 4 go as one partial vector. */
export function expFloats(out: usize, x: usize, n: i32): void {
  const end = (<usize>n & ~3) << 2;
  for (let i: usize = 0; i < end; i += 16) v128.store(out + i, expWide4(v128.load(x + i)));
  const rest = n & 3;
  if (rest == 0) return;
  let v = f32x4.splat(0.0);
  v = f32x4.replace_lane(v, 0, load<f32>(x + end));
  if (rest > 1) v = f32x4.replace_lane(v, 1, load<f32>(x + end + 4));
  if (rest > 2) v = f32x4.replace_lane(v, 2, load<f32>(x + end + 8));
  const y = expWide4(v);
  store<f32>(out + end, f32x4.extract_lane(y, 0));
  if (rest > 1) store<f32>(out + end + 4, f32x4.extract_lane(y, 1));
  if (rest > 2) store<f32>(out + end + 8, f32x4.extract_lane(y, 2));
}

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
 * (p - onehot(label)) scale, in place. Its float argument keeps it out of thread jobs (their
 * records hold integers).
 */
export function softmaxCrossEntropyGrad(p: usize, labels: usize, n: i32, ld: i32, scale: f32): void {
  const L = <usize>ld << 2;
  const s = f32x4.splat(scale);
  for (let i = 0; i < n; i++) {
    const row = p + <usize>i * L;
    for (let j: usize = 0; j < L; j += 16) v128.store(row + j, f32x4.mul(v128.load(row + j), s));
    const at = row + (<usize>load<i32>(labels + (<usize>i << 2)) << 2);
    store<f32>(at, load<f32>(at) - scale);
  }
}

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

/** Row i of src (n rows of N floats) added into row ids[i] of out: a row gather's gradient. N % 4 == 0. */
export function addRows(out: usize, src: usize, ids: usize, n: i32, N: i32): void {
  const N4 = <usize>N << 2;
  for (let i = 0; i < n; i++) {
    const dst = out + <usize>load<i32>(ids + (<usize>i << 2)) * N4;
    const from = src + <usize>i * N4;
    for (let j: usize = 0; j < N4; j += 16) v128.store(dst + j, f32x4.add(v128.load(dst + j), v128.load(from + j)));
  }
}

/** out (cols, rows) = src (rows, cols) transposed, in 4 x 4 blocks; rows and cols % 4 == 0. */
export function transpose(out: usize, src: usize, rows: i32, cols: i32): void {
  transposeStrided(out, src, rows, cols, rows);
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
      const a0 = v128.load(p);
      const a1 = v128.load(p + rowBytes);
      const a2 = v128.load(p + 2 * rowBytes);
      const a3 = v128.load(p + 3 * rowBytes);
      const t0 = v128.shuffle<f32>(a0, a1, 0, 4, 1, 5);
      const t1 = v128.shuffle<f32>(a0, a1, 2, 6, 3, 7);
      const t2 = v128.shuffle<f32>(a2, a3, 0, 4, 1, 5);
      const t3 = v128.shuffle<f32>(a2, a3, 2, 6, 3, 7);
      const q = out + <usize>c * colBytes + (<usize>r << 2);
      v128.store(q, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
      v128.store(q + colBytes, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7));
      v128.store(q + 2 * colBytes, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5));
      v128.store(q + 3 * colBytes, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7));
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
      const c = C + <usize>i * L4 + j;
      v128.store(c, c00);
      v128.store(c, c01, 16);
      v128.store(c + L4, c10);
      v128.store(c + L4, c11, 16);
      v128.store(c + 2 * L4, c20);
      v128.store(c + 2 * L4, c21, 16);
      v128.store(c + 3 * L4, c30);
      v128.store(c + 3 * L4, c31, 16);
    }
    for (; i < M; i++) {
      const a0 = A + <usize>i * K4;
      let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
      let b = panel;
      for (let k: usize = 0; k < K4; k += 4) {
        const a = v128.load32_splat(a0 + k);
        c00 = madd(a, v128.load(b), c00);
        c01 = madd(a, v128.load(b, 16), c01);
        b += 32;
      }
      const c = C + <usize>i * L4 + j;
      v128.store(c, c00);
      v128.store(c, c01, 16);
    }
    panel += <usize>K * 32;
  }
  if (j < N4) {
    // The last 4 columns, one row at a time.
    for (let i = 0; i < M; i++) {
      const a0 = A + <usize>i * K4;
      let c00 = f32x4.splat(0);
      let b = panel;
      for (let k: usize = 0; k < K4; k += 4) {
        c00 = madd(v128.load32_splat(a0 + k), v128.load(b), c00);
        b += 16;
      }
      v128.store(C + <usize>i * L4 + j, c00);
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
