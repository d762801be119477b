import * as tf from '@tensorflow/tfjs-core';
import { readInto, splitRows, tensorOfView, type KernelCalls, type Kernels } from '@rnnkit/cells';
import type { Pass, PassGrads, PassResult } from './pass.js';
import { gradientOfSaved } from './saved-region.js';

/**
 * `kernelRecurrence`'s result: `PassResult`, with where h_1..h_T are in the kernels' memory
 * (`outputsAt`, in floats, until the gradient is taken), and a gradient function that also takes
 * dy as the offset of (T + S - 1) x B x H floats in the kernels' memory, laid out as its tensor.
 */
export interface KernelPassResult extends PassResult {
  outputsAt: number;
  gradFunc: (dy: tf.Tensor | number) => PassGrads;
  /**
   * `gradFunc` for a caller that keeps the weights' gradients in the kernels' memory: they are
   * written at `into`; gives the dense inputs' gradient (with `xin` or `xinAt`) as a tensor, or null
   * where `into.dxin` took it or the pass has none. No state gradients.
   */
  gradInto: (dy: tf.Tensor | number, into: WeightGradsAt) => tf.Tensor2D | null;
}

/** Where `gradInto` writes a pass's weight gradients (offsets in floats in the kernels' memory). */
export interface WeightGradsAt {
  /** W_ih's: by token rows with `ids`, the dense inputs' matrix with `xin` or `xinAt`. */
  dxp: number;
  dW: number;
  db: number;
  /** b_ih's, where the pass adds b_ih (`bx`). */
  dbx: number | null;
  /**
   * Where the dense inputs' gradient goes (T*B rows of I floats), for a caller that keeps it in the
   * kernels' memory (a lower layer's dy); `gradInto` then gives null. Without it, a tensor.
   */
  dxin?: number;
}

/**
 * A fused recurrence on the WebAssembly SIMD kernels: the same arithmetic as `jsRecurrence`, in
 * float32 lanes, each step one packed-panel gemm (h W_hh) and its record's kernel. What the
 * backward pass needs (states, gates, what the record saves) stays in the kernels' memory: the
 * backward pass releases it, or, where no gradient will be taken (`keep` false), the forward pass
 * itself. A region whose backward pass never runs is released once its gradient function is
 * garbage-collected. Needs `spec.kernels` and H % 4 == 0 (so that a block boundary is a panel's).
 */
