import * as tf from '@tensorflow/tfjs-core';
import type { RecurrentLanguageModel, State } from '@rnnkit/cells';
import { languageModelObjective } from './train.js';

/**
 * One thread's share of a data-parallel step, the same on the calling thread and in each worker:
 * the mean loss of its rows and its gradients, with its rows' recurrent state carried from one
 * minibatch to the next (fresh on `reset`).
 */
export class PartStep {
  private state: State | null = null;

  constructor(private readonly model: RecurrentLanguageModel) {}

  /** Loss and gradients (by variable name; the caller disposes them) of `rows` x `numSteps` ids. */
  run(X: Int32Array, Y: Int32Array, rows: number, numSteps: number, reset: boolean): { loss: number; grads: tf.NamedTensorMap } {
    if (reset || !this.state) {
      if (this.state) tf.dispose(this.state);
      this.state = this.model.beginState(rows);
    }
    const Xt = tf.tensor2d(X, [rows, numSteps], 'int32');
    const Yt = tf.tensor2d(Y, [rows, numSteps], 'int32');
    const s0 = this.state;
    let next: State = [];
    const { value, grads } = tf.variableGrads(
      languageModelObjective(this.model, Xt, Yt, s0, (s) => (next = s)),
      this.model.trainableVariables,
    );
    const loss = value.dataSync()[0] as number;
    tf.dispose([Xt, Yt, value, s0]);
    this.state = next;
    return { loss, grads };
  }

  dispose(): void {
    if (this.state) tf.dispose(this.state);
    this.state = null;
  }
}
