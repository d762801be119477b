import * as tf from '@tensorflow/tfjs-core';
import {
  activeKernels,
  kernelsUnavailableReason,
  oneHotFloat,
  productRuns,
  readInto,
  recordOpPath,
  splitRows,
  tensorOfView,
  type Kernels,
} from '@rnnkit/cells';
import { checkIds } from './gather.js';
import { gradientOfSaved } from './saved-region.js';

/**
 * The mean softmax cross-entropy of a dense layer's logits, x W + b, against `labels` (one class id
 * per row of x): d2l's `nn.Linear` head and `nn.CrossEntropyLoss` as one op with its own gradient.
 * With `weights` (one per row) it is the weighted sum of the rows' losses instead: a padding mask
 * over the number of steps gives d2l's `MaskedSoftmaxCELoss(...).sum()`, a mask over its own sum
 * the mean over the unmasked tokens.
 * On rnnkit's WebAssembly kernels the logits, their softmax and the gradients stay in the kernels'
 * memory: a product and one pass over the rows forward, two products back, split over the kernels'
 * threads, where the separate ops run some 40 TensorFlow.js kernels and copy the logits in and out
 * of them. On any backend; where the kernels are not at hand (no WebAssembly SIMD, a browser's main
 * thread before they compile) or x's rows or features are not multiples of 4, it is those ops.
 */
export function denseCrossEntropy(x: tf.Tensor2D, W: tf.Tensor2D, b: tf.Tensor1D, labels: Int32Array, weights?: Float32Array): tf.Scalar {
  const [N, H] = x.shape;
  const [HW, V] = W.shape;
  if (HW !== H) throw new Error(`denseCrossEntropy: x has ${H} features but W has ${HW} rows.`);
  if (b.size !== V) throw new Error(`denseCrossEntropy: b has ${b.size} entries, expected ${V} (W's columns).`);
  if (labels.length !== N) throw new Error(`denseCrossEntropy: ${N} rows of x but ${labels.length} labels.`);
  if (weights && weights.length !== N) throw new Error(`denseCrossEntropy: ${N} rows of x but ${weights.length} weights.`);
  checkIds(labels, V);
  const k = activeKernels();
  const fallback = !k
    ? kernelsUnavailableReason()
    : N % 4 !== 0
      ? `${N} rows are not a multiple of 4`
      : H % 4 !== 0
        ? `${H} features are not a multiple of 4`
        : null;
  recordOpPath('denseCrossEntropy', fallback === null, fallback ?? undefined);
  if (!k || fallback !== null) {
    return tf.tidy(() => {
      const targets = oneHotFloat(tf.tensor1d(labels, 'int32'), V);
      const logits = tf.add(tf.matMul(x, W), b);
      if (!weights) return tf.losses.softmaxCrossEntropy(targets, logits, undefined, 0, tf.Reduction.MEAN) as tf.Scalar;
      return tf.sum(tf.mul(tf.losses.softmaxCrossEntropy(targets, logits, undefined, 0, tf.Reduction.NONE), tf.tensor1d(weights))) as tf.Scalar;
    });
  }
  const keep = tf.engine().isTapeOn();
  const run = tf.customGrad(((xs: tf.Tensor2D, Ws: tf.Tensor2D, bs: tf.Tensor1D) =>
    kernelPass(k, xs, Ws, bs, labels, weights ?? null, keep)) as unknown as Parameters<typeof tf.customGrad>[0]);
  return run(x, W, b) as tf.Scalar;
}

/** The row chunks of a product (M, K) x (K, N) over the kernels' threads (one chunk where it does not split by rows). */
function rowChunks(k: Kernels, M: number, K: number, N: number): [number, number][] {
  return productRuns(M, N, K, k.threads).rows ?? [[0, M]];
}

/** Rows already in the kernels' memory: `rows` x `features` floats from offset `at`. */
export interface RowsInKernels {
  at: number;
  rows: number;
  features: number;
}

/**
 * `denseCrossEntropy`'s pass on the kernels: the loss, its gradient function ([dx, dW, db] for dy,
 * the loss's gradient), and for a caller that takes the gradients itself, `backwardInto`: the
 * gradient for dy = 1 written into the kernels' memory, dx at `dxAt` (N x H floats), dW and db at
 * `into`'s offsets; only one of the two may run, once. x may be rows in the kernels' memory, read
 * there (they must stay until the gradient is taken). Needs x's rows and features in multiples of 4.
 */
