import * as tf from '@tensorflow/tfjs-core';
import { activeKernels, GradientsInKernels, kernelsUnavailableReason, readInto, recordOpPath, tensorOfView, type Kernels } from '@rnnkit/cells';

/** What `tf.SGDOptimizer` keeps of its own that this update needs (tfjs 4.x; checked before use). */
interface SgdInternals {
  learningRate: number;
  incrementIterations(): void;
}

/** What `tf.AdamOptimizer` keeps (tfjs 4.x; checked before use): its moments are by gradient position. */
interface AdamInternals extends SgdInternals {
  beta1: number;
  beta2: number;
  epsilon: number;
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: ({ originalName: string; variable: tf.Variable } | undefined)[];
  accumulatedSecondMoment: ({ originalName: string; variable: tf.Variable } | undefined)[];
}

/** The op name a step's report gives the update. */
export const KERNEL_UPDATE_OP = 'clippedUpdate';

/** The optimizer's internals where this update can run it, or a reason why not. */
function optimizerOf(optimizer: tf.Optimizer): { sgd: SgdInternals } | { adam: AdamInternals } | string {
  // Plain tf.SGDOptimizer and tf.AdamOptimizer only: a subclass (a schedule in its applyGradients) keeps its own.
  const proto = Object.getPrototypeOf(optimizer);
  const o = optimizer as unknown as Partial<AdamInternals>;
  if (typeof o.learningRate !== 'number' || typeof o.incrementIterations !== 'function') return `${optimizer.getClassName()}'s internals are not tfjs 4's`;
  if (proto === tf.SGDOptimizer.prototype) return { sgd: o as SgdInternals };
  if (proto === tf.AdamOptimizer.prototype) {
    const ok =
      o.accBeta1 instanceof tf.Variable &&
      o.accBeta2 instanceof tf.Variable &&
      Array.isArray(o.accumulatedFirstMoment) &&
      Array.isArray(o.accumulatedSecondMoment) &&
      typeof o.beta1 === 'number' &&
      typeof o.beta2 === 'number' &&
      typeof o.epsilon === 'number';
    return ok ? { adam: o as AdamInternals } : "Adam's internals are not tfjs 4's";
  }
  return `the optimizer is ${optimizer.getClassName()}, not plain SGD or Adam`;
}

/**
 * d2l's `grad_clipping` (when `theta` is given) and the optimizer's update in one pass over all
 * gradients on rnnkit's kernels, for plain `tf.SGDOptimizer` (`d2l.sgd`) and `tf.AdamOptimizer`
 * (`torch.optim.Adam`), where TensorFlow.js runs some six kernels per variable for SGD, fifteen for
 * Adam, and a few per variable for the norm. Adam's update is TensorFlow.js's bit for bit (its
 * moments and beta powers stay in the optimizer, so its checkpoints and `getWeights` see them);
 * the norm is summed in double precision. Returns the gradient norm before clipping, or null
 * (having done nothing) where it does not apply: another optimizer, no kernels, a gradient that is
 * null, not float32 or of an unknown variable. The step's report of its path says which.
 * `grads` may be a block a model left in the kernels' memory (`GradientsInKernels`), read where
 * it is; it is not released here (`applyClippedGradients` does that).
 */
export function clippedUpdateOnKernels(grads: tf.NamedTensorMap | GradientsInKernels, optimizer: tf.Optimizer, theta: number | undefined): number | null {
  const decline = (reason: string): null => {
    recordOpPath(KERNEL_UPDATE_OP, false, reason);
    return null;
  };
  const which = optimizerOf(optimizer);
  if (typeof which === 'string') return decline(which);
  const k = activeKernels();
  if (!k) return decline(kernelsUnavailableReason() ?? 'no kernels');
  let source: GradientSource;
  if (grads instanceof GradientsInKernels) {
    if (grads.isReleased) throw new Error('clippedUpdateOnKernels: these gradients were released (an update runs once on them).');
    // Where they are: in this memory, back to back in the variables' order, as the update lays them out.
    if (grads.kernels !== k) return decline("the gradients are in another instance of the kernels' memory");
    const other = grads.variables.find((v) => v.dtype !== 'float32');
    if (other) return decline(`${other.name} is not a float32 variable`);
    source = { at: grads.at, variables: grads.variables };
  } else {
    const pairs: { v: tf.Variable; g: tf.Tensor }[] = [];
    for (const [name, g] of Object.entries(grads)) {
      const v = tf.engine().registeredVariables[name];
      if (!g) return decline(`the gradient of ${name} is null`);
      if (v?.dtype !== 'float32' || g.dtype !== 'float32' || v.size !== g.size) return decline(`${name} is not a float32 variable of its gradient's size`);
      pairs.push({ v, g });
    }
    source = { tensors: pairs.map((p) => p.g), variables: pairs.map((p) => p.v) };
  }
  recordOpPath(KERNEL_UPDATE_OP, true);
  return 'sgd' in which ? sgdPass(k, source, which.sgd, theta) : adamPass(k, source, which.adam, theta);
}

