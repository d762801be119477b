// The recurrences' element-wise gate work, one forward/backward pair per cell kind (PyTorch's gate
// order), for B rows of H floats, H % 4 == 0. `saved` is the (B, H) buffer a step keeps for its
// backward pass: the GRU's gh_n + bh_n, d2l's GRU's r h, the LSTM's tanh(c').

import { exp4, sigmoid4, tanh4 } from './math';

/** A gate's pre-activation: x + b_ih + h W_hh + b_hh, at byte `o` of a row starting at `row`. */
// @ts-ignore: decorator
@inline
function preact(x: usize, gh: usize, bx: usize, bh: usize, row: usize, o: usize): v128 {
  return f32x4.add(f32x4.add(v128.load(x + row + o), v128.load(bx + o)), f32x4.add(v128.load(gh + row + o), v128.load(bh + o)));
}

/**
 * One forward step of PyTorch's GRU for B rows: r, z = sigmoid(x + bx + gh + bh),
 * n = tanh(x_n + bx_n + r (gh_n + bh_n)), h' = (1 - z) n + z h. Saves [r, z, n] to acts and
 * gh_n + bh_n to saved for the backward pass.
 */
export function gruForward(x: usize, gh: usize, bx: usize, bh: usize, hPrev: usize, hNext: usize, acts: usize, saved: usize, B: i32, H: i32): void {
  const H4 = <usize>H << 2;
  for (let bi = 0; bi < B; bi++) {
    const row = <usize>bi * 3 * H4;
    const hrow = <usize>bi * H4;
    // Two groups of lanes (j and k = j + 4 floats) statement by statement: each group is one long
    // chain (r feeds n), and the engine keeps the source's order, so side by side the two chains
    // overlap (about 30% faster than one group at a time; the same arithmetic, so the same bits).
    // Where H % 8 == 4 the row's last group is paired with itself: it is stored twice, the same.
    for (let j: usize = 0; j < H4; j += 32) {
      const k = min(j + 16, H4 - 16);
      const r = sigmoid4(preact(x, gh, bx, bh, row, j));
      const r2 = sigmoid4(preact(x, gh, bx, bh, row, k));
      // z and 1 - z = e z from the same e = exp(-a): 1 - z stays accurate where z rounds to near 1.
      const ez = exp4(f32x4.neg(preact(x, gh, bx, bh, row, H4 + j)));
      const ez2 = exp4(f32x4.neg(preact(x, gh, bx, bh, row, H4 + k)));
      const z = f32x4.div(f32x4.splat(1.0), f32x4.add(f32x4.splat(1.0), ez));
      const z2 = f32x4.div(f32x4.splat(1.0), f32x4.add(f32x4.splat(1.0), ez2));
      const no: usize = (H4 << 1) + j;
      const no2: usize = (H4 << 1) + k;
      const ghn = f32x4.add(v128.load(gh + row + no), v128.load(bh + no));
      const ghn2 = f32x4.add(v128.load(gh + row + no2), v128.load(bh + no2));
      const n = tanh4(f32x4.add(f32x4.add(v128.load(x + row + no), v128.load(bx + no)), f32x4.mul(r, ghn)));
      const n2 = tanh4(f32x4.add(f32x4.add(v128.load(x + row + no2), v128.load(bx + no2)), f32x4.mul(r2, ghn2)));
      gruStore(hPrev, hNext, acts, saved, row, hrow, H4, j, r, z, f32x4.mul(ez, z), n, ghn);
      gruStore(hPrev, hNext, acts, saved, row, hrow, H4, k, r2, z2, f32x4.mul(ez2, z2), n2, ghn2);
    }
  }
}

/** A GRU step's results for 4 lanes at byte j: [r, z, n] to acts, gh_n + bh_n to saved, h' = (1 - z) n + z h. */
// @ts-ignore: decorator
@inline
function gruStore(hPrev: usize, hNext: usize, acts: usize, saved: usize, row: usize, hrow: usize, H4: usize, j: usize, r: v128, z: v128, omz: v128, n: v128, ghn: v128): void {
  v128.store(acts + row + j, r);
  v128.store(acts + row + H4 + j, z);
  v128.store(acts + row + (H4 << 1) + j, n);
  v128.store(saved + hrow + j, ghn);
  v128.store(hNext + hrow + j, f32x4.add(f32x4.mul(omz, n), f32x4.mul(z, v128.load(hPrev + hrow + j))));
}

/**
 * The GRU step backwards from dh (B, H): the pre-activation gradients seen by the input
 * projection (dx) and by the recurrent matmul (dg; they differ in the candidate, r * dn),
 * and dh_{t-1}'s direct part dh z. The bias gradients are column sums of dx and dg, taken by
 * the caller after the pass.
 */
