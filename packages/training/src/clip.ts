import * as tf from '@tensorflow/tfjs-core';

/** Global L2 norm of all gradients: sqrt(sum of squares over every element of every gradient). */
export function globalNorm(grads: readonly tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g))))) as tf.Scalar);
}

/** Throws unless `theta`, a clipping threshold, is above 0. */
export function checkTheta(theta: number): void {
  if (!(theta > 0)) throw new RangeError(`Clipping theta must be > 0, got ${theta}.`);
}

/**
 * d2l `grad_clipping`: if the global norm exceeds theta, scale every gradient by theta / norm.
 * Returns new gradient tensors (the caller disposes the old ones) and the norm before clipping.
 * Stays on the device: no read-back per step.
 */
export function clipGradsByGlobalNorm(grads: tf.NamedTensorMap, theta: number): { grads: tf.NamedTensorMap; norm: tf.Scalar } {
  checkTheta(theta);
  const names = Object.keys(grads);
  return tf.tidy(() => {
    const norm = globalNorm(names.map((n) => grads[n] as tf.Tensor));
    // theta / max(norm, theta) is 1 below the threshold and theta / norm above it.
    const scale = tf.div(theta, tf.maximum(norm, theta));
    const clipped: tf.NamedTensorMap = {};
    for (const n of names) clipped[n] = tf.mul(grads[n] as tf.Tensor, scale);
    return { grads: clipped, norm };
  });
}
