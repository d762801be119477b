import * as tf from '@tensorflow/tfjs-core';
import { crossEntropyLoss } from './loss.js';
import { makeOptimizer, type OptimizerSpec } from './optim.js';
import { optimizeStep } from './step.js';

/** What `trainSeqClassifier` needs of a model (`@rnnkit/models`' `SeqClassifier` has it). */
export interface SeqClassifierLike {
  /** X (batch, steps) -> logits (batch*steps, classes), batch-major. */
  call(X: tf.Tensor2D): tf.Tensor2D;
  predict(X: tf.Tensor2D): number[][];
  readonly trainableVariables: tf.Variable[];
}

export interface SeqClassifierEpoch {
  /** 0-based, as the seed prints it. */
  epoch: number;
  loss: number;
  /** Predicted class ids after the update, (batch, steps). */
  prediction: number[][];
}

export interface TrainSeqClassifierOptions {
  epochs: number;
  /** Default 0.1 (the seed). */
  lr?: number;
  /** Default 'adam' (the seed). */
  optimizer?: OptimizerSpec;
  onEpochEnd?: (info: SeqClassifierEpoch) => void;
}

/**
 * The seed's toy loop: one full-batch step per epoch on (batch, steps) inputs and per-step
 * labels, then the current guess.
 */
export function trainSeqClassifier(
  model: SeqClassifierLike,
  inputs: { X: Int32Array; Y: Int32Array; batchSize: number; numSteps: number },
  options: TrainSeqClassifierOptions,
): SeqClassifierEpoch[] {
  const { batchSize, numSteps } = inputs;
  if (inputs.X.length !== batchSize * numSteps || inputs.Y.length !== batchSize * numSteps) {
    throw new Error(`X and Y must both hold batchSize x numSteps = ${batchSize * numSteps} ids.`);
  }
  const optimizer = makeOptimizer(options.optimizer ?? 'adam', options.lr ?? 0.1);
  const X = tf.tensor2d(inputs.X, [batchSize, numSteps], 'int32');
  const labels = tf.tensor1d(inputs.Y, 'int32'); // batch-major, like the logits
  const history: SeqClassifierEpoch[] = [];
  try {
    for (let epoch = 0; epoch < options.epochs; epoch++) {
      const { loss } = optimizeStep(model.trainableVariables, () => crossEntropyLoss(model.call(X), labels), optimizer);
      const info = { epoch, loss, prediction: model.predict(X) };
      history.push(info);
      options.onEpochEnd?.(info);
    }
  } finally {
    tf.dispose([X, labels]);
    if (typeof options.optimizer !== 'object') optimizer.dispose();
  }
  return history;
}
