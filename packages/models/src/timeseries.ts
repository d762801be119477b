import * as tf from '@tensorflow/tfjs-core';
import { checkOptions, checkPositiveInts, createRng, timeMajor } from '@rnnkit/data';
import type { CellKind } from './cell-kinds.js';
import { Dense, RecurrentLayer } from './layers.js';
import { VariableOwner } from '@rnnkit/cells';

export interface TimeSeriesRegressorOptions {
  /** Features per step. Default 1. */
  inputSize?: number;
  numHiddens: number;
  /** Default 'gru' (the PyTorch forecaster's `nn.GRU(input_size, num_hiddens)`). */
  cell?: CellKind;
  seed?: number | string;
}

/**
 * The PyTorch GRU forecaster on d2l's noisy sine (its `RNNModel`): a recurrent layer over (steps, batch, features) and a
 * Linear(H, 1) on the last hidden state, predicting the next value.
 */
export class TimeSeriesRegressor extends VariableOwner {
  readonly rnn: RecurrentLayer;
  readonly head: Dense;
  readonly inputSize: number;

  constructor(options: TimeSeriesRegressorOptions) {
    super();
    checkOptions(options, 'new TimeSeriesRegressor({ numHiddens: 32 })');
    this.inputSize = options.inputSize ?? 1;
    checkPositiveInts({ inputSize: this.inputSize, numHiddens: options.numHiddens });
    const rng = createRng(options.seed ?? 0);
    this.rnn = new RecurrentLayer(options.cell ?? 'gru', this.inputSize, options.numHiddens, rng);
    this.head = new Dense(options.numHiddens, 1, rng);
  }

  /** X: (steps, batch, features). Returns (batch, 1). */
  call(X: tf.Tensor3D): tf.Tensor2D {
    return tf.tidy(() => {
      const { state } = this.rnn.apply(X, this.rnn.beginState(X.shape[1]));
      return this.head.apply(state[0] as tf.Tensor2D);
    });
  }

  /**
   * Windows (rows of `tau` past values, row-major) -> one prediction per window. Single-feature
   * series only.
   */
  predictWindows(windows: Float32Array, tau: number): Float32Array {
    if (this.inputSize !== 1) throw new Error('predictWindows takes single-feature series; call() takes (steps, batch, features).');
    const steps = timeMajor(windows, tau);
    const y = tf.tidy(() => this.call(tf.tensor3d(steps, [tau, windows.length / tau, 1])));
    const out = y.dataSync() as Float32Array;
    y.dispose();
    return out;
  }

  namedVariables(): Record<string, tf.Variable> {
    return { ...this.rnn.namedVariables(), W_out: this.head.W, b_out: this.head.b };
  }
}
