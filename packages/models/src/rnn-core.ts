import type * as tf from '@tensorflow/tfjs-core';
import type { State } from '@rnnkit/cells';

/** `fused`: rnnkit's whole-sequence ops with hand-written BPTT. `layers`: TensorFlow.js's `tf.layers`. */
export type RNNModelImplementation = 'fused' | 'layers';

/**
 * The recurrent part of `RNNModel`, one class per implementation (`FusedCore`, `LayersCore`).
 * The model owns the state layout and the dense head; a core runs the stacked layers.
 */
export interface RecurrentCore {
  readonly implementation: RNNModelImplementation;
  /**
   * X: (batch, steps) int32 ids; `state` as `RNNModel.beginState` lays it out. Returns the last
   * layer's outputs, time-major rows (steps*batch, directions*hidden), and the new state.
   * Called inside the model's `tf.tidy`.
   */
  run(X: tf.Tensor2D, state: State): { outputs: tf.Tensor2D; state: State };
  namedVariables(): Record<string, tf.Variable>;
  dispose(): void;
}

/** What both cores are built from. */
export interface CoreConfig {
  vocabSize: number;
  numHiddens: number;
  numLayers: number;
  numDirections: number;
  resetAfter: boolean;
}
