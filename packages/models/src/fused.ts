import * as tf from '@tensorflow/tfjs-core';
import { gateKernels, readInto, tensorOfView, type GateKernels } from './wasm-gates.js';

/** Which recurrence a fused op runs. */
export type CellKind = 'rnn' | 'gru' | 'lstm';

/** Gates per cell, in PyTorch's order: GRU [r, z, n], LSTM [i, f, g, o]. */
export const GATES: Record<CellKind, number> = { rnn: 1, gru: 3, lstm: 4 };

export interface RecurrenceOptions {
  kind: CellKind;
  /** GRU only: true applies the reset gate after the recurrent matmul (PyTorch `nn.GRU`), false before it (d2l). */
  resetAfter?: boolean;
  /**
   * The input projection's bias b_ih (G*H), when `xProj` leaves it out: added inside, and its
   * gradient summed with the gate work instead of by a separate broadcast Add and Sum.
   */
  inputBias?: tf.Tensor1D;
  /**
   * Token ids of one-hot inputs, time-major (T*B). `xProj` is then W_ih itself (V, G*H) and each
   * step's input projection is a row of it: the one-hot product without its matmul or a gather
   * tensor. W_ih's gradient is the input gradients added into the rows of their tokens.
   */
  inputIds?: Int32Array;
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
// 1 - 2 / (e^2x + 1): a third faster than V8's Math.tanh, within 1e-16 of it.
const tanh = (x: number): number => 1 - 2 / (Math.exp(2 * x) + 1);

/** rows x k (row-major, in JS) times a k x n weight tensor, through the backend's matmul. */
function matmulRows(a: Float32Array, rows: number, k: number, w: tf.Tensor2D): Float32Array {
  const at = tf.tensor2d(a, [rows, k]);
  const y = tf.matMul(at, w);
  const out = y.dataSync() as Float32Array;
  tf.dispose([at, y]);
  return out;
}

/**
 * One layer, one direction of a recurrent network over a whole sequence, with hand-written
 * backpropagation through time (`tf.customGrad`).
 *
 * `xProj` (T, B, G*H) holds the input projections of all steps (x W_ih, one matmul for the
 * sequence; b_ih too unless passed as `inputBias`), or is W_ih itself with `inputIds`; `Whh`
 * (H, G*H) and `bhh` (G*H) are the recurrent weights. Returns the hidden states of all steps
 * (T, B, H); for the LSTM one more row (T+1, B, H) whose last entry is the final cell state C_T.
 * The element-wise gate work runs in WebAssembly SIMD kernels (RNN, LSTM, PyTorch's GRU; see
 * `useWasmGates`) or plain loops over typed arrays, the matmuls on the backend; the backward pass
 * forms dW_hh for all steps as one large matmul.
 */
export function fusedRecurrence(
  xProj: tf.Tensor3D | tf.Tensor2D,
  h0: tf.Tensor2D,
  c0: tf.Tensor2D | null,
  Whh: tf.Tensor2D,
  bhh: tf.Tensor1D,
  options: RecurrenceOptions,
): tf.Tensor3D {
  const { kind } = options;
  const resetAfter = options.resetAfter ?? true;
  const ids = options.inputIds ?? null;
  const [B, H] = h0.shape;
  const GH = xProj.shape[xProj.rank - 1] as number;
  if (ids) {
    if (xProj.rank !== 2) throw new Error(`fusedRecurrence: with inputIds, xProj is W_ih (vocab, ${GATES[kind]} x H), got shape [${xProj.shape.join(', ')}].`);
    if (ids.length % B !== 0) throw new Error(`fusedRecurrence: ${ids.length} input ids do not split into steps of batch ${B}.`);
    checkIds(ids, xProj.shape[0] as number);
  } else if (xProj.rank !== 3 || xProj.shape[1] !== B) {
    throw new Error(`fusedRecurrence: xProj must be (steps, ${B}, ${GATES[kind]} x H), got shape [${xProj.shape.join(', ')}].`);
  }
  const T = ids ? ids.length / B : (xProj.shape[0] as number);
  const G = GATES[kind];
  if (GH !== G * H) throw new Error(`fusedRecurrence: xProj has ${GH} features, expected ${G} x ${H} for ${kind}.`);
  if ((kind === 'lstm') !== (c0 !== null)) throw new Error('fusedRecurrence: the LSTM needs a cell state c0, the others none.');

  const bih = options.inputBias ?? null;
  if (bih && bih.size !== GH) throw new Error(`fusedRecurrence: inputBias has ${bih.size} entries, expected ${GH}.`);

  // Inside the op the tape is always off; here it says whether a backward pass can follow.
  const keepForBackward = tf.engine().isTapeOn();
  const run = tf.customGrad(((...args: tf.Tensor[]) => {
    // customGrad appends its `save` function to the inputs; b_ih comes last when given.
    const [xp, h, c, W, b] = kind === 'lstm' ? args : [args[0], args[1], null, args[2], args[3]];
    const bx = bih ? (args[kind === 'lstm' ? 5 : 4] as tf.Tensor1D) : null;
    const bv = (b as tf.Tensor).dataSync() as Float32Array;
    // The kernels cover all but d2l's reset-before GRU, for hidden sizes in whole SIMD lanes.
    const kernels = (kind !== 'gru' || resetAfter) && H % 4 === 0 ? gateKernels() : null;
    if (kernels) return wasmRecurrence(kernels, kind, keepForBackward, xp as tf.Tensor, ids, h as tf.Tensor2D, c as tf.Tensor2D | null, W as tf.Tensor2D, bv, bx);
    let xpv = stepInputs(xp as tf.Tensor, ids);
    if (bx) {
      // The JS loops read x + b_ih from one array.
      const bxv = bx.dataSync() as Float32Array;
      xpv = xpv.map((v, i) => v + (bxv[i % GH] as number));
    }
    const hs = new Float32Array((T + 1) * B * H); // hs[t] is h_{t-1}; hs[0] = h0
    hs.set((h as tf.Tensor).dataSync() as Float32Array, 0);
    // Saved activations for the backward pass.
    const acts = new Float32Array(T * B * GH);
    const extra = new Float32Array(kind === 'rnn' ? 0 : T * B * H * (kind === 'lstm' ? 2 : 1));
    const BH = B * H;
    const W2 = W as tf.Tensor2D;
    // d2l's GRU multiplies R into H before the candidate's matmul, so its weights split in two.
    const [Wrz, Wn] = kind === 'gru' && !resetAfter ? tf.split(W2, [2 * H, H], 1) as [tf.Tensor2D, tf.Tensor2D] : [W2, null];
    const ghW = Wn ? 2 * H : GH; // columns of the per-step recurrent product h Wrz
    let cs: Float32Array | null = null;
    if (kind === 'lstm') {
      cs = new Float32Array((T + 1) * BH);
      cs.set((c as tf.Tensor).dataSync() as Float32Array, 0);
    }
    for (let t = 0; t < T; t++) {
      const hPrev = hs.subarray(t * BH, (t + 1) * BH);
      const hNext = hs.subarray((t + 1) * BH, (t + 2) * BH);
      const gh = matmulRows(hPrev, B, H, Wrz);
      const a = acts.subarray(t * B * GH, (t + 1) * B * GH);
      const x = xpv.subarray(t * B * GH, (t + 1) * B * GH);
      if (kind === 'rnn') {
        for (let i = 0; i < BH; i++) {
          const v = tanh((x[i] as number) + (gh[i] as number) + (bv[i % H] as number));
          a[i] = v;
          hNext[i] = v;
        }
      } else if (kind === 'gru' && resetAfter) {
        // PyTorch's GRU in one pass: n = tanh(x_n + r * (h W_n + b_n)).
        const ex = extra.subarray(t * BH, (t + 1) * BH); // h W_n + b_n, for the backward pass
        for (let bi = 0; bi < B; bi++) {
          const xo = bi * GH;
          const ko = bi * H;
          for (let j = 0; j < H; j++) {
            const r = sigmoid((x[xo + j] as number) + (gh[xo + j] as number) + (bv[j] as number));
            const z = sigmoid((x[xo + H + j] as number) + (gh[xo + H + j] as number) + (bv[H + j] as number));
            const ghn = (gh[xo + 2 * H + j] as number) + (bv[2 * H + j] as number);
            const n = tanh((x[xo + 2 * H + j] as number) + r * ghn);
            a[xo + j] = r;
            a[xo + H + j] = z;
            a[xo + 2 * H + j] = n;
            ex[ko + j] = ghn;
            hNext[ko + j] = (1 - z) * n + z * (hPrev[ko + j] as number);
          }
        }
      } else if (kind === 'gru') {
        // d2l's GRU: the reset gate multiplies h before the candidate's own matmul.
        const ex = extra.subarray(t * BH, (t + 1) * BH); // r * h
        for (let bi = 0; bi < B; bi++) {
          for (let j = 0; j < H; j++) {
            const xo = bi * GH;
            const go = bi * ghW;
            const r = sigmoid((x[xo + j] as number) + (gh[go + j] as number) + (bv[j] as number));
            const z = sigmoid((x[xo + H + j] as number) + (gh[go + H + j] as number) + (bv[H + j] as number));
            a[xo + j] = r;
            a[xo + H + j] = z;
            ex[bi * H + j] = r * (hPrev[bi * H + j] as number);
          }
        }
        const nPre = matmulRows(ex, B, H, Wn as tf.Tensor2D);
        for (let bi = 0; bi < B; bi++) {
          for (let j = 0; j < H; j++) {
            const xo = bi * GH;
            const k = bi * H + j;
            const z = a[xo + H + j] as number;
            const n = tanh((x[xo + 2 * H + j] as number) + (nPre[k] as number) + (bv[2 * H + j] as number));
            a[xo + 2 * H + j] = n;
            hNext[k] = (1 - z) * n + z * (hPrev[k] as number);
          }
        }
      } else {
        const cPrev = (cs as Float32Array).subarray(t * BH, (t + 1) * BH);
        const cNext = (cs as Float32Array).subarray((t + 1) * BH, (t + 2) * BH);
        for (let bi = 0; bi < B; bi++) {
          for (let j = 0; j < H; j++) {
            const o = bi * GH;
            const k = bi * H + j;
            const ig = sigmoid((x[o + j] as number) + (gh[o + j] as number) + (bv[j] as number));
            const fg = sigmoid((x[o + H + j] as number) + (gh[o + H + j] as number) + (bv[H + j] as number));
            const gg = tanh((x[o + 2 * H + j] as number) + (gh[o + 2 * H + j] as number) + (bv[2 * H + j] as number));
            const og = sigmoid((x[o + 3 * H + j] as number) + (gh[o + 3 * H + j] as number) + (bv[3 * H + j] as number));
            const cv = fg * (cPrev[k] as number) + ig * gg;
            const tc = tanh(cv);
            a[o + j] = ig;
            a[o + H + j] = fg;
            a[o + 2 * H + j] = gg;
            a[o + 3 * H + j] = og;
            cNext[k] = cv;
            extra[t * BH + k] = tc;
            hNext[k] = og * tc;
          }
        }
      }
    }
    if (Wn) tf.dispose([Wrz, Wn]);
    const outRows = kind === 'lstm' ? T + 1 : T;
    const out = new Float32Array(outRows * BH);
    out.set(hs.subarray(BH), 0);
    if (cs) out.set(cs.subarray(T * BH), T * BH);
    const value = tf.tensor3d(out, [outRows, B, H]);

    const gradFunc = (dy: tf.Tensor): tf.Tensor[] => {
      const dyv = dy.dataSync() as Float32Array;
      const WT = tf.transpose(W2) as tf.Tensor2D; // (G*H, H): plain matmuls for dh
      const [WrzT, WnT] = kind === 'gru' && !resetAfter ? (tf.split(WT, [2 * H, H], 0) as [tf.Tensor2D, tf.Tensor2D]) : [WT, null];
      const dxp = new Float32Array(T * B * GH); // d(pre-activation) seen by the input projection
      const dghAll = new Float32Array(T * B * GH); // d(pre-activation) seen by the recurrent matmul
      const dh = new Float32Array(BH);
      // Per-step scratch, reused across steps.
      const dhPrev = new Float32Array(BH);
      const dnPre = new Float32Array(kind === 'gru' ? BH : 0);
      const db = new Float32Array(GH);
      const dc = new Float32Array(kind === 'lstm' ? BH : 0);
      if (kind === 'lstm') dc.set(dyv.subarray(T * BH, (T + 1) * BH));
      const rhAll = kind === 'gru' && !resetAfter ? extra : null;
      dh.set(dyv.subarray((T - 1) * BH, T * BH));
      for (let t = T - 1; t >= 0; t--) {
        const a = acts.subarray(t * B * GH, (t + 1) * B * GH);
        const dx = dxp.subarray(t * B * GH, (t + 1) * B * GH);
        const dg = dghAll.subarray(t * B * GH, (t + 1) * B * GH);
        const hPrev = hs.subarray(t * BH, (t + 1) * BH);
        dhPrev.fill(0);
        if (kind === 'rnn') {
          for (let i = 0; i < BH; i++) {
            const v = a[i] as number;
            const d = (dh[i] as number) * (1 - v * v);
            dx[i] = d;
            dg[i] = d;
          }
        } else if (kind === 'gru' && resetAfter) {
          // One pass over the gates; the bias gradient is summed here too.
          const ex = extra.subarray(t * BH, (t + 1) * BH);
          for (let bi = 0; bi < B; bi++) {
            const o = bi * GH;
            const ko = bi * H;
            for (let j = 0; j < H; j++) {
              const r = a[o + j] as number;
              const z = a[o + H + j] as number;
              const n = a[o + 2 * H + j] as number;
              const d = dh[ko + j] as number;
              dhPrev[ko + j] = d * z;
              const dzp = d * ((hPrev[ko + j] as number) - n) * z * (1 - z);
              const dnp = d * (1 - z) * (1 - n * n);
              const drp = dnp * (ex[ko + j] as number) * r * (1 - r);
              const dgn = dnp * r;
              dx[o + j] = drp;
              dx[o + H + j] = dzp;
              dx[o + 2 * H + j] = dnp;
              dg[o + j] = drp;
              dg[o + H + j] = dzp;
              dg[o + 2 * H + j] = dgn;
              db[j] = (db[j] as number) + drp;
              db[H + j] = (db[H + j] as number) + dzp;
              db[2 * H + j] = (db[2 * H + j] as number) + dgn;
            }
          }
        } else if (kind === 'gru') {
          for (let bi = 0; bi < B; bi++) {
            for (let j = 0; j < H; j++) {
              const o = bi * GH;
              const k = bi * H + j;
              const z = a[o + H + j] as number;
              const n = a[o + 2 * H + j] as number;
              const d = dh[k] as number;
              dhPrev[k] = d * z;
              const dz = d * ((hPrev[k] as number) - n);
              const dnp = d * (1 - z) * (1 - n * n);
              dnPre[k] = dnp;
              dx[o + H + j] = dz * z * (1 - z);
              dg[o + H + j] = dx[o + H + j] as number;
              dx[o + 2 * H + j] = dnp;
            }
          }
          const drh = matmulRows(dnPre, B, H, WnT as tf.Tensor2D);
          for (let bi = 0; bi < B; bi++) {
            for (let j = 0; j < H; j++) {
              const o = bi * GH;
              const k = bi * H + j;
              const r = a[o + j] as number;
              const dr = (drh[k] as number) * (hPrev[k] as number);
              dhPrev[k] = (dhPrev[k] as number) + (drh[k] as number) * r;
              dg[o + 2 * H + j] = dnPre[k] as number;
              dx[o + j] = dr * r * (1 - r);
              dg[o + j] = dx[o + j] as number;
            }
          }
        } else {
          const tcs = extra.subarray(t * BH, (t + 1) * BH);
          const cPrev = (cs as Float32Array).subarray(t * BH, (t + 1) * BH);
          for (let bi = 0; bi < B; bi++) {
            for (let j = 0; j < H; j++) {
              const o = bi * GH;
              const k = bi * H + j;
              const ig = a[o + j] as number;
              const fg = a[o + H + j] as number;
              const gg = a[o + 2 * H + j] as number;
              const og = a[o + 3 * H + j] as number;
              const tc = tcs[k] as number;
              const d = dh[k] as number;
              const dcv = (dc[k] as number) + d * og * (1 - tc * tc);
              dx[o + j] = dcv * gg * ig * (1 - ig);
              dx[o + H + j] = dcv * (cPrev[k] as number) * fg * (1 - fg);
              dx[o + 2 * H + j] = dcv * ig * (1 - gg * gg);
              dx[o + 3 * H + j] = d * tc * og * (1 - og);
              dc[k] = dcv * fg;
            }
          }
          dg.set(dx);
        }
        // db_hh sums dG over all steps and rows (cheaper here than a tf.sum, which transposes first).
        for (let bi = 0; bi < (kind === 'gru' && resetAfter ? 0 : B); bi++) {
          const o = bi * GH;
          for (let j = 0; j < GH; j++) db[j] = (db[j] as number) + (dg[o + j] as number);
        }
        // dh_{t-1} += dG_h W_hh^T (the reset-before GRU's candidate part was added above).
        let dgRows = dg;
        if (ghW !== GH) {
          dgRows = new Float32Array(B * ghW);
          for (let bi = 0; bi < B; bi++) dgRows.set(dg.subarray(bi * GH, bi * GH + ghW), bi * ghW);
        }
        const back = matmulRows(dgRows, B, ghW, WrzT);
        // dh_{t-1}: through the gates, through W_hh, and what step t-1's own output received.
        if (t > 0) {
          const dyPrev = dyv.subarray((t - 1) * BH, t * BH);
          for (let i = 0; i < BH; i++) dh[i] = (dhPrev[i] as number) + (back[i] as number) + (dyPrev[i] as number);
        } else {
          for (let i = 0; i < BH; i++) dh[i] = (dhPrev[i] as number) + (back[i] as number);
        }
      }
      // Weight gradients of all steps at once: inputs of the recurrent matmul (T*B, H)^T times dG.
      const dgT = tf.tensor2d(dghAll, [T * B, GH]);
      const hIn = tf.tensor2d(hs.subarray(0, T * BH), [T * B, H]);
      let dW: tf.Tensor;
      if (kind === 'gru' && !resetAfter) {
        const rhIn = tf.tensor2d(rhAll as Float32Array, [T * B, H]);
        const [dgRz, dgN] = tf.split(dgT, [2 * H, H], 1);
        dW = tf.concat([tf.matMul(hIn, dgRz as tf.Tensor2D, true, false), tf.matMul(rhIn, dgN as tf.Tensor2D, true, false)], 1);
      } else {
        dW = tf.matMul(hIn, dgT, true, false);
      }
      const grads: tf.Tensor[] = [ids ? addRowsByIds(dxp, ids, (xp as tf.Tensor).shape[0] as number) : tf.tensor3d(dxp, [T, B, GH]), tf.tensor2d(dh, [B, H])];
      if (kind === 'lstm') grads.push(tf.tensor2d(dc, [B, H]));
      grads.push(dW, tf.tensor1d(db));
      if (bx) {
        const dbx = new Float32Array(GH);
        for (let i = 0; i < dxp.length; i += GH) for (let j = 0; j < GH; j++) dbx[j] = (dbx[j] as number) + (dxp[i + j] as number);
        grads.push(tf.tensor1d(dbx));
      }
      if (WnT) tf.dispose([WrzT, WnT]);
      WT.dispose();
      return grads;
    };
    return { value, gradFunc };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  const inputs = kind === 'lstm' ? [xProj, h0, c0 as tf.Tensor2D, Whh, bhh] : [xProj, h0, Whh, bhh];
  if (bih) inputs.push(bih);
  return run(...inputs) as tf.Tensor3D;
}

/**
 * The RNN, LSTM and PyTorch's GRU on the WebAssembly gate kernels: the same arithmetic as the JS
 * loops of `fusedRecurrence`, in float32 lanes. What the backward pass needs (states, gates, and
 * tanh(c) or h W_n + b_n) stays in the kernels' memory: the backward pass releases it, or, where
 * no gradient will be taken (`keep` false), the forward pass itself. A region whose backward pass
 * never runs is released once its gradient function is garbage-collected.
 */
function wasmRecurrence(
  k: GateKernels,
  kind: CellKind,
  keep: boolean,
  xp: tf.Tensor,
  ids: Int32Array | null,
  h0: tf.Tensor2D,
  c0: tf.Tensor2D | null,
  W: tf.Tensor2D,
  bv: Float32Array,
  bx: tf.Tensor1D | null,
) {
  const [B, H] = h0.shape;
  const GH = GATES[kind] * H;
  const T = ids ? ids.length / B : (xp.shape[0] as number);
  const BH = B * H;
  const XG = T * B * GH;
  const TB = T * B;
  const V = ids ? (xp.shape[0] as number) : 0;
  const lstm = kind === 'lstm';
  const gru = kind === 'gru';
  // Saved for the backward pass: states h (T+1 rows), the LSTM's c (T+1 rows), gates (the RNN's
  // are its states), the LSTM's tanh(c) or the GRU's h W_n + b_n, token ids.
  const saved = k.allocLayout({
    HS: (T + 1) * BH,
    CS: lstm ? (T + 1) * BH : 0,
    ACTS: kind === 'rnn' ? 0 : XG,
    EX: kind === 'rnn' ? 0 : T * BH,
    IDS: ids ? TB : 0,
  });
  const { HS, CS, ACTS, EX, IDS } = saved;
  // Forward scratch: x, this step's h W_hh, b_ih, b_hh, W_hh as it is and in gemm's panels, W_ih.
  const f = k.allocLayout({ X: XG, GHS: B * GH, BX: GH, BHH: GH, WHH: H * GH, WHHP: H * GH, WIH: V * GH });
  if (ids) {
    new Int32Array(k.f32.buffer, 4 * IDS, TB).set(ids);
    readInto(xp, k.f32, f.WIH);
    k.fn.gatherRows(4 * f.X, 4 * f.WIH, 4 * IDS, TB, GH);
  } else {
    readInto(xp, k.f32, f.X);
  }
  readInto(h0, k.f32, HS);
  if (c0) readInto(c0, k.f32, CS);
  if (bx) readInto(bx, k.f32, f.BX);
  else k.f32.fill(0, f.BX, f.BX + GH);
  k.f32.set(bv, f.BHH);
  readInto(W, k.f32, f.WHH);
  k.fn.packPanels(4 * f.WHHP, 4 * f.WHH, H, GH);
  for (let t = 0; t < T; t++) {
    const hPrev = HS + t * BH;
    k.fn.gemm(4 * f.GHS, 4 * hPrev, 4 * f.WHHP, B, H, GH);
    const x = 4 * (f.X + t * B * GH);
    const a = 4 * (ACTS + t * B * GH);
    const ex = 4 * (EX + t * BH);
    if (gru) k.fn.gruForward(x, 4 * f.GHS, 4 * f.BX, 4 * f.BHH, 4 * hPrev, 4 * (hPrev + BH), a, ex, B, H);
    else if (kind === 'rnn') k.fn.rnnForward(x, 4 * f.GHS, 4 * f.BX, 4 * f.BHH, 4 * (hPrev + BH), B, H);
    else k.fn.lstmForward(x, 4 * f.GHS, 4 * f.BX, 4 * f.BHH, 4 * (CS + t * BH), 4 * (CS + (t + 1) * BH), 4 * (hPrev + BH), a, ex, B, H);
  }
  k.release(f.region);
  let value: tf.Tensor3D;
  if (lstm) {
    // h_1..h_T, then c_T as one more row.
    const out = new Float32Array((T + 1) * BH);
    out.set(k.f32.subarray(HS + BH, HS + (T + 1) * BH));
    out.set(k.f32.subarray(CS + T * BH, CS + (T + 1) * BH), T * BH);
    value = tf.tensor3d(out, [T + 1, B, H]);
  } else {
    value = tensorOfView<tf.Rank.R3>(k.f32.subarray(HS + BH, HS + (T + 1) * BH), [T, B, H]);
  }
  if (!keep) {
    k.release(saved.region);
    return { value, gradFunc: () => [] as tf.Tensor[] };
  }
  const lease: SavedLease = { kernels: k, offset: saved.region, released: false };
  const owner = {}; // held only by gradFunc: collected with it when no backward pass comes

  const gradFunc = (dy: tf.Tensor): tf.Tensor[] => {
    if (lease.released) throw new Error('fusedRecurrence: this pass has already been differentiated once.');
    savedRegions.unregister(owner);
    // dW_hh as (dG^T hIn)^T needs dG transposed, in whole 4 x 4 blocks.
    const transposeDG = TB % 4 === 0;
    const ownGemm = transposeDG && k.weightGradientGemm;
    // Backward scratch: dy (for the LSTM with dc_T as a last row), dx, the GRU's own dg (the
    // others' is dx), dh, the GRU's direct part of dh_{t-1}, dg W_hh^T, the LSTM's running dc,
    // db_ih, the GRU's own db_hh, W_hh, its transpose and that in gemm's panels, dG transposed,
    // dW_hh^T and dW_hh, hIn in panels, and W_ih's gradient.
    const r = k.allocLayout({
      DY: (T + (lstm ? 1 : 0)) * BH,
      DX: XG,
      DG: gru ? XG : 0,
      DH: BH,
      DHP: BH,
      BACK: BH,
      DC: BH,
      DBX: GH,
      DBH: gru ? GH : 0,
      WHH: H * GH,
      WHHT: H * GH,
      WHHTP: H * GH,
      DGT: transposeDG ? XG : 0,
      DWT: transposeDG ? H * GH : 0,
      DW: transposeDG ? H * GH : 0,
      HINP: ownGemm ? TB * H : 0,
      DWI: V * GH,
    });
    const DG = gru ? r.DG : r.DX;
    const DBH = gru ? r.DBH : r.DBX;
    readInto(dy, k.f32, r.DY);
    readInto(W, k.f32, r.WHH);
    k.fn.transpose(4 * r.WHHT, 4 * r.WHH, H, GH); // (G*H, H): dh_{t-1} = dg W_hh^T
    k.fn.packPanels(4 * r.WHHTP, 4 * r.WHHT, GH, H);
    k.f32.fill(0, r.DBX, r.DBX + GH);
    k.f32.fill(0, DBH, DBH + GH);
    k.f32.copyWithin(r.DH, r.DY + (T - 1) * BH, r.DY + T * BH);
    if (lstm) k.f32.copyWithin(r.DC, r.DY + T * BH, r.DY + (T + 1) * BH);
    for (let t = T - 1; t >= 0; t--) {
      const dg = DG + t * B * GH;
      const dx = 4 * (r.DX + t * B * GH);
      const a = 4 * (ACTS + t * B * GH);
      if (gru) k.fn.gruBackward(a, 4 * (EX + t * BH), 4 * (HS + t * BH), 4 * r.DH, dx, 4 * dg, 4 * r.DHP, 4 * r.DBX, 4 * DBH, B, H);
      else if (kind === 'rnn') k.fn.rnnBackward(4 * (HS + (t + 1) * BH), 4 * r.DH, dx, 4 * r.DBX, B, H);
      else k.fn.lstmBackward(a, 4 * (EX + t * BH), 4 * (CS + t * BH), 4 * r.DH, 4 * r.DC, dx, 4 * r.DBX, B, H);
      k.fn.gemm(4 * r.BACK, 4 * dg, 4 * r.WHHTP, B, GH, H);
      // dh_{t-1}: through W_hh, what step t-1's own output received, and the GRU's direct part.
      const dyPrev = t > 0 ? 4 * (r.DY + (t - 1) * BH) : 0;
      if (gru) k.fn.add3(4 * r.DH, 4 * r.DHP, 4 * r.BACK, dyPrev, BH);
      else if (dyPrev) k.fn.add3(4 * r.DH, 4 * r.BACK, dyPrev, 0, BH);
      else k.f32.copyWithin(r.DH, r.BACK, r.BACK + BH);
    }
    // Weight gradients of all steps at once, the inputs of the recurrent matmul hIn (T*B, H)
    // against dG (T*B, G*H): dW = (dG^T hIn)^T with dG transposed, so that the long T*B axis is
    // the product's inner one and hIn (a third of dG's size at most) is the second operand, the
    // one a matmul packs.
    let dW: tf.Tensor;
    if (transposeDG) {
      k.fn.transpose(4 * r.DGT, 4 * DG, TB, GH);
      if (ownGemm) {
        k.fn.packPanels(4 * r.HINP, 4 * HS, TB, H);
        k.fn.gemm(4 * r.DWT, 4 * r.DGT, 4 * r.HINP, GH, TB, H);
      } else {
        const dgt = tensorOfView(k.f32.subarray(r.DGT, r.DGT + XG), [GH, TB]);
        const hIn = tensorOfView(k.f32.subarray(HS, HS + T * BH), [TB, H]);
        const dWT = tf.matMul(dgt, hIn);
        readInto(dWT, k.f32, r.DWT);
        tf.dispose([dgt, hIn, dWT]);
      }
      k.fn.transpose(4 * r.DW, 4 * r.DWT, GH, H); // the backend's Transpose is scalar
      dW = tf.tensor2d(k.f32.slice(r.DW, r.DW + H * GH), [H, GH]);
    } else {
      const hIn = tensorOfView(k.f32.subarray(HS, HS + T * BH), [TB, H]);
      const dgAll = tensorOfView(k.f32.subarray(DG, DG + XG), [TB, GH]);
      dW = tf.matMul(hIn, dgAll, true, false);
      tf.dispose([hIn, dgAll]);
    }
    let dInput: tf.Tensor;
    if (ids) {
      // W_ih's gradient: each step's dx added into its token's row, in the kernels' memory.
      k.f32.fill(0, r.DWI, r.DWI + V * GH);
      k.fn.addRows(4 * r.DWI, 4 * r.DX, 4 * IDS, TB, GH);
      dInput = tf.tensor2d(k.f32.slice(r.DWI, r.DWI + V * GH), [V, GH]);
    } else {
      dInput = tf.tensor3d(k.f32.slice(r.DX, r.DX + XG), [T, B, GH]);
    }
    const grads: tf.Tensor[] = [dInput, tf.tensor2d(k.f32.slice(r.DH, r.DH + BH), [B, H])];
    if (lstm) grads.push(tf.tensor2d(k.f32.slice(r.DC, r.DC + BH), [B, H]));
    grads.push(dW, tf.tensor1d(k.f32.slice(DBH, DBH + GH)));
    if (bx) grads.push(tf.tensor1d(k.f32.slice(r.DBX, r.DBX + GH)));
    k.release(r.region);
    releaseLease(lease);
    return grads;
  };
  savedRegions.register(owner, lease, owner);
  return { value, gradFunc };
}

interface SavedLease {
  kernels: GateKernels;
  offset: number;
  released: boolean;
}

function releaseLease(lease: SavedLease): void {
  if (!lease.released) lease.kernels.release(lease.offset);
  lease.released = true;
}

/** Releases a forward pass's saved region once its gradient function is gone unused. */
const savedRegions = new FinalizationRegistry<SavedLease>(releaseLease);

/** Throws where an id is not a row of a (V, ...) table. */
function checkIds(ids: Int32Array, V: number): void {
  for (const id of ids) {
    if (!(id >= 0 && id < V)) throw new RangeError(`Token id ${id} is outside the vocabulary of ${V}.`);
  }
}

/** Rows `ids` of a row-major (V, N) table, written one after another into dst from offset. */
function gatherRowsInto(dst: Float32Array, offset: number, table: Float32Array, ids: Int32Array, N: number): void {
  ids.forEach((id, i) => { dst.set(table.subarray(id * N, (id + 1) * N), offset + i * N); });
}

/** The gradient of a row gather: row i of dy added into row ids[i] of a (V, N) zero table. */
function addRowsByIds(dy: Float32Array, ids: Int32Array, V: number): tf.Tensor2D {
  const N = dy.length / ids.length;
  const dW = new Float32Array(V * N);
  ids.forEach((id, i) => {
    const src = i * N;
    const dst = id * N;
    for (let j = 0; j < N; j++) dW[dst + j] = (dW[dst + j] as number) + (dy[src + j] as number);
  });
  return tf.tensor2d(dW, [V, N]);
}

/** Every step's input projection as one array: xProj's values, or the rows of W_ih for `ids`. */
function stepInputs(xp: tf.Tensor, ids: Int32Array | null): Float32Array {
  const values = xp.dataSync() as Float32Array;
  if (!ids) return values;
  const N = xp.shape[1] as number;
  const out = new Float32Array(ids.length * N);
  gatherRowsInto(out, 0, values, ids, N);
  return out;
}

/**
 * Rows `ids` of `W` (V, N): the product of one-hot inputs and W without the one-hot matmul, and
 * without tf.gather, whose gradient the wasm backend cannot compute (no `UnsortedSegmentSum`).
 * The backward pass adds each output row's gradient into its token's row of dW, in plain JS.
 * Ids are plain integers (inputs, not something to differentiate).
 */
export function gatherRows(ids: Int32Array, W: tf.Tensor2D): tf.Tensor2D {
  const [V, N] = W.shape;
  checkIds(ids, V);
  const run = tf.customGrad(((w: tf.Tensor) => {
    const out = new Float32Array(ids.length * N);
    gatherRowsInto(out, 0, w.dataSync() as Float32Array, ids, N);
    const gradFunc = (dy: tf.Tensor): tf.Tensor => addRowsByIds(dy.dataSync() as Float32Array, ids, V);
    return { value: tf.tensor2d(out, [ids.length, N]), gradFunc };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return run(W) as tf.Tensor2D;
}
