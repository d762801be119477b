import * as tf from '@tensorflow/tfjs-core';
import { activeKernels, kernelsUnavailableReason, readInto, recordOpPath, tensorOfView, type Kernels } from '@rnnkit/cells';

/** What `tf.SGDOptimizer` keeps of its own that this update needs (tfjs 4.x; checked before use). */
interface SgdInternals {
  learningRate: number;
  incrementIterations(): void;
}

/** The op name a step's report gives the update. */
export const KERNEL_UPDATE_OP = 'clippedUpdate';

/** The optimizer's internals where this update can run it, or a reason why not. */
function optimizerOf(optimizer: tf.Optimizer): { sgd: SgdInternals } | string {
  // Plain tf.SGDOptimizer only: a subclass (a schedule in its applyGradients, momentum) keeps its own.
  if (Object.getPrototypeOf(optimizer) !== tf.SGDOptimizer.prototype) return `the optimizer is ${optimizer.getClassName()}, not plain SGD`;
  const o = optimizer as unknown as Partial<SgdInternals>;
  if (typeof o.learningRate !== 'number' || typeof o.incrementIterations !== 'function') return "SGD's internals are not tfjs 4's";
  return { sgd: o as SgdInternals };
}

/**
 * d2l's `grad_clipping` (when `theta` is given) and `sgd` (param -= lr * clipped gradient) in one
 * pass over all gradients on rnnkit's kernels, where TensorFlow.js runs some six kernels per
 * variable (square, sum, scale, multiply, add, assign) and a few for the norm. The norm is summed
 * in double precision. Returns the gradient norm before clipping, or null (having done nothing)
 * where it does not apply: an optimizer other than plain `tf.SGDOptimizer`, no kernels, a gradient
 * that is null, not float32 or of an unknown variable. The step's report of its path says which.
 */
export function clippedUpdateOnKernels(grads: tf.NamedTensorMap, optimizer: tf.Optimizer, theta: number | undefined): number | null {
  const decline = (reason: string): null => {
    recordOpPath(KERNEL_UPDATE_OP, false, reason);
    return null;
  };
  const which = optimizerOf(optimizer);
  if (typeof which === 'string') return decline(which);
  const k = activeKernels();
  if (!k) return decline(kernelsUnavailableReason() ?? 'no kernels');
  const pairs: { v: tf.Variable; g: tf.Tensor }[] = [];
  for (const [name, g] of Object.entries(grads)) {
    const v = tf.engine().registeredVariables[name];
    if (!g) return decline(`the gradient of ${name} is null`);
    if (v?.dtype !== 'float32' || g.dtype !== 'float32' || v.size !== g.size) return decline(`${name} is not a float32 variable of its gradient's size`);
    pairs.push({ v, g });
  }
  recordOpPath(KERNEL_UPDATE_OP, true);
  return sgdPass(k, pairs, which.sgd, theta);
}

/** The squared norm of the gradients at G (in order), each square added in double precision, and their clipping scale. */
function normAndScale(k: Kernels, G: number, pairs: { g: tf.Tensor }[], theta: number | undefined): { norm: number; scale: number } {
  let sumSquares = 0;
  let at = 0;
  for (const { g } of pairs) {
    sumSquares += k.fn.sumSquares(4 * (G + at), g.size);
    at += g.size;
  }
  const norm = Math.fround(Math.sqrt(sumSquares));
  // theta / max(norm, theta): 1 below the threshold, theta / norm above it (clipGradsByGlobalNorm).
  return { norm, scale: theta === undefined ? 1 : Math.fround(theta / Math.max(norm, theta)) };
}

/** Copies each tensor of `list` into the kernels' memory from `offset` on, one after another. */
function readAll(k: Kernels, offset: number, list: tf.Tensor[]): void {
  const f32 = k.f32;
  let at = offset;
  for (const t of list) {
    readInto(t, f32, at);
    at += t.size;
  }
}

/** Assigns each variable its values from `offset` on, one after another. */
function assignAll(k: Kernels, offset: number, list: tf.Variable[]): void {
  let at = offset;
  for (const v of list) {
    const value = tensorOfView(k.f32.subarray(at, at + v.size), v.shape);
    v.assign(value);
    value.dispose();
    at += v.size;
  }
}

function sgdPass(k: Kernels, pairs: { v: tf.Variable; g: tf.Tensor }[], sgd: SgdInternals, theta: number | undefined): number {
  const total = pairs.reduce((sum, { g }) => sum + g.size, 0);
  const l = k.allocLayout({ G: total, P: total });
  try {
    readAll(
      k,
      l.G,
      pairs.map((p) => p.g),
    );
    readAll(
      k,
      l.P,
      pairs.map((p) => p.v),
    );
    const { norm, scale } = normAndScale(k, l.G, pairs, theta);
    k.fn.axpy(4 * l.P, 4 * l.G, Math.fround(-sgd.learningRate * scale), total);
    assignAll(
      k,
      l.P,
      pairs.map((p) => p.v),
    );
    sgd.incrementIterations();
    return norm;
  } finally {
    k.release(l.region);
  }
}
