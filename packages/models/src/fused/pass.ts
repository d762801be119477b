import type * as tf from '@tensorflow/tfjs-core';
import type { RecurrenceSpec } from './kinds.js';

/** One pass of a fused recurrence, as both implementations (JS loops, wasm kernels) take it. */
export interface Pass {
  spec: RecurrenceSpec;
  T: number;
  B: number;
  H: number;
  /** The input projections (T, B, G*H), or W_ih (V or I, G*H) with `ids` or `xin`. */
  xp: tf.Tensor;
  /** Token ids (T*B, time-major) of one-hot inputs, or null. */
  ids: Int32Array | null;
  /**
   * Dense inputs (T*B, I), time-major rows, whose projection x W_ih (`xp` being W_ih (I, G*H))
   * runs inside the pass; or null. Only the kernels take them.
   */
  xin: tf.Tensor2D | null;
  /**
   * The kernels' pass only, instead of `xin`: dense inputs already in the kernels' memory, T*B rows
   * of `I` floats at offset `at` (a lower layer's `outputsAt`), read once by the forward pass.
   */
  xinAt?: { at: number; I: number } | null;
  /** [h0] or [h0, c0]. */
  state: tf.Tensor2D[];
  /** W_hh (H, G*H), b_hh, and b_ih when added inside. */
  W: tf.Tensor2D;
  b: tf.Tensor1D;
  bx: tf.Tensor1D | null;
  /** Whether a backward pass can follow (else what it would need is released at once). */
  keep: boolean;
  /**
   * The kernels' pass only, for a caller that reads the outputs where they are: h_1..h_T stay in
   * the kernels' memory (at the result's `outputsAt`, until the gradient is taken) and `packed`
   * holds just the final state, [h_T] or [h_T, c_T] (S, B, H). Needs `keep`.
   */
  leaveOutputs?: boolean;
}

/** The gradients of one pass, one per input. */
export interface PassGrads {
  dxp: tf.Tensor;
  dState: tf.Tensor2D[];
  dW: tf.Tensor;
  db: tf.Tensor1D;
  dbx: tf.Tensor1D | null;
  /** The dense inputs' gradient (T*B, I) with `xin` or `xinAt`, else null. */
  dxin: tf.Tensor2D | null;
}

/**
 * A pass's result: every step's h (T, B, H) and then, for the LSTM, c_T as one more row (one
 * tensor, because `tf.customGrad` takes one; `fusedRecurrence` splits it), and its backward pass.
 */
export interface PassResult {
  packed: tf.Tensor3D;
  gradFunc: (dy: tf.Tensor) => PassGrads;
}