/**
 * The gradients an update reads: tensors (copied into its block), or a block already in the
 * kernels' memory (`at`), each variable's gradient after the one before, in `variables`' order.
 */
type GradientSource = { variables: readonly tf.Variable[] } & ({ tensors: tf.Tensor[] } | { at: number });

/** Where the gradients are in the kernels' memory: `source`'s block, or `room` with the tensors copied in. */
function gradientsAt(k: Kernels, source: GradientSource, room: number): number {
  if ('at' in source) return source.at;
  readAll(k, room, source.tensors);
  return room;
}

/** The squared norm of the gradients at G (in order), each square added in double precision, and their clipping scale. */
function normAndScale(k: Kernels, G: number, variables: readonly tf.Variable[], theta: number | undefined): { norm: number; scale: number } {
  let sumSquares = 0;
  let at = 0;
  for (const { size } of variables) {
    sumSquares += k.fn.sumSquares(4 * (G + at), size);
    at += size;
  }
  const norm = Math.fround(Math.sqrt(sumSquares));
  // theta / max(norm, theta): 1 below the threshold, theta / norm above it (clipGradsByGlobalNorm).
  return { norm, scale: theta === undefined ? 1 : Math.fround(theta / Math.max(norm, theta)) };
}

/** Copies each tensor of `list` into the kernels' memory from `offset` on, one after another. */
function readAll(k: Kernels, offset: number, list: readonly tf.Tensor[]): void {
  const f32 = k.f32;
  let at = offset;
  for (const t of list) {
    readInto(t, f32, at);
    at += t.size;
  }
}

/** Assigns each variable its values from `offset` on, one after another. */
function assignAll(k: Kernels, offset: number, list: readonly tf.Variable[]): void {
  let at = offset;
  for (const v of list) {
    const value = tensorOfView(k.f32.subarray(at, at + v.size), v.shape);
    v.assign(value);
    value.dispose();
    at += v.size;
  }
}

function sgdPass(k: Kernels, source: GradientSource, sgd: SgdInternals, theta: number | undefined): number {
  const { variables } = source;
  const total = variables.reduce((sum, v) => sum + v.size, 0);
  const l = k.allocLayout({ G: 'at' in source ? 0 : total, P: total });
  try {
    const G = gradientsAt(k, source, l.G);
    readAll(k, l.P, variables);
    const { norm, scale } = normAndScale(k, G, variables, theta);
    k.fn.axpy(4 * l.P, 4 * G, Math.fround(-sgd.learningRate * scale), total);
    assignAll(k, l.P, variables);
    sgd.incrementIterations();
    return norm;
  } finally {
    k.release(l.region);
  }
}

function adamPass(k: Kernels, source: GradientSource, adam: AdamInternals, theta: number | undefined): number {
  const { variables } = source;
  // The moments by gradient position, created as tf.AdamOptimizer creates them (zeros, named after the variable).
  const moment = (list: AdamInternals['accumulatedFirstMoment'], i: number, v: tf.Variable, suffix: string): tf.Variable => {
    list[i] ??= { originalName: `${v.name}/${suffix}`, variable: tf.tidy(() => tf.zerosLike(v).variable(false)) };
    return list[i].variable;
  };
  const ms = variables.map((v, i) => moment(adam.accumulatedFirstMoment, i, v, 'm'));
  const vs = variables.map((v, i) => moment(adam.accumulatedSecondMoment, i, v, 'v'));
  const total = variables.reduce((sum, v) => sum + v.size, 0);
  const l = k.allocLayout({ G: 'at' in source ? 0 : total, P: total, M: total, V: total });
  try {
    const G = gradientsAt(k, source, l.G);
    readAll(k, l.P, variables);
    readAll(k, l.M, ms);
    readAll(k, l.V, vs);
    const { norm, scale } = normAndScale(k, G, variables, theta);
    const power1 = adam.accBeta1.dataSync()[0] as number;
    const power2 = adam.accBeta2.dataSync()[0] as number;
    const f = Math.fround;
    // Every constant as TensorFlow.js makes it: a float32 scalar from the JS number.
    k.fn.adam(
      4 * l.P,
      4 * G,
      4 * l.M,
      4 * l.V,
      total,
      scale,
      f(adam.beta1),
      f(1 - adam.beta1),
      f(adam.beta2),
      f(1 - adam.beta2),
      f(1 - power1),
      f(1 - power2),
      f(adam.epsilon),
      f(-adam.learningRate),
    );
    assignAll(k, l.M, ms);
    assignAll(k, l.V, vs);
    assignAll(k, l.P, variables);
    // beta^t as tf.AdamOptimizer keeps it: the running product, rounded to float32 each step.
    tf.tidy(() => {
      adam.accBeta1.assign(tf.scalar(f(power1 * f(adam.beta1))));
      adam.accBeta2.assign(tf.scalar(f(power2 * f(adam.beta2))));
    });
    adam.incrementIterations();
    return norm;
  } finally {
    k.release(l.region);
  }
}
