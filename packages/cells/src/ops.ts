import * as tf from '@tensorflow/tfjs-core';
import { affineKernel, composeAffine } from './kernels/affine.js';

/**
 * Float one-hot vectors. Built as int32 then cast: the wasm backend's OneHot (tfjs 4.22) writes
 * integer bits into float32 outputs, so `tf.oneHot(..., 'float32')` gives 1.4e-45 there, not 1.
 */
export function oneHotFloat(indices: tf.Tensor, depth: number): tf.Tensor {
  return tf.tidy(() => tf.cast(tf.oneHot(indices as tf.Tensor1D, depth), 'float32'));
}

/**
 * X W_x + H W_h + b: a gate's (or the candidate's) pre-activation in d2l's scratch cells. One op
 * where the backend has rnnkit's kernel for it (wasm after `installWasmKernels`: one gemm, and one
 * entry on the gradient tape instead of four), else TensorFlow.js's matmuls and adds.
 */
export function affine(X: tf.Tensor2D, Wx: tf.Tensor2D, H: tf.Tensor2D, Wh: tf.Tensor2D, b: tf.Tensor): tf.Tensor2D {
  return affineKernel(X, Wx, H, Wh, b) ?? (composeAffine<tf.Tensor>((p, q) => tf.matMul(p, q), tf.add, X, Wx, H, Wh, b) as tf.Tensor2D);
}
