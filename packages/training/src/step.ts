import * as tf from '@tensorflow/tfjs-core';
import { GradientsInKernels, withSharedSaves } from '@rnnkit/cells';
import { checkTheta, clipGradsByGlobalNorm, globalNorm } from './clip.js';
import { clippedUpdateOnKernels } from './kernel-update.js';

/**
 * Clips `grads` by global norm (`theta`; no clipping when undefined), applies one optimizer
 * update and frees them (tensors, or gradients a model left in rnnkit's kernels' memory). Returns
 * the gradient norm before clipping.
 */
export function applyClippedGradients(grads: tf.NamedTensorMap | GradientsInKernels, optimizer: tf.Optimizer, theta?: number): number {
  try {
    if (theta !== undefined) checkTheta(theta);
    // Plain SGD and Adam: clipping and the update in one pass on rnnkit's kernels where they run.
    const norm = clippedUpdateOnKernels(grads, optimizer, theta);
    if (norm !== null) {
      disposeGradients(grads);
      return norm;
    }
  } catch (err) {
    disposeGradients(grads);
    throw err;
  }
  if (grads instanceof GradientsInKernels) {
    // The optimizer's own update, on tensors of them.
    try {
      return clippedUpdateWithOps(grads.toTensors(), optimizer, theta);
    } finally {
      grads.release();
    }
  }
  return clippedUpdateWithOps(grads, optimizer, theta);
}

function disposeGradients(grads: tf.NamedTensorMap | GradientsInKernels): void {
  if (grads instanceof GradientsInKernels) grads.release();
  else tf.dispose(grads);
}

/** `applyClippedGradients` with TensorFlow.js's ops and the optimizer's own update; frees `grads`. */
function clippedUpdateWithOps(grads: tf.NamedTensorMap, optimizer: tf.Optimizer, theta: number | undefined): number {
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
  // The tape's saved tensors as shares of their data, not Identity copies, where rnnkit's kernels run.
  const { value, grads } = withSharedSaves(() => tf.variableGrads(loss, variables));
  const gradNorm = applyClippedGradients(grads, optimizer, theta);
  const result = { loss: value.dataSync()[0] as number, gradNorm };
  value.dispose();
  return result;
}
