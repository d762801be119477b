import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@rnnkit/data';
import type { ScratchCell } from './cell.js';
import { affine } from './ops.js';
import { gatedParams, param, zeroState, type Params, type State } from './params.js';

/** d2l `get_params` (9.1): update gate z, reset gate r, candidate h, output q. */
export function gruParams(vocabSize: number, numHiddens: number, rng: Rng): Params {
  return gatedParams(['z', 'r', 'h'], vocabSize, numHiddens, rng);
}

/** d2l `init_gru_state`: (H,). */
export function gruState(batchSize: number, numHiddens: number): State {
  return zeroState(batchSize, numHiddens, 1);
}

/**
 * d2l `gru`. The reset gate multiplies H before the recurrent matmul:
 * H~ = tanh(X W_xh + (R * H) W_hh + b_h), then H = Z * H + (1 - Z) * H~.
 */
export function gruForward(inputs: tf.Tensor3D, state: State, params: Record<string, tf.Tensor>): { outputs: tf.Tensor2D; state: State } {
  const names = ['W_xz', 'W_hz', 'b_z', 'W_xr', 'W_hr', 'b_r', 'W_xh', 'W_hh', 'b_h', 'W_hq', 'b_q'];
  const [W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q] = names.map((n) => param(params, n)) as tf.Tensor2D[];
  let H = state[0] as tf.Tensor2D;
  const outputs: tf.Tensor2D[] = [];
  for (const X of tf.unstack(inputs) as tf.Tensor2D[]) {
    const Z = tf.sigmoid(affine(X, W_xz!, H, W_hz!, b_z!));
    const R = tf.sigmoid(affine(X, W_xr!, H, W_hr!, b_r!));
    const Htilde = tf.tanh(affine(X, W_xh!, tf.mul(R, H), W_hh!, b_h!));
    H = tf.add(tf.mul(Z, H), tf.mul(tf.sub(1, Z), Htilde));
    outputs.push(tf.add(tf.matMul(H, W_hq!), b_q!));
  }
  return { outputs: tf.concat(outputs, 0), state: [H] };
}

export const gruCell: ScratchCell = { initParams: gruParams, initState: gruState, forward: gruForward };
