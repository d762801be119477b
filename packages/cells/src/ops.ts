import * as tf from '@tensorflow/tfjs-core';

/**
 * Float one-hot vectors. Built as int32 then cast: the wasm backend's OneHot (tfjs 4.22) writes
 * integer bits into float32 outputs, so `tf.oneHot(..., 'float32')` gives 1.4e-45 there, not 1.
 */
export function oneHotFloat(indices: tf.Tensor, depth: number): tf.Tensor {
  return tf.tidy(() => tf.cast(tf.oneHot(indices as tf.Tensor1D, depth), 'float32'));
}
