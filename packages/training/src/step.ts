import * as tf from '@tensorflow/tfjs-core';
import { GradientsInKernels } from '@rnnkit/cells';
import { checkTheta, clipGradsByGlobalNorm, globalNorm } from './clip.js';
import { clippedUpdateOnKernels } from './kernel-update.js';

/**
 * Clips `grads` by global norm (`theta`; no clipping when undefined), applies one optimizer
 * update and frees them (tensors, or gradients a model left in rnnkit's kernels' memory). Returns
 * the gradient norm before clipping.
 */
export function applyClippedGradients(grads: tf.NamedTensorMap | GradientsInKernels, optimizer: tf.Optimizer, theta?: number): number {
  if (grads instanceof GradientsInKernels) {
    try {
      if (theta !== undefined) checkTheta(theta);
      // On the kernels where the update runs there; else as tensors, through the optimizer.
      return clippedUpdateOnKernels(grads, optimizer, theta) ?? applyClippedGradients(grads.toTensors(), optimizer, theta);
    } finally {
      grads.release();
    }
  }
  if (theta !== undefined) checkTheta(theta);
  // Plain SGD and Adam: clipping and the update in one pass on rnnkit's kernels where they run.
  const norm = clippedUpdateOnKernels(grads, optimizer, theta);
  if (norm !== null) {
    tf.dispose(grads);
    return norm;
  }
  const clipped = theta === undefined ? { grads, norm: globalNorm(Object.values(grads)) } : clipGradsByGlobalNorm(grads, theta);
  optimizer.applyGradients(clipped.grads);
  const gradNorm = clipped.norm.dataSync()[0] as number;
  tf.dispose([clipped.norm, grads, clipped.grads]);
  return gradNorm;
}

/**
 * One optimisation step on any model: gradients of `loss` with respect to `variables`, optional
 * clipping by global norm (`theta`), one optimizer update. Returns the loss and the gradient norm
 * before clipping.
 */
export function optimizeStep(variables: tf.Variable[], loss: () => tf.Scalar, optimizer: tf.Optimizer, theta?: number): { loss: number; gradNorm: number } {
  const { value, grads } = tf.variableGrads(loss, variables);
  const gradNorm = applyClippedGradients(grads, optimizer, theta);
  const result = { loss: value.dataSync()[0] as number, gradNorm };
  value.dispose();
  return result;
}
