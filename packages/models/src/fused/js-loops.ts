import * as tf from '@tensorflow/tfjs-core';
import { addRowsByIds, stepInputs } from './gather.js';
import type { Pass, PassGrads, PassResult } from './pass.js';

/** rows x k (row-major, in JS) times a k x n weight tensor, through the backend's matmul. */
function matmulRows(a: Float32Array, rows: number, k: number, w: tf.Tensor2D): Float32Array {
  const at = tf.tensor2d(a, [rows, k]);
  const y = tf.matMul(at, w);
  const out = y.dataSync() as Float32Array;
  tf.dispose([at, y]);
  return out;
}

/** Columns [from, to) of a row-major (rows, n) array. */
function columns(a: Float32Array, rows: number, n: number, from: number, to: number): Float32Array {
  const out = new Float32Array(rows * (to - from));
  for (let i = 0; i < rows; i++) out.set(a.subarray(i * n + from, i * n + to), i * (to - from));
  return out;
}

/**
 * A fused recurrence on plain loops over typed arrays: each step's gate work is its record's JS
 * step, the per-step products run on the backend's matmul, and the backward pass forms dW_hh
 * of all steps as one matmul. The reference and the fallback of the wasm kernels.
 */
export function jsRecurrence(p: Pass): PassResult {
  const { spec, T, B, H, ids } = p;
  if (p.xin) throw new Error('jsRecurrence: dense inputs are projected before the JS loops (fusedRecurrence does).');
  const GH = spec.gates * H;
  const BH = B * H;
  const cols = spec.recurrentGates * H; // columns of the per-step product h W_hh
  let xpv = stepInputs(p.xp, ids);
  if (p.bx) {
    // The loops read x + b_ih from one array.
    const bxv = p.bx.dataSync() as Float32Array;
    xpv = xpv.map((v, i) => v + bxv[i % GH]!);
  }
  const bv = p.b.dataSync() as Float32Array;
  // Per step (row t): h_{t-1} (hs[0] = h0), the LSTM's c_{t-1}, gates, and what `saved` keeps.
  const hs = new Float32Array((T + 1) * BH);
  hs.set(p.state[0]!.dataSync() as Float32Array);
  const cs = new Float32Array(spec.states === 2 ? (T + 1) * BH : 0);
  if (spec.states === 2) cs.set(p.state[1]!.dataSync() as Float32Array);
  const acts = new Float32Array(T * B * GH);
  const saved = new Float32Array(spec.saved ? T * BH : 0);
  const [Wh, Wrest] = cols < GH ? (tf.split(p.W, [cols, GH - cols], 1) as [tf.Tensor2D, tf.Tensor2D]) : [p.W, null];
  const rows = (a: Float32Array, t: number, n: number) => a.subarray(t * n, (t + 1) * n);
  const restProduct = (r: Float32Array) => matmulRows(r, B, H, Wrest!);
  for (let t = 0; t < T; t++) {
    const hPrev = rows(hs, t, BH);
    spec.js.forward({
      B,
      H,
      x: rows(xpv, t, B * GH),
      gh: matmulRows(hPrev, B, H, Wh),
      b: bv,
      hPrev,
      hNext: rows(hs, t + 1, BH),
      cPrev: rows(cs, t, spec.states === 2 ? BH : 0),
      cNext: rows(cs, t + 1, spec.states === 2 ? BH : 0),
      acts: rows(acts, t, B * GH),
      saved: rows(saved, t, spec.saved ? BH : 0),
      restProduct,
    });
  }
  if (Wrest) tf.dispose([Wh, Wrest]);
  const packed = new Float32Array((T + spec.states - 1) * BH);
  packed.set(hs.subarray(BH));
  if (spec.states === 2) packed.set(cs.subarray(T * BH), T * BH);

  const gradFunc = (dy: tf.Tensor): PassGrads => {
    const dyv = dy.dataSync() as Float32Array;
    const WT = tf.transpose(p.W) as tf.Tensor2D; // (G*H, H): plain matmuls for dh
    const [WhT, WrestT] = cols < GH ? (tf.split(WT, [cols, GH - cols], 0) as [tf.Tensor2D, tf.Tensor2D]) : [WT, null];
    const restProductT = (r: Float32Array) => matmulRows(r, B, H, WrestT!);
    const dxp = new Float32Array(T * B * GH); // d(pre-activation) seen by the input projection
    const dgAll = new Float32Array(T * B * GH); // d(pre-activation) seen by the recurrent product
    const db = new Float32Array(GH);
    const dh = dyv.slice((T - 1) * BH, T * BH);
    const dc = spec.states === 2 ? dyv.slice(T * BH, (T + 1) * BH) : new Float32Array(0);
    const dhPrev = new Float32Array(BH);
    for (let t = T - 1; t >= 0; t--) {
      const dg = rows(dgAll, t, B * GH);
      dhPrev.fill(0);
      spec.js.backward({
        B,
        H,
        acts: rows(acts, t, B * GH),
        saved: rows(saved, t, spec.saved ? BH : 0),
        hPrev: rows(hs, t, BH),
        hOut: rows(hs, t + 1, BH),
        cPrev: rows(cs, t, spec.states === 2 ? BH : 0),
        dh,
        dc,
        dx: rows(dxp, t, B * GH),
        dg,
        dhPrev,
        restProductT,
      });
      // db_hh sums dG over all steps and rows (cheaper here than a tf.sum, which transposes first).
      for (let bi = 0; bi < B; bi++) {
        const o = bi * GH;
        for (let j = 0; j < GH; j++) db[j] = db[j]! + dg[o + j]!;
      }
      // dh_{t-1}: the step's direct part, through W_hh, and what step t-1's own output received.
      const back = matmulRows(cols < GH ? columns(dg, B, GH, 0, cols) : dg, B, cols, WhT);
      if (t > 0) {
        const dyPrev = rows(dyv, t - 1, BH);
        for (let i = 0; i < BH; i++) dh[i] = dhPrev[i]! + back[i]! + dyPrev[i]!;
      } else {
        for (let i = 0; i < BH; i++) dh[i] = dhPrev[i]! + back[i]!;
      }
    }
    // Weight gradients of all steps at once: inputs of the recurrent product (T*B, H)^T times dG;
    // the rest blocks' input is what the step saved (d2l's GRU: r h).
    const dgT = tf.tensor2d(dgAll, [T * B, GH]);
    const hIn = tf.tensor2d(hs.subarray(0, T * BH), [T * B, H]);
    let dW: tf.Tensor;
    if (cols < GH) {
      const restIn = tf.tensor2d(saved, [T * B, H]);
      const [dgH, dgRest] = tf.split(dgT, [cols, GH - cols], 1) as [tf.Tensor2D, tf.Tensor2D];
      const parts = [tf.matMul(hIn, dgH, true, false), tf.matMul(restIn, dgRest, true, false)];
      dW = tf.concat(parts, 1);
      tf.dispose([restIn, dgH, dgRest, ...parts]);
      tf.dispose([WhT, WrestT!]);
    } else {
      dW = tf.matMul(hIn, dgT, true, false);
    }
    tf.dispose([dgT, hIn, WT]);
    let dbx: tf.Tensor1D | null = null;
    if (p.bx) {
      const s = new Float32Array(GH);
      for (let i = 0; i < dxp.length; i += GH) for (let j = 0; j < GH; j++) s[j] = s[j]! + dxp[i + j]!;
      dbx = tf.tensor1d(s);
    }
    return {
      dxp: ids ? addRowsByIds(dxp, ids, p.xp.shape[0]!) : tf.tensor3d(dxp, [T, B, GH]),
      dState: spec.states === 2 ? [tf.tensor2d(dh, [B, H]), tf.tensor2d(dc, [B, H])] : [tf.tensor2d(dh, [B, H])],
      dW,
      db: tf.tensor1d(db),
      dbx,
      dxin: null, // dense inputs are projected before the JS loops (fusedRecurrence)
    };
  };
  return { packed: tf.tensor3d(packed, [T + spec.states - 1, B, H]), gradFunc };
}