export function gruBackward(acts: usize, saved: usize, hPrev: usize, dh: usize, dx: usize, dg: usize, dhPrev: usize, B: i32, H: i32): void {
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
      const drp = f32x4.mul(f32x4.mul(dnp, v128.load(saved + hrow + j)), f32x4.mul(r, f32x4.sub(one, r)));
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
 * blocks. Saves r and z to acts and r h to saved, the input of the candidate's product (r h) W_n.
 */
export function gruResetBeforeGates(x: usize, gh: usize, bx: usize, bh: usize, hPrev: usize, acts: usize, saved: usize, B: i32, H: i32): void {
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
      v128.store(saved + hrow + j, f32x4.mul(r, v128.load(hPrev + hrow + j)));
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
  // Two groups of lanes side by side, as in gruForward (the last group paired with itself where
  // B H % 8 == 4); a pair may span two rows, each group takes its own columns' biases.
  for (let i: usize = 0; i < end; i += 32) {
    const i2 = min(i + 16, end - 16);
    const j = i % H4;
    const j2 = i2 % H4;
    const a = f32x4.add(f32x4.add(v128.load(x + i), v128.load(bx + j)), f32x4.add(v128.load(gh + i), v128.load(bh + j)));
    const a2 = f32x4.add(f32x4.add(v128.load(x + i2), v128.load(bx + j2)), f32x4.add(v128.load(gh + i2), v128.load(bh + j2)));
    const h = tanh4(a);
    const h2 = tanh4(a2);
    v128.store(hNext + i, h);
    v128.store(hNext + i2, h2);
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
 * Saves the gates to acts and tanh(c') to saved.
 */
export function lstmForward(x: usize, gh: usize, bx: usize, bh: usize, cPrev: usize, cNext: usize, hNext: usize, acts: usize, saved: usize, B: i32, H: i32): void {
  const H4 = <usize>H << 2;
  for (let bi = 0; bi < B; bi++) {
    const row = <usize>bi * 4 * H4;
    const hrow = <usize>bi * H4;
    // Two groups of lanes side by side, as in gruForward (the last paired with itself where H % 8 == 4).
    for (let j: usize = 0; j < H4; j += 32) {
      const k = min(j + 16, H4 - 16);
      const ig = sigmoid4(preact(x, gh, bx, bh, row, j));
      const ig2 = sigmoid4(preact(x, gh, bx, bh, row, k));
      const fg = sigmoid4(preact(x, gh, bx, bh, row, H4 + j));
      const fg2 = sigmoid4(preact(x, gh, bx, bh, row, H4 + k));
      const gg = tanh4(preact(x, gh, bx, bh, row, (H4 << 1) + j));
      const gg2 = tanh4(preact(x, gh, bx, bh, row, (H4 << 1) + k));
      const og = sigmoid4(preact(x, gh, bx, bh, row, H4 * 3 + j));
      const og2 = sigmoid4(preact(x, gh, bx, bh, row, H4 * 3 + k));
      const c = f32x4.add(f32x4.mul(fg, v128.load(cPrev + hrow + j)), f32x4.mul(ig, gg));
      const c2 = f32x4.add(f32x4.mul(fg2, v128.load(cPrev + hrow + k)), f32x4.mul(ig2, gg2));
      const t = tanh4(c);
      const t2 = tanh4(c2);
      lstmStore(cNext, hNext, acts, saved, row, hrow, H4, j, ig, fg, gg, og, c, t);
      lstmStore(cNext, hNext, acts, saved, row, hrow, H4, k, ig2, fg2, gg2, og2, c2, t2);
    }
  }
}

/** An LSTM step's results for 4 lanes at byte j: the gates to acts, c', tanh(c') to saved, h' = o tanh(c'). */
// @ts-ignore: decorator
@inline
function lstmStore(cNext: usize, hNext: usize, acts: usize, saved: usize, row: usize, hrow: usize, H4: usize, j: usize, ig: v128, fg: v128, gg: v128, og: v128, c: v128, t: v128): void {
  v128.store(acts + row + j, ig);
  v128.store(acts + row + H4 + j, fg);
  v128.store(acts + row + (H4 << 1) + j, gg);
  v128.store(acts + row + H4 * 3 + j, og);
  v128.store(cNext + hrow + j, c);
  v128.store(saved + hrow + j, t);
  v128.store(hNext + hrow + j, f32x4.mul(og, t));
}

/**
 * The LSTM step backwards from dh and the running dc (updated in place to dc_{t-1}): the gate
 * pre-activation gradients dx (also the recurrent matmul's). The bias gradient is dx's column
 * sums, taken by the caller after the pass.
 */
export function lstmBackward(acts: usize, saved: usize, cPrev: usize, dh: usize, dc: usize, dx: usize, B: i32, H: i32): void {
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
      const t = v128.load(saved + hrow + j);
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
