import * as tf from '@tensorflow/tfjs-core';
import { oneHotFloat } from '@rnnkit/cells';

/**
 * Mean softmax cross-entropy over all tokens (d2l `nn.CrossEntropyLoss` then `.mean()`).
 * `logits` is (steps*batch, vocab) time-major; `Y` is (batch, steps), so targets are Y.T flattened.
 * One-hot targets rather than a gather keep the gradient free of `UnsortedSegmentSum`, which
 * the wasm backend lacks.
 */
export function languageModelLoss(logits: tf.Tensor2D, Y: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const targets = tf.reshape(tf.transpose(Y), [-1]) as tf.Tensor1D;
    const labels = oneHotFloat(targets, logits.shape[1]);
    return tf.losses.softmaxCrossEntropy(labels, logits, undefined, 0, tf.Reduction.MEAN) as tf.Scalar;
  });
}
