import * as tf from '@tensorflow/tfjs-core';
import { oneHotFloat } from '@rnnkit/cells';

/**
 * Mean softmax cross-entropy of `logits` (rows, classes) against int32 `labels` (rows). With a
 * `mask` (rows; 1 keeps a row, 0 drops it) the mean runs over the kept rows only, as d2l's
 * `MaskedSoftmaxCELoss` for padded sequences. One-hot targets rather than a gather keep the
 * gradient free of `UnsortedSegmentSum`, which the wasm backend lacks.
 */
export function crossEntropyLoss(logits: tf.Tensor2D, labels: tf.Tensor1D, mask?: tf.Tensor1D): tf.Scalar {
  if (labels.shape[0] !== logits.shape[0]) {
    throw new Error(`crossEntropyLoss: ${logits.shape[0]} rows of logits but ${labels.shape[0]} labels.`);
  }
  return tf.tidy(() => {
    const targets = oneHotFloat(labels, logits.shape[1]);
    if (!mask) return tf.losses.softmaxCrossEntropy(targets, logits, undefined, 0, tf.Reduction.MEAN) as tf.Scalar;
    const perRow = tf.losses.softmaxCrossEntropy(targets, logits, undefined, 0, tf.Reduction.NONE);
    return tf.div(tf.sum(tf.mul(perRow, mask)), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
  });
}

/**
 * d2l `MaskedSoftmaxCELoss`: per row, the softmax cross-entropy of its `numSteps` tokens with the
 * padding masked out, summed and divided by `numSteps` (PyTorch's `.mean(dim=1)` over the
 * weighted losses). `logits` (rows*numSteps, vocab) batch-major, `labels` and `mask` (rows*numSteps).
 * Returns (rows); d2l backpropagates its sum.
 */
export function maskedSoftmaxCELoss(logits: tf.Tensor2D, labels: tf.Tensor1D, mask: tf.Tensor1D, numSteps: number): tf.Tensor1D {
  if (labels.shape[0] !== logits.shape[0] || mask.shape[0] !== logits.shape[0] || logits.shape[0] % numSteps !== 0) {
    throw new Error(
      `maskedSoftmaxCELoss: ${logits.shape[0]} rows of logits, ${labels.shape[0]} labels and ${mask.shape[0]} mask entries do not make whole rows of ${numSteps} steps.`,
    );
  }
  return tf.tidy(() => {
    const perToken = tf.losses.softmaxCrossEntropy(oneHotFloat(labels, logits.shape[1]), logits, undefined, 0, tf.Reduction.NONE);
    return tf.div(tf.sum(tf.reshape(tf.mul(perToken, mask), [-1, numSteps]), 1), numSteps) as tf.Tensor1D;
  });
}

/**
 * Mean softmax cross-entropy over all tokens (d2l `nn.CrossEntropyLoss` then `.mean()`).
 * `logits` is (steps*batch, vocab) time-major; `Y` is (batch, steps), so targets are Y.T flattened.
 */
export function languageModelLoss(logits: tf.Tensor2D, Y: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => crossEntropyLoss(logits, tf.reshape(tf.transpose(Y), [-1]) as tf.Tensor1D));
}

/** Mean squared error (`nn.MSELoss`). */
export function mseLoss(predictions: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.squaredDifference(predictions, tf.reshape(targets, predictions.shape))) as tf.Scalar);
}
