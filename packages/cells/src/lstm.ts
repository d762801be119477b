import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@rnnkit/data';
import type { ScratchCell } from './cell.js';
import { affine } from './ops.js';
import { gatedParams, param, zeroState, type Params, type State } from './params.js';

/** d2l `get_lstm_params` (9.2): input i, forget f, output o gates, candidate c, output q. */
export function lstmParams(vocabSize: number, numHiddens: number, rng: Rng): Params {
  return gatedParams(['i', 'f', 'o', 'c'], vocabSize, numHiddens, rng);
}

/** d2l `init_lstm_state`: (H, C). */
export function lstmState(batchSize: number, numHiddens: number): State {
  return zeroState(batchSize, numHiddens, 2);
}

/** d2l `lstm`: C = F * C + I * C~, H = O * tanh(C). */
export function lstmForward(inputs: tf.Tensor3D, state: State, params: Record<string, tf.Tensor>): { outputs: tf.Tensor2D; state: State } {
  const names = ['W_xi', 'W_hi', 'b_i', 'W_xf', 'W_hf', 'b_f', 'W_xo', 'W_ho', 'b_o', 'W_xc', 'W_hc', 'b_c', 'W_hq', 'b_q'];
  const [W_xi, W_hi, b_i, W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc, b_c, W_hq, b_q] = names.map((n) => param(params, n)) as tf.Tensor2D[];
  let H = state[0] as tf.Tensor2D;
  let C = state[1] as tf.Tensor2D;
  const outputs: tf.Tensor2D[] = [];
  for (const X of tf.unstack(inputs) as tf.Tensor2D[]) {
    const I = tf.sigmoid(affine(X, W_xi!, H, W_hi!, b_i!));
    const F = tf.sigmoid(affine(X, W_xf!, H, W_hf!, b_f!));
    const O = tf.sigmoid(affine(X, W_xo!, H, W_ho!, b_o!));
    const Ctilde = tf.tanh(affine(X, W_xc!, H, W_hc!, b_c!));
    C = tf.add(tf.mul(F, C), tf.mul(I, Ctilde));
    H = tf.mul(O, tf.tanh(C));
    outputs.push(tf.add(tf.matMul(H, W_hq!), b_q!));
  }
  return { outputs: tf.concat(outputs, 0), state: [H, C] };
}

export const lstmCell: ScratchCell = { initParams: lstmParams, initState: lstmState, forward: lstmForward };
