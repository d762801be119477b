import * as tf from '@tensorflow/tfjs-core';
import { productRuns, readInto, splitRows, tensorOfView, type SimdKernels } from '@rnnkit/cells';
import type { Pass, PassGrads, PassResult } from './pass.js';

/**
 * A fused recurrence on the WebAssembly SIMD kernels: the same arithmetic as `jsRecurrence`, in
 * float32 lanes, each step one packed-panel gemm (h W_hh) and its record's kernel. What the
 * backward pass needs (states, gates, what the record saves) stays in the kernels' memory: the
 * backward pass releases it, or, where no gradient will be taken (`keep` false), the forward pass
 * itself. A region whose backward pass never runs is released once its gradient function is
 * garbage-collected. Needs `spec.wasm` and H % 4 == 0 (so that a block boundary is a panel's).
 */
export function wasmRecurrence(k: SimdKernels, p: Pass): PassResult {
  const { spec, T, B, H, ids } = p;
  const wasm = spec.wasm!;
  const GH = spec.gates * H;
  const cols = spec.recurrentGates * H; // columns of the per-step product h W_hh
  const BH = B * H;
  const XG = T * B * GH;
  const TB = T * B;
  const V = ids ? p.xp.shape[0]! : 0;
  const two = spec.states === 2;
  // Saved for the backward pass: states h (T+1 rows), the LSTM's c (T+1 rows), gates, what the
  // record saves, token ids.
  const saved = k.allocLayout({
    HS: (T + 1) * BH,
    CS: two ? (T + 1) * BH : 0,
    ACTS: XG,
    SAVED: spec.saved ? T * BH : 0,
    IDS: ids ? TB : 0,
  });
  const { HS, CS, ACTS, SAVED, IDS } = saved;
  // Forward scratch: x, this step's h W_hh, b_ih, b_hh, W_hh as it is and in gemm's panels, W_ih.
  // The rest blocks' panels follow the first cols columns' in WHHP (cols is a multiple of 8).
  const f = k.allocLayout({ X: XG, GHS: B * cols, REST: BH, BX: GH, BHH: GH, WHH: H * GH, WHHP: H * GH, WIH: V * GH });
  if (ids) {
    new Int32Array(k.f32.buffer, 4 * IDS, TB).set(ids);
    readInto(p.xp, k.f32, f.WIH);
    k.fn.gatherRows(4 * f.X, 4 * f.WIH, 4 * IDS, TB, GH);
  } else {
    readInto(p.xp, k.f32, f.X);
  }
  readInto(p.state[0]!, k.f32, HS);
  if (two) readInto(p.state[1]!, k.f32, CS);
  if (p.bx) readInto(p.bx, k.f32, f.BX);
  else k.f32.fill(0, f.BX, f.BX + GH);
  readInto(p.b, k.f32, f.BHH);
  readInto(p.W, k.f32, f.WHH);
  k.fn.packPanels(4 * f.WHHP, 4 * f.WHH, H, GH);
  // The recurrence is independent across batch rows, so each thread runs all T steps for its own
  // rows: one hand-off per pass, none per step (see `rowRuns`).
  const runs = rowRuns(k, B);
  k.split(runs, (fn, b0, b1) => {
    const rows = b1 - b0;
    const row = rowsFrom(B, b0);
    for (let t = 0; t < T; t++) {
      fn.gemm(row(f.GHS, 0, cols), row(HS, t, H), 4 * f.WHHP, rows, H, cols);
      wasm.forward(fn, {
        B: rows,
        H,
        x: row(f.X, t, GH),
        gh: row(f.GHS, 0, cols),
        bx: 4 * f.BX,
        bh: 4 * f.BHH,
        hPrev: row(HS, t, H),
        hNext: row(HS, t + 1, H),
        cPrev: row(CS, t, H),
        cNext: row(CS, t + 1, H),
        acts: row(ACTS, t, GH),
        saved: row(SAVED, t, H),
        restPanels: 4 * (f.WHHP + cols * H),
        restOut: row(f.REST, 0, H),
      });
    }
  });
  k.release(f.region);
  let packed: tf.Tensor3D;
  if (two) {
    // h_1..h_T, then c_T as one more row.
    const out = new Float32Array((T + 1) * BH);
    out.set(k.f32.subarray(HS + BH, HS + (T + 1) * BH));
    out.set(k.f32.subarray(CS + T * BH, CS + (T + 1) * BH), T * BH);
    packed = tf.tensor3d(out, [T + 1, B, H]);
  } else {
    packed = tensorOfView<tf.Rank.R3>(k.f32.subarray(HS + BH, HS + (T + 1) * BH), [T, B, H]);
  }
  if (!p.keep) {
    k.release(saved.region);
    return {
      packed,
      gradFunc: () => {
        throw new Error('fusedRecurrence: this pass ran without a gradient tape.');
      },
    };
  }
  const lease: SavedLease = { kernels: k, offset: saved.region, released: false };
  const owner = {}; // held only by gradFunc: collected with it when no backward pass comes

  const gradFunc = (dy: tf.Tensor): PassGrads => {
    if (lease.released) throw new Error('fusedRecurrence: this pass has already been differentiated once.');
    savedRegions.unregister(owner);
    const own = wasm.ownRecurrentGrad;
    const rest = cols < GH;
    // dW_hh as (dG^T hIn)^T needs dG transposed, in whole 4 x 4 blocks.
    const transposeDG = TB % 4 === 0;
    const ownGemm = transposeDG && k.weightGradientGemm;
    // Backward scratch: dy (with the final states' gradients as its last rows), dx, dg (when the
    // record has its own), dh, the direct part of dh_{t-1}, dg W_hh^T, the running dc, db_ih,
    // db_hh (when its own), W_hh, its transpose and that in gemm's panels, dG transposed, dW_hh^T
    // and dW_hh, hIn in panels, and W_ih's gradient.
    const r = k.allocLayout({
      DY: (T + spec.states - 1) * BH,
      DX: XG,
      DG: own ? XG : 0,
      DH: BH,
      DHP: BH,
      BACK: BH,
      DC: BH,
      DBX: GH,
      DBH: own ? GH : 0,
      WHH: H * GH,
      WHHT: H * GH,
      WHHTP: H * GH,
      DGH: rest ? B * cols : 0,
      S1: BH,
      S2: BH,
      DGT: transposeDG ? XG : 0,
      DWT: transposeDG ? H * GH : 0,
      DW: transposeDG ? H * GH : 0,
      HINP: ownGemm ? TB * H : 0,
      DWI: V * GH,
    });
    const DG = own ? r.DG : r.DX;
    const DBH = own ? r.DBH : r.DBX;
    readInto(dy, k.f32, r.DY);
    readInto(p.W, k.f32, r.WHH);
    k.fn.transpose(4 * r.WHHT, 4 * r.WHH, H, GH); // (G*H, H): dh_{t-1} = dg W_hh^T
    // Panels of W_hh^T's first cols rows, then of its rest rows.
    k.fn.packPanels(4 * r.WHHTP, 4 * r.WHHT, cols, H);
    if (rest) k.fn.packPanels(4 * (r.WHHTP + cols * H), 4 * (r.WHHT + cols * H), GH - cols, H);
    k.f32.fill(0, r.DBX, r.DBX + GH);
    k.f32.fill(0, DBH, DBH + GH);
    k.f32.copyWithin(r.DH, r.DY + (T - 1) * BH, r.DY + T * BH);
    if (two) k.f32.copyWithin(r.DC, r.DY + T * BH, r.DY + (T + 1) * BH);
    // Each thread's rows as in the forward pass. The step kernels' running bias sums go to a
    // scratch pair per run; the bias gradients are summed after the loop instead, in one order
    // whatever the thread count (step T-1 down to 0, rows in order: the single thread's order),
    // so that a run gives the same bits on any number of threads (a resumed run must equal an
    // uninterrupted one).
    const runs = rowRuns(k, B);
    const sums = k.alloc(runs.length * 2 * GH);
    const zeros = k.alloc(B);
    k.f32.fill(0, zeros, zeros + B);
    k.split(runs, (fn, b0, b1) => {
      const rows = b1 - b0;
      const run = runs.findIndex(([start]) => start === b0);
      const dbx = sums + run * 2 * GH;
      const dbh = dbx + GH;
      const row = rowsFrom(B, b0);
      for (let t = T - 1; t >= 0; t--) {
        const dg = row(DG, t, GH);
        wasm.backward(fn, {
          B: rows,
          H,
          acts: row(ACTS, t, GH),
          saved: row(SAVED, t, H),
          hPrev: row(HS, t, H),
          hOut: row(HS, t + 1, H),
          cPrev: row(CS, t, H),
          dh: row(r.DH, 0, H),
          dc: row(r.DC, 0, H),
          dx: row(r.DX, t, GH),
          dg,
          dhPrev: row(r.DHP, 0, H),
          dbx: 4 * dbx,
          dbh: 4 * dbh,
          dgh: rest ? row(r.DGH, 0, cols) : dg,
          restPanelsT: 4 * (r.WHHTP + cols * H),
          scratch: row(r.S1, 0, H),
          scratch2: row(r.S2, 0, H),
        });
        // dh_{t-1}: through W_hh, what step t-1's own output received, and the step's direct part.
        // Where there is nothing to add (the first step of a record without a direct part), the
        // product goes straight to dh.
        const dyPrev = t > 0 ? row(r.DY, t - 1, H) : 0;
        const straight = !wasm.directPath && !dyPrev;
        fn.gemm(straight ? row(r.DH, 0, H) : row(r.BACK, 0, H), rest ? row(r.DGH, 0, cols) : dg, 4 * r.WHHTP, rows, cols, H);
        if (wasm.directPath) fn.add3(row(r.DH, 0, H), row(r.DHP, 0, H), row(r.BACK, 0, H), dyPrev, rows * H);
        else if (dyPrev) fn.add3(row(r.DH, 0, H), row(r.BACK, 0, H), dyPrev, 0, rows * H);
      }
    });
    k.release(sums);
    // db_ih sums the gradients the input projection saw, db_hh those the recurrent product saw
    // (the same unless the record has its own): B rows into row 0 per step, from the last step.
    for (let t = T - 1; t >= 0; t--) {
      k.fn.addRows(4 * r.DBX, 4 * (r.DX + t * B * GH), 4 * zeros, B, GH);
      if (own) k.fn.addRows(4 * r.DBH, 4 * (DG + t * B * GH), 4 * zeros, B, GH);
    }
    k.release(zeros);
    // Weight gradients of all steps at once, the inputs of the recurrent product hIn (T*B, H)
    // against dG (T*B, G*H): dW = (dG^T hIn)^T with dG transposed, so that the long T*B axis is
    // the product's inner one and hIn (a third of dG's size at most) is the second operand, the
    // one a matmul packs.
    // The first cols columns of dW take hIn (the states); the rest blocks' take what the step
    // saved as their product's input (d2l's GRU: r h).
    const parts: [number, number, number][] = rest
      ? [
          [0, cols, HS],
          [cols, GH, SAVED],
        ]
      : [[0, GH, HS]];
    let dW: tf.Tensor;
    if (transposeDG) {
      k.split(splitRows(TB, 2 * k.threads, 4), (fn, r0, r1) => fn.transposeStrided(4 * (r.DGT + r0), 4 * (DG + r0 * GH), r1 - r0, GH, TB));
      for (const [g0, g1, IN] of parts) {
        if (ownGemm) {
          k.fn.packPanels(4 * r.HINP, 4 * IN, TB, H);
          const runs = productRuns(g1 - g0, H, TB, k.threads).rows ?? [[0, g1 - g0]];
          k.split(runs, (fn, m0, m1) => fn.gemm(4 * (r.DWT + (g0 + m0) * H), 4 * (r.DGT + (g0 + m0) * TB), 4 * r.HINP, m1 - m0, TB, H));
        } else {
          const dgt = tensorOfView(k.f32.subarray(r.DGT + g0 * TB, r.DGT + g1 * TB), [g1 - g0, TB]);
          const hIn = tensorOfView(k.f32.subarray(IN, IN + T * BH), [TB, H]);
          const dWT = tf.matMul(dgt, hIn);
          readInto(dWT, k.f32, r.DWT + g0 * H);
          tf.dispose([dgt, hIn, dWT]);
        }
      }
      k.fn.transpose(4 * r.DW, 4 * r.DWT, GH, H); // the backend's Transpose is scalar
      dW = tf.tensor2d(k.f32.slice(r.DW, r.DW + H * GH), [H, GH]);
    } else {
      const dgAll = tensorOfView(k.f32.subarray(DG, DG + XG), [TB, GH]);
      const blocks = parts.map(([g0, g1, IN]) => {
        const input = tensorOfView(k.f32.subarray(IN, IN + T * BH), [TB, H]);
        const block = tf.slice(dgAll, [0, g0], [TB, g1 - g0]);
        const product = tf.matMul(input, block, true, false);
        tf.dispose([input, block]);
        return product;
      });
      dW = blocks.length === 1 ? blocks[0]! : tf.concat(blocks, 1);
      if (blocks.length > 1) tf.dispose(blocks);
      dgAll.dispose();
    }
    let dxp: tf.Tensor;
    if (ids) {
      // W_ih's gradient: each step's dx added into its token's row, in the kernels' memory.
      k.f32.fill(0, r.DWI, r.DWI + V * GH);
      k.fn.addRows(4 * r.DWI, 4 * r.DX, 4 * IDS, TB, GH);
      dxp = tf.tensor2d(k.f32.slice(r.DWI, r.DWI + V * GH), [V, GH]);
    } else {
      dxp = tf.tensor3d(k.f32.slice(r.DX, r.DX + XG), [T, B, GH]);
    }
    const dState = [tf.tensor2d(k.f32.slice(r.DH, r.DH + BH), [B, H])];
    if (two) dState.push(tf.tensor2d(k.f32.slice(r.DC, r.DC + BH), [B, H]));
    const grads: PassGrads = {
      dxp,
      dState,
      dW,
      db: tf.tensor1d(k.f32.slice(DBH, DBH + GH)),
      dbx: p.bx ? tf.tensor1d(k.f32.slice(r.DBX, r.DBX + GH)) : null,
    };
    k.release(r.region);
    releaseLease(lease);
    return grads;
  };
  savedRegions.register(owner, lease, owner);
  return { packed, gradFunc };
}

/**
 * The batch rows of each chunk of a pass: one chunk on one thread or for a small batch, else
 * chunks of whole 4-row tiles (the gemm's), about two a thread, which the threads claim in turn.
 * Splitting by rows rather than by the product's column panels needs no hand-off per step: row b
 * of h_t depends on row b of h_{t-1} only.
 */
function rowRuns(k: SimdKernels, B: number): [number, number][] {
  return k.threads > 1 && B >= 8 ? splitRows(B, 2 * k.threads, 4) : [[0, B]];
}

/**
 * For a chunk starting at batch row b0: the byte offset of rows b0.. of step t in a buffer with B
 * rows of `width` floats per step.
 */
function rowsFrom(B: number, b0: number): (base: number, t: number, width: number) => number {
  return (base, t, width) => 4 * (base + (t * B + b0) * width);
}

interface SavedLease {
  kernels: SimdKernels;
  offset: number;
  released: boolean;
}

function releaseLease(lease: SavedLease): void {
  if (!lease.released) lease.kernels.release(lease.offset);
  lease.released = true;
}

/** Releases a forward pass's saved region once its gradient function is gone unused. */
const savedRegions = new FinalizationRegistry<SavedLease>(releaseLease);