export function kernelPass(
  k: Kernels,
  x: tf.Tensor2D | RowsInKernels,
  W: tf.Tensor2D,
  b: tf.Tensor1D,
  labels: Int32Array,
  weights: Float32Array | null,
  keep: boolean,
): { value: tf.Scalar; gradFunc: (dy: tf.Tensor) => tf.Tensor[]; backwardInto: (dxAt: number, into: { dW: number; db: number }) => void } {
  const rows = typeof (x as RowsInKernels).at === 'number' ? (x as RowsInKernels) : null;
  const [N, H] = rows ? [rows.rows, rows.features] : (x as tf.Tensor2D).shape;
  const V = W.shape[1];
  const Vp = (V + 3) & ~3; // the logits' rows in whole lanes; the extra columns get probability 0
  // Kept for the backward pass: x, the softmax rows (then the logits' gradient), the labels, the
  // rows' weights, and W with its rows padded to Vp.
  const saved = k.allocLayout({ X: rows ? 0 : N * H, P: N * Vp, LABELS: N, WEIGHTS: weights ? N : 0, W: H * Vp });
  const X = rows ? rows.at : saved.X;
  const f = k.allocLayout({ WRAW: Vp === V ? 0 : H * V, WP: H * Vp, BIAS: Vp, PARTS: 2 * N });
  let sum = 0;
  try {
    const f32 = k.f32;
    if (!rows) readInto(x as tf.Tensor2D, f32, X);
    new Int32Array(f32.buffer, 4 * saved.LABELS, N).set(labels);
    if (weights) f32.set(weights, saved.WEIGHTS);
    if (Vp === V) readInto(W, f32, saved.W);
    else {
      readInto(W, f32, f.WRAW);
      f32.fill(0, saved.W, saved.W + H * Vp);
      for (let h = 0; h < H; h++) f32.copyWithin(saved.W + h * Vp, f.WRAW + h * V, f.WRAW + (h + 1) * V);
    }
    readInto(b, f32, f.BIAS);
    f32.fill(Number.NEGATIVE_INFINITY, f.BIAS + V, f.BIAS + Vp);
    k.fn.packPanels(4 * f.WP, 4 * saved.W, H, Vp);
    k.split(
      rowChunks(k, N, H, Vp),
      (fn, r0, r1) => {
        fn.gemm(4 * (saved.P + r0 * Vp), 4 * (X + r0 * H), 4 * f.WP, r1 - r0, H, Vp);
        fn.softmaxCrossEntropy(4 * (saved.P + r0 * Vp), 4 * f.BIAS, 4 * (saved.LABELS + r0), 4 * (f.PARTS + 2 * r0), r1 - r0, Vp);
      },
      N * H * Vp,
    );
    // Row i's loss is log(sum) - (z_label - max), from the two parts the kernel left.
    const parts = k.f32.subarray(f.PARTS, f.PARTS + 2 * N);
    const w = weights ? k.f32.subarray(saved.WEIGHTS, saved.WEIGHTS + N) : null;
    for (let i = 0; i < N; i++) {
      const loss = Math.log(parts[2 * i] as number) - (parts[2 * i + 1] as number);
      sum += w ? (w[i] as number) * loss : loss;
    }
  } catch (err) {
    k.release(saved.region);
    throw err;
  } finally {
    k.release(f.region);
  }
  const value = tf.scalar(weights ? sum : sum / N);
  // dy's value, and where the gradients go: tensors (null), or the caller's floats (dx at dxAt, dW and db at into).
  const backward = gradientOfSaved(
    k,
    saved.region,
    keep,
    'denseCrossEntropy',
    ({ dy, dxAt, into }: { dy: number; dxAt: number | null; into: { dW: number; db: number } | null }): tf.Tensor[] => {
      const scale = dy / (weights ? 1 : N);
      // The logits' gradient (p - onehot) scale (times the row's weight), over the softmax rows; its
      // extra columns stay 0.
      k.fn.softmaxCrossEntropyGrad(4 * saved.P, 4 * saved.LABELS, weights ? 4 * saved.WEIGHTS : 0, N, Vp, scale);
      const M = H + 1; // x^T with a row of ones under it: dW, then db (the gradient's column sums)
      const r = k.allocLayout({ XT: M * N, GP: N * Vp, DWB: M * Vp, WTP: Vp * H, DX: dxAt === null ? N * H : 0 });
      const DX = dxAt ?? r.DX;
      try {
        const f32 = k.f32;
        // x^T packed for the gemm straight from x's rows (blocks of 4 features), the ones as the
        // packed layout's one plain row (H % 4 == 0 here: other sizes take the ops above).
        k.split(splitRows(H, 2 * k.threads, 4), (fn, c0, c1) => fn.packColumns(4 * (r.XT + c0 * N), 4 * (X + c0), N, c1 - c0, H), N * H);
        f32.fill(1, r.XT + H * N, r.XT + M * N);
        k.fn.packPanels(4 * r.GP, 4 * saved.P, N, Vp);
        // W^T (Vp, H) in gemm's panels, straight from the padded W: element (v, h) is W[h, v].
        k.fn.packPanelsStrided(4 * r.WTP, 4 * saved.W, Vp, H, 1, Vp);
        k.split(rowChunks(k, M, N, Vp), (fn, m0, m1) => fn.gemmPacked(4 * (r.DWB + m0 * Vp), 4 * (r.XT + m0 * N), 4 * r.GP, m1 - m0, N, Vp, Vp, 0), M * N * Vp);
        k.split(rowChunks(k, N, Vp, H), (fn, r0, r1) => fn.gemm(4 * (DX + r0 * H), 4 * (saved.P + r0 * Vp), 4 * r.WTP, r1 - r0, Vp, H), N * Vp * H);
        // dW's rows without their padding columns: into the caller's room, or a tensor's array.
        const [dW, dWAt] = into ? [f32, into.dW] : [new Float32Array(H * V), 0];
        for (let h = 0; h < H; h++) dW.set(f32.subarray(r.DWB + h * Vp, r.DWB + h * Vp + V), dWAt + h * V);
        if (into) {
          f32.copyWithin(into.db, r.DWB + H * Vp, r.DWB + H * Vp + V);
          return [];
        }
        const db = tensorOfView<tf.Rank.R1>(f32.subarray(r.DWB + H * Vp, r.DWB + H * Vp + V), [V]);
        const grads = [tf.tensor2d(dW, [H, V]), db];
        return dxAt === null ? [tensorOfView<tf.Rank.R2>(f32.subarray(DX, DX + N * H), [N, H]), ...grads] : grads;
      } finally {
        k.release(r.region);
      }
    },
  );
  return {
    value,
    gradFunc: (dy) => backward({ dy: dy.dataSync()[0] as number, dxAt: null, into: null }),
    // The loss's own gradient, as a tape starts from it: one.
    backwardInto: (dxAt, into) => {
      backward({ dy: 1, dxAt, into });
    },
  };
}
