import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@rnnkit/data';
import type { ScratchCell } from './cell.js';
import { affine } from './ops.js';
import { normalVariable, param, zeroState, zerosVariable, type Params, type State } from './params.js';

/** d2l `get_params` (8.5): W_xh, W_hh, b_h, W_hq, b_q. */
export function rnnParams(vocabSize: number, numHiddens: number, rng: Rng): Params {
  return {
    W_xh: normalVariable([vocabSize, numHiddens], rng),
    W_hh: normalVariable([numHiddens, numHiddens], rng),
    b_h: zerosVariable([numHiddens]),
    W_hq: normalVariable([numHiddens, vocabSize], rng),
    b_q: zerosVariable([vocabSize]),
  };
}

/** d2l `init_rnn_state`: (H,). */
export function rnnState(batchSize: number, numHiddens: number): State {
  return zeroState(batchSize, numHiddens, 1);
}

/** d2l `rnn`: H = tanh(X W_xh + H W_hh + b_h), Y = H W_hq + b_q. */
export function rnnForward(inputs: tf.Tensor3D, state: State, params: Record<string, tf.Tensor>): { outputs: tf.Tensor2D; state: State } {
  const [W_xh, W_hh, b_h, W_hq, b_q] = ['W_xh', 'W_hh', 'b_h', 'W_hq', 'b_q'].map((n) => param(params, n)) as tf.Tensor2D[];
  let H = state[0] as tf.Tensor2D;
  const outputs: tf.Tensor2D[] = [];
  for (const X of tf.unstack(inputs) as tf.Tensor2D[]) {
    H = tf.tanh(affine(X, W_xh!, H, W_hh!, b_h!));
    outputs.push(tf.add(tf.matMul(H, W_hq!), b_q!));
  }
  return { outputs: tf.concat(outputs, 0), state: [H] };
}

export const rnnCell: ScratchCell = { initParams: rnnParams, initState: rnnState, forward: rnnForward };
