import type * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@rnnkit/data';
import type { Params, State } from './params.js';

/**
 * A from-scratch recurrent cell: the three functions d2l's `RNNModelScratch` takes. A new cell is
 * one module implementing this; the scratch model and the training loop need no change.
 */
export interface ScratchCell {
  /** d2l `get_params`: weights N(0, 0.01^2), zero biases, including the output layer W_hq, b_q. */
  initParams(vocabSize: number, numHiddens: number, rng: Rng): Params;
  /** d2l `init_*_state`: zeros, one (batch, hidden) tensor per state part. */
  initState(batchSize: number, numHiddens: number): State;
  /**
   * d2l's forward function: `inputs` are one-hot, time-major (steps, batch, vocab). Returns every
   * step's output concatenated along time, (steps*batch, vocab), and the new state.
   */
  forward(inputs: tf.Tensor3D, state: State, params: Record<string, tf.Tensor>): { outputs: tf.Tensor2D; state: State };
}
