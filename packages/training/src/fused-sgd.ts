import * as tf from '@tensorflow/tfjs-core';
import { readInto, simdKernels, tensorOfView } from '@rnnkit/cells';

/** What `tf.SGDOptimizer` keeps of its own that this update needs (tfjs 4.x; checked before use). */
interface SgdInternals {
  learningRate: number;
  incrementIterations(): void;
}

/**
 * d2l's `grad_clipping` then `sgd` (param -= lr * clipped gradient) in one pass over all gradients
 * on rnnkit's WebAssembly kernels, where TensorFlow.js runs some six kernels per variable (square,
 * sum, scale, multiply, add, assign) and a few for the norm. Returns the gradient norm before
 * clipping, or null (having done nothing) where it does not apply: an optimizer other than plain
 * `tf.SGDOptimizer`, no kernels, a gradient that is null, not float32 or of an unknown variable.
 */
export function clippedSgdOnKernels(grads: tf.NamedTensorMap, optimizer: tf.Optimizer, theta: number): number | null {
  // Plain tf.SGDOptimizer only: a subclass (a schedule in its applyGradients, momentum) keeps its own.
  if (Object.getPrototypeOf(optimizer) !== tf.SGDOptimizer.prototype) return null;
  const sgd = optimizer as unknown as Partial<SgdInternals>;
  if (typeof sgd.learningRate !== 'number' || typeof sgd.incrementIterations !== 'function') return null;
  const k = simdKernels();
  if (!k) return null;
  const pairs: { v: tf.Variable; g: tf.Tensor }[] = [];
  for (const [name, g] of Object.entries(grads)) {
    const v = tf.engine().registeredVariables[name];
    if (!g || v?.dtype !== 'float32' || g.dtype !== 'float32' || v.size !== g.size) return null;
    pairs.push({ v, g });
  }
  const total = pairs.reduce((sum, { g }) => sum + g.size, 0);
  const l = k.allocLayout({ G: total, P: total });
  try {
    const f32 = k.f32;
    let at = 0;
    let sumSquares = 0;
    for (const { v, g } of pairs) {
      readInto(g, f32, l.G + at);
      readInto(v, f32, l.P + at);
      sumSquares += k.fn.sumSquares(4 * (l.G + at), g.size);
      at += g.size;
    }
    const norm = Math.fround(Math.sqrt(sumSquares));
    // theta / max(norm, theta): 1 below the threshold, theta / norm above it (clipGradsByGlobalNorm).
    const scale = Math.fround(theta / Math.max(norm, theta));
    k.fn.axpy(4 * l.P, 4 * l.G, Math.fround(-sgd.learningRate * scale), total);
    at = 0;
    for (const { v } of pairs) {
      const value = tensorOfView(k.f32.subarray(l.P + at, l.P + at + v.size), v.shape);
      v.assign(value);
      value.dispose();
      at += v.size;
    }
    sgd.incrementIterations();
    return norm;
  } finally {
    k.release(l.region);
  }
}