export function kernelRecurrence(k: Kernels, p: Pass): KernelPassResult {
  if (p.leaveOutputs && !p.keep) throw new Error('kernelRecurrence: leaveOutputs needs keep (the outputs live in what the backward pass keeps).');
  const { spec, T, B, H, ids } = p;
  const step = spec.kernels!;
  const GH = spec.gates * H;
  const cols = spec.recurrentGates * H; // columns of the per-step product h W_hh
  const BH = B * H;
  const XG = T * B * GH;
  const TB = T * B;
  // A pass's work, for the kernels' choice of threads: its products (h W_hh every step, and d2l's GRU's (r h) W_n).
  const passWork = T * B * H * GH;
  const V = ids ? p.xp.shape[0]! : 0;
  // Dense inputs (T*B, I) projected here: x W_ih over every step at once, on the gemm.
  const xin = p.xin;
  const xinAt = p.xinAt ?? null;
  if (xinAt && (ids || xin)) throw new Error('kernelRecurrence: xinAt takes the place of ids and xin; give one of the three.');
  const dense = xin !== null || xinAt !== null;
  const I = xin ? xin.shape[1] : (xinAt?.I ?? 0);
  const two = spec.states === 2;
  // Saved for the backward pass: states h (T+1 rows), the LSTM's c (T+1 rows), gates, what the
  // record saves, token ids, W_hh and (where a backward pass will run) W_hh^T in gemm's panels.
  const saved = k.allocLayout({
    WHH: H * GH,
    WHHTP: p.keep ? H * GH : 0,
    HS: (T + 1) * BH,
    // A copy of c_T right after the states: h_1..h_T and c_T are then one run, the output's values.
    CT: two ? BH : 0,
    CS: two ? (T + 1) * BH : 0,
    ACTS: XG,
    SAVED: spec.saved ? T * BH : 0,
    IDS: ids ? TB : 0,
    // The dense inputs and W_ih, for their gradients.
    XIN: TB * I,
    WIH: I * GH,
  });
  const { HS, CS, ACTS, SAVED, IDS } = saved;
  // Forward scratch: x, this step's h W_hh, b_ih, b_hh, W_hh in gemm's panels, W_ih, h_t's rows
  // packed for the gemm, the dense inputs packed. The rest blocks' panels follow the first cols
  // columns' in WHHP (cols is a multiple of 8).
  const f = k.allocLayout({ X: XG, GHS: B * cols, REST: BH, BX: GH, BHH: GH, WHHP: H * GH, WIH: V * GH, WIHP: I * GH, HP: BH, XINP: TB * I });
  try {
    if (ids) {
      new Int32Array(k.f32.buffer, 4 * IDS, TB).set(ids);
      readInto(p.xp, k.f32, f.WIH);
      k.split(splitRows(TB, 2 * k.threads, 4), (fn, r0, r1) => fn.gatherRows(4 * (f.X + r0 * GH), 4 * f.WIH, 4 * (IDS + r0), r1 - r0, GH), TB * GH);
    } else if (dense) {
      // The matmul's product, gemm for gemm: W_ih in panels, the rows split between threads.
      if (xin) readInto(xin, k.f32, saved.XIN);
      else k.f32.copyWithin(saved.XIN, xinAt!.at, xinAt!.at + TB * I);
      readInto(p.xp, k.f32, saved.WIH);
      packOnThreads(k, f.WIHP, saved.WIH, I, GH);
      gemmOnThreads(k, f.X, saved.XIN, f.XINP, f.WIHP, TB, I, GH);
    } else {
      readInto(p.xp, k.f32, f.X);
    }
    readInto(p.state[0]!, k.f32, HS);
    if (two) readInto(p.state[1]!, k.f32, CS);
    if (p.bx) readInto(p.bx, k.f32, f.BX);
    else k.f32.fill(0, f.BX, f.BX + GH);
    readInto(p.b, k.f32, f.BHH);
    readInto(p.W, k.f32, saved.WHH);
    packOnThreads(k, f.WHHP, saved.WHH, H, GH);
    // The recurrence is independent across batch rows, so each thread runs all T steps for its own
    // rows: one hand-off per pass, none per step (see `rowRuns`). The backward pass's panels of
    // W_hh^T follow as fillers, for the thread that is done with its rows first.
    splitWithFillers(
      k,
      rowRuns(k, B),
      (fn, b0, b1) => {
        const rows = b1 - b0;
        const row = rowsFrom(B, b0);
        for (let t = 0; t < T; t++) {
          fn.packRows(row(f.HP, 0, H), row(HS, t, H), rows, H, H);
          fn.gemmPacked(row(f.GHS, 0, cols), row(f.HP, 0, H), 4 * f.WHHP, rows, H, cols, cols, 0);
          step.forward(fn, {
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
      },
      // Panels of W_hh^T's first cols rows, then of its rest rows: W_hh's rows c0..c1, turned.
      (p.keep ? panelRuns(k, H) : []).map(([c0, c1]) => (fn: KernelCalls) => {
        fn.packPanelsTransposed(4 * (saved.WHHTP + c0 * cols), 4 * (saved.WHH + c0 * GH), cols, c1 - c0, GH);
        if (cols < GH) fn.packPanelsTransposed(4 * (saved.WHHTP + cols * H + c0 * (GH - cols)), 4 * (saved.WHH + c0 * GH + cols), GH - cols, c1 - c0, GH);
      }),
      passWork + H * GH,
    );
  } catch (err) {
    k.release(saved.region);
    throw err;
  } finally {
    k.release(f.region);
  }
  // h_1..h_T, and with two states c_T as one more row, copied once into the tensor (a JavaScript
  // array of their size in between cost more than the copy: a fresh allocation each pass).
  if (two) k.f32.copyWithin(saved.CT, CS + T * BH, CS + (T + 1) * BH);
  const outRows = two ? T + 1 : T;
  // With leaveOutputs only h_T (and c_T after it): the final state.
  const packed = p.leaveOutputs
    ? tensorOfView<tf.Rank.R3>(k.f32.subarray(HS + T * BH, HS + (T + spec.states) * BH), [spec.states, B, H])
    : tensorOfView<tf.Rank.R3>(k.f32.subarray(HS + BH, HS + (outRows + 1) * BH), [outRows, B, H]);
  const backward = gradientOfSaved(
    k,
    saved.region,
    p.keep,
    'fusedRecurrence',
    ({ dy, into }: { dy: tf.Tensor | number; into: WeightGradsAt | null }): PassGrads | { dxin: tf.Tensor2D | null } => {
      const own = step.ownRecurrentGrad;
      const rest = cols < GH;
      // dW_hh on the kernels' gemm takes the inputs transposed, in whole 4 x 4 blocks.
      const ownGemm = TB % 4 === 0 && k.weightGradientGemm;
      // The inputs of the recurrent product: the states, and for a record with rest blocks (d2l's
      // GRU) what the step saved as their input (r h), each for its own columns of dW_hh.
      const parts: [number, number, number][] = rest
        ? [
            [0, cols, HS],
            [cols, GH, SAVED],
          ]
        : [[0, GH, HS]];
      const M = H + 1; // hIn^T with a row of ones under it: dW_hh, then the bias gradient
      // Backward scratch: dy (with the final states' gradients as its last rows), dx, dg (when the
      // record has its own), dh, the direct part of dh_{t-1}, dg W_hh^T, the running dc, the step's
      // dg packed for the gemm, each part's inputs transposed over a row of ones (packed), dG in
      // gemm's panels, dW_hh over db_hh, and W_ih's gradient. W_hh^T's panels came with the forward pass.
      const r = k.allocLayout({
        DY: typeof dy === 'number' ? 0 : (T + spec.states - 1) * BH,
        DX: XG,
        DG: own ? XG : 0,
        DH: BH,
        DHP: BH,
        BACK: BH,
        DC: BH,
        DGH: rest ? B * cols : 0,
        DGPK: B * cols,
        S1: BH,
        S2: BH,
        HINT: ownGemm ? parts.length * M * TB : 0,
        DGP: ownGemm ? XG : 0,
        DWB: ownGemm ? M * GH : 0,
        DWI: V * GH,
      });
      try {
        const DG = own ? r.DG : r.DX;
        // dy where the caller left it in the kernels' memory, else read from its tensor.
        const DY = typeof dy === 'number' ? dy : r.DY;
        if (typeof dy !== 'number') readInto(dy, k.f32, DY);
        k.f32.copyWithin(r.DH, DY + (T - 1) * BH, DY + T * BH);
        if (two) k.f32.copyWithin(r.DC, DY + T * BH, DY + (T + 1) * BH);
        // Each thread's rows as in the forward pass. The step kernels write only the gate gradients:
        // the bias gradients are summed after the loop from all of dG (and dX), in one order whatever
        // the thread count, so that a run gives the same bits on any number of threads (a resumed run
        // must equal an uninterrupted one). dW_hh's inputs, transposed and packed for its gemm
        // (blocks of 4 inputs, straight from their rows), are the fillers: the forward pass made them.
        const hinT = (i: number) => r.HINT + i * M * TB;
        splitWithFillers(
          k,
          rowRuns(k, B),
          (fn, b0, b1) => {
            const rows = b1 - b0;
            const row = rowsFrom(B, b0);
            for (let t = T - 1; t >= 0; t--) {
              const dg = row(DG, t, GH);
              step.backward(fn, {
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
                dgh: rest ? row(r.DGH, 0, cols) : dg,
                restPanelsT: 4 * (saved.WHHTP + cols * H),
                scratch: row(r.S1, 0, H),
                scratch2: row(r.S2, 0, H),
              });
              // With `into` no state gradient goes out: dh_{-1}, step 0's product, is not made.
              if (t === 0 && into) break;
              // dh_{t-1}: through W_hh, what step t-1's own output received, and the step's direct part.
              // Where there is nothing to add (the first step of a record without a direct part), the
              // product goes straight to dh.
              const dyPrev = t > 0 ? row(DY, t - 1, H) : 0;
              const straight = !step.directPath && !dyPrev;
              fn.packRows(row(r.DGPK, 0, cols), rest ? row(r.DGH, 0, cols) : dg, rows, cols, cols);
              fn.gemmPacked(straight ? row(r.DH, 0, H) : row(r.BACK, 0, H), row(r.DGPK, 0, cols), 4 * saved.WHHTP, rows, cols, H, H, 0);
              if (step.directPath) fn.add3(row(r.DH, 0, H), row(r.DHP, 0, H), row(r.BACK, 0, H), dyPrev, rows * H);
              else if (dyPrev) fn.add3(row(r.DH, 0, H), row(r.BACK, 0, H), dyPrev, 0, rows * H);
            }
          },
          ownGemm
            ? parts.flatMap(([, , IN], i) =>
                splitRows(H, 2 * k.threads, 4).map(
                  ([c0, c1]) =>
                    (fn: KernelCalls) =>
                      fn.packColumns(4 * (hinT(i) + c0 * TB), 4 * (IN + c0), TB, c1 - c0, H),
                ),
              )
            : [],
          2 * passWork,
        );
        // W_ih's gradient: each step's dx added into its token's row, by chunks of columns (each
        // element's sum in the order of the steps, so the bits of one pass over whole rows).
        if (ids) k.f32.fill(0, r.DWI, r.DWI + V * GH);
        const scatter = ids
          ? splitRows(GH, 2 * k.threads, 4).map(
              ([c0, c1]) =>
                (fn: KernelCalls) =>
                  fn.addRowsStrided(4 * (r.DWI + c0), 4 * (r.DX + c0), 4 * IDS, TB, c1 - c0, GH),
            )
          : [];
        // Each weight gradient where it is in the kernels' memory (a float offset), or as a tensor
        // where TensorFlow.js formed it; below they go out as tensors, or into `into`.
        let dW: number | tf.Tensor;
        let db: number | tf.Tensor1D;
        if (ownGemm) {
          // dW_hh (H, G*H) = hIn^T dG, with a row of ones under hIn^T so that the product's last row
          // is the bias gradient (dG's column sums): dG goes into gemm's panels once, unchanged, and
          // the long T*B axis is the inner one. Each product splits by rows, the packings by panels
          // (of dG) and by blocks of 4 inputs (hIn^T, packed for the gemm straight from hIn's rows);
          // a sum's order is the same on any number of threads.
          // The ones: with H % 4 == 0 (which the kernels need), row H is the packed layout's one plain row.
          for (const i of parts.keys()) k.f32.fill(1, hinT(i) + H * TB, hinT(i) + M * TB);
          packOnThreads(k, r.DGP, DG, TB, GH);
          // W_ih's scatter-add fills the last product's job.
          for (const [i, [g0, g1]] of parts.entries()) {
            splitWithFillers(
              k,
              splitRows(M, 2 * k.threads, 4),
              (fn, m0, m1) => fn.gemmPacked(4 * (r.DWB + m0 * GH + g0), 4 * (hinT(i) + m0 * TB), 4 * (r.DGP + g0 * TB), m1 - m0, TB, g1 - g0, GH, 0),
              i === parts.length - 1 ? scatter : [],
              M * TB * (g1 - g0),
            );
          }
          dW = r.DWB;
          db = r.DWB + H * GH;
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
          // The same sums as the gemm's row of ones: dG's rows in order.
          db = columnSums(k, DG, TB, GH);
          for (const add of scatter) add(k.fn);
        }
        let dxp: number | tf.Tensor;
        let dxin: tf.Tensor2D | null = null;
        // db_ih sums what the input projection saw: db_hh unless the record has its own dG, else the
        // rows of W_ih's gradient (a token's rows are summed there already) or of dx.
        const dbxFrom: [number, number] | null = p.bx && own ? (ids ? [r.DWI, V] : [r.DX, TB]) : null;
        if (ids) dxp = r.DWI;
        else if (dense) {
          // W_ih's gradient and the dense inputs': what the matmul's gradient would make of dX.
          // dW_hh is done with its panels of dG and its transposed inputs: their room serves again.
          // With `into`, W_ih's goes straight there, and the inputs' too where the caller gave room.
          const grads = denseInputGrads(k, {
            T,
            B,
            I,
            GH,
            DX: r.DX,
            XIN: saved.XIN,
            WIH: saved.WIH,
            DXP: ownGemm ? r.DGP : null,
            XT: ownGemm && parts.length * M >= I ? r.HINT : null,
            dWAt: into ? into.dxp : null,
            dxAt: into?.dxin ?? null,
          });
          dxp = grads.dW;
          dxin = typeof grads.dx === 'number' ? null : grads.dx;
        } else dxp = r.DX;
        try {
          if (into) {
            put(k, dW, H * GH, into.dW);
            put(k, db, GH, into.db);
            // (gradInto takes token ids or dense inputs only: W_ih's gradient has V or I rows.)
            put(k, dxp, typeof dxp === 'number' ? (ids ? V : I) * GH : dxp.size, into.dxp);
            if (into.dbx !== null) {
              if (dbxFrom) k.fn.columnSums(4 * into.dbx, 4 * dbxFrom[0], dbxFrom[1], GH);
              else k.f32.copyWithin(into.dbx, into.db, into.db + GH);
            }
            return { dxin };
          }
          const tensor = <R extends tf.Rank>(g: number | tf.Tensor, count: number, shape: tf.ShapeMap[R]): tf.Tensor<R> =>
            typeof g === 'number' ? tensorOfView<R>(k.f32.subarray(g, g + count), shape) : (g as tf.Tensor<R>);
          const dbT = tensor<tf.Rank.R1>(db, GH, [GH]);
          const dbx = !p.bx ? null : dbxFrom ? columnSums(k, dbxFrom[0], dbxFrom[1], GH) : tf.clone(dbT);
          const dState = [tensorOfView<tf.Rank.R2>(k.f32.subarray(r.DH, r.DH + BH), [B, H])];
          if (two) dState.push(tensorOfView<tf.Rank.R2>(k.f32.subarray(r.DC, r.DC + BH), [B, H]));
          return {
            dxp: ids ? tensor(dxp, V * GH, [V, GH]) : tensor(dxp, XG, [T, B, GH]),
            dState,
            dW: tensor(dW, H * GH, [H, GH]),
            db: dbT,
            dbx,
            dxin,
          } satisfies PassGrads;
        } catch (err) {
          tf.dispose([dxin, ...[dW, db, dxp].filter((g) => typeof g !== 'number')] as tf.Tensor[]);
          throw err;
        }
      } finally {
        k.release(r.region);
      }
    },
  );
  return {
    packed,
    gradFunc: (dy) => backward({ dy, into: null }) as PassGrads,
    gradInto: (dy, into) => {
      // W_ih's gradient is a weight's only with token ids or dense inputs (else it is dX's T x B x G*H).
      if (!ids && !dense) throw new Error('kernelRecurrence: gradInto needs a pass over token ids or dense inputs.');
      if (into.dxin !== undefined && (ids || !dense))
        throw new Error("kernelRecurrence: gradInto was given room for the dense inputs' gradient, but the pass has none.");
      if ((into.dbx === null) !== (p.bx === null)) throw new Error("kernelRecurrence: gradInto's room for b_ih's gradient must match the pass's b_ih.");
      return backward({ dy, into }).dxin;
    },
    outputsAt: HS + BH,
  };
}

/**
 * The dense inputs' two gradients from dX (T*B, G*H, the input projection's gradient), as the
 * matmul x W_ih's gradient gives them, gemm for gemm: W_ih's = x^T dX and the inputs' = dX W_ih^T,
 * each a sum in the order of the matmul's (over the rows, and over G*H). x and W_ih are where the
 * forward pass saved them. Each is written at its offset where one is given (and that offset is
 * the result), else given as a tensor.
 */
function denseInputGrads(
  k: Kernels,
  at: {
    T: number;
    B: number;
    I: number;
    GH: number;
    DX: number;
    XIN: number;
    WIH: number;
    DXP: number | null;
    XT: number | null;
    dWAt: number | null;
    dxAt: number | null;
  },
): { dW: number | tf.Tensor2D; dx: number | tf.Tensor2D } {
  const { I, GH, DX, XIN, WIH } = at;
  const TB = at.T * at.B;
  // Room for dX's panels (T*B x G*H) and x^T (I x T*B) where the caller has none free to lend, and
  // for the results where they go out as tensors.
  const own = k.allocLayout({
    XT: at.XT === null ? I * TB : 0,
    DXP: at.DXP === null ? TB * GH : 0,
    WT: GH * I,
    WTP: GH * I,
    DW: at.dWAt === null ? I * GH : 0,
    DXIN: at.dxAt === null ? TB * I : 0,
  });
  const g = { ...own, XT: at.XT ?? own.XT, DXP: at.DXP ?? own.DXP, DW: at.dWAt ?? own.DW, DXIN: at.dxAt ?? own.DXIN };
  try {
    // W_ih's gradient (I, G*H) = x^T dX: x^T packed for the gemm, dX in panels.
    packColumnsOnThreads(k, g.XT, XIN, TB, I);
    packOnThreads(k, g.DXP, DX, TB, GH);
    gemmPackedOnThreads(k, g.DW, g.XT, g.DXP, I, TB, GH);
    // The inputs' gradient (T*B, I) = dX W_ih^T: W_ih^T (G*H, I) in panels, dX's rows packed where
    // its panels were.
    transposeOnThreads(k, g.WT, WIH, I, GH);
    packOnThreads(k, g.WTP, g.WT, GH, I);
    gemmOnThreads(k, g.DXIN, DX, g.DXP, g.WTP, TB, GH, I);
    const dW = at.dWAt ?? tensorOfView<tf.Rank.R2>(k.f32.subarray(g.DW, g.DW + I * GH), [I, GH]);
    try {
      return { dW, dx: at.dxAt ?? tensorOfView<tf.Rank.R2>(k.f32.subarray(g.DXIN, g.DXIN + TB * I), [TB, I]) };
    } catch (err) {
      if (typeof dW !== 'number') dW.dispose();
      throw err;
    }
  } finally {
    k.release(own.region);
  }
}

/** A gradient of `count` floats, in the kernels' memory at `g` or a tensor (disposed here), copied to `to`. */
function put(k: Kernels, g: number | tf.Tensor, count: number, to: number): void {
  if (typeof g === 'number') {
    if (g !== to) k.f32.copyWithin(to, g, g + count);
  } else {
    readInto(g, k.f32, to);
    g.dispose();
  }
}

/** The column sums of `rows` rows of `width` floats at `offset`, rows added in order from 0. */
function columnSums(k: Kernels, offset: number, rows: number, width: number): tf.Tensor1D {
  const at = k.alloc(width);
  try {
    k.fn.columnSums(4 * at, 4 * offset, rows, width);
    return tensorOfView<tf.Rank.R1>(k.f32.subarray(at, at + width), [width]);
  } finally {
    k.release(at);
  }
}

/**
 * `k.split` of `runs` through `body`, then `fillers`: independent work (packings a later job needs)
 * as chunks of the same job. Chunks are claimed in order, so a thread done with its share of the
 * runs takes them while another finishes its own, where it would wait for it.
 */
function splitWithFillers(
  k: Kernels,
  runs: [number, number][],
  body: (fn: KernelCalls, start: number, end: number) => void,
  fillers: ((fn: KernelCalls) => void)[],
  work: number,
): void {
  // Chunk i of the job is run i, then filler i - runs.length.
  const count = runs.length;
  k.split(
    Array.from({ length: count + fillers.length }, (_, i): [number, number] => [i, i + 1]),
    (fn, i) => {
      if (i < count) body(fn, ...runs[i]!);
      else fillers[i - count]!(fn);
    },
    work,
  );
}

/**
 * The batch rows of each chunk of a pass: one chunk on one thread or for a small batch, else
 * chunks of whole 4-row tiles (the gemm's), about two a thread, which the threads claim in turn.
 * Splitting by rows rather than by the product's column panels needs no hand-off per step: row b
 * of h_t depends on row b of h_{t-1} only.
 */
function rowRuns(k: Kernels, B: number): [number, number][] {
  return k.threads > 1 && B >= 8 ? splitRows(B, 2 * k.threads, 4) : [[0, B]];
}

/** Column chunks of a packing into gemm's panels (whole 8-column panels), about two a thread. */
function panelRuns(k: Kernels, columns: number): [number, number][] {
  return splitRows(columns, 2 * k.threads, 8);
}

/** `rows` x `width` floats at `src` (row-major) transposed into `dst` (width x rows), split by source rows. */
function transposeOnThreads(k: Kernels, dst: number, src: number, rows: number, width: number): void {
  k.split(splitRows(rows, 2 * k.threads, 4), (fn, r0, r1) => fn.transposeStrided(4 * (dst + r0), 4 * (src + r0 * width), r1 - r0, width, rows), rows * width);
}

/** K x N floats at `src` (row-major) into gemm's panels at `dst`, split by panels. */
function packOnThreads(k: Kernels, dst: number, src: number, K: number, N: number): void {
  k.split(panelRuns(k, N), (fn, c0, c1) => fn.packPanelsWide(4 * (dst + c0 * K), 4 * (src + c0), K, c1 - c0, N), K * N);
}

/**
 * C (M x N) at `C` = A (M x K, row-major) at `A` times the panels at `P`, split by rows of A; each
 * chunk's rows are packed for the gemm into `AP` (M x K floats) first.
 */
function gemmOnThreads(k: Kernels, C: number, A: number, AP: number, P: number, M: number, K: number, N: number): void {
  k.split(
    splitRows(M, 2 * k.threads, 4),
    (fn, r0, r1) => {
      fn.packRows(4 * (AP + r0 * K), 4 * (A + r0 * K), r1 - r0, K, K);
      fn.gemmPacked(4 * (C + r0 * N), 4 * (AP + r0 * K), 4 * P, r1 - r0, K, N, N, 0);
    },
    M * K * N,
  );
}

/** `gemmOnThreads` with A already in `packRows`' layout at `AP`. */
function gemmPackedOnThreads(k: Kernels, C: number, AP: number, P: number, M: number, K: number, N: number): void {
  k.split(splitRows(M, 2 * k.threads, 4), (fn, r0, r1) => fn.gemmPacked(4 * (C + r0 * N), 4 * (AP + r0 * K), 4 * P, r1 - r0, K, N, N, 0), M * K * N);
}

/** X^T packed for the gemm (`packColumns`), X `rows` x `width` floats at `src`, split by blocks of 4 columns. */
function packColumnsOnThreads(k: Kernels, dst: number, src: number, rows: number, width: number): void {
  k.split(splitRows(width, 2 * k.threads, 4), (fn, c0, c1) => fn.packColumns(4 * (dst + c0 * rows), 4 * (src + c0), rows, c1 - c0, width), rows * width);
}

/**
 * For a chunk starting at batch row b0: the byte offset of rows b0.. of step t in a buffer with B
 * rows of `width` floats per step.
 */
function rowsFrom(B: number, b0: number): (base: number, t: number, width: number) => number {
  return (base, t, width) => 4 * (base + (t * B + b0) * width);
}
