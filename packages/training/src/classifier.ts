import * as tf from '@tensorflow/tfjs-core';
import { crossEntropyLoss } from './loss.js';
import { makeOptimizer, type OptimizerSpec } from './optim.js';
import { optimizeStep } from './step.js';

/** What `trainSeqClassifier` needs of a model (`@rnnkit/models`' `SeqClassifier` has it). */
export interface SeqClassifierLike {
  /** X (batch, steps) -> logits (batch*steps, classes), batch-major. */
  call(X: tf.Tensor2D): tf.Tensor2D;
  readonly trainableVariables: tf.Variable[];
}

export interface SeqClassifierEpoch {
  /** 0-based, as the PyTorch hello -> ohlol toy prints it. */
  epoch: number;
  loss: number;
  /** Predicted class ids from the forward pass the loss came from (before the update, as the PyTorch hello -> ohlol toy prints them), (batch, steps). */
  prediction: number[][];
}

export interface TrainSeqClassifierOptions {
  epochs: number;
  /** Default 0.1 (the hello -> ohlol toy). */
  lr?: number;
  /** Default 'adam' (the hello -> ohlol toy). */
  optimizer?: OptimizerSpec;
  onEpochEnd?: (info: SeqClassifierEpoch) => void;
}

/**
 * The hello -> ohlol toy's loop (PyTorch, Adam lr 0.1): one full-batch step per epoch on (batch, steps) inputs and per-step
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
      let best: tf.Tensor | null = null;
      const { loss } = optimizeStep(
        model.trainableVariables,
        () => {
          const logits = model.call(X);
          best = tf.keep(tf.argMax(logits, 1));
          return crossEntropyLoss(logits, labels);
        },
        optimizer,
      );
      const ids = (best as unknown as tf.Tensor).dataSync();
      (best as unknown as tf.Tensor).dispose();
      const prediction = Array.from({ length: batchSize }, (_, b) => Array.from(ids.subarray(b * numSteps, (b + 1) * numSteps)));
      const info = { epoch, loss, prediction };
      history.push(info);
      options.onEpochEnd?.(info);
    }
  } finally {
    tf.dispose([X, labels]);
    if (typeof options.optimizer !== 'object') optimizer.dispose();
  }
  return history;
}
