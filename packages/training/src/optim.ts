import * as tf from '@tensorflow/tfjs-core';

/**
 * An optimizer by name, or one the caller built. Who owns it: a loop disposes an optimizer it
 * built from a name before it returns; an optimizer passed in stays the caller's (pass one to
 * keep its state, e.g. to save it in a checkpoint or to continue training).
 */
export type OptimizerSpec = 'sgd' | 'adam' | tf.Optimizer;

/**
 * `sgd` is d2l's plain update (param -= lr * grad, as `d2l.sgd` with batch size 1 on a mean loss);
 * `adam` uses PyTorch's defaults (betas 0.9, 0.999, eps 1e-8).
 */
export function makeOptimizer(spec: OptimizerSpec, lr: number): tf.Optimizer {
  if (typeof spec !== 'string') return spec;
  if (!(lr > 0)) throw new RangeError(`The learning rate must be > 0, got ${lr}.`);
  if (spec === 'sgd') return tf.train.sgd(lr);
  if (spec === 'adam') return tf.train.adam(lr, 0.9, 0.999, 1e-8);
  throw new Error(`Unknown optimizer "${String(spec)}": use "sgd" or "adam".`);
}

interface AdamInternals {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
}

/**
 * tf.train.adam's running products beta1^t and beta2^t (not among its `getWeights`), or null for
 * another optimizer. By class name: tfjs' optimizers share one `Symbol.hasInstance`, so that
 * `instanceof tf.AdamOptimizer` holds for all of them (Adamax has an accBeta1 but no accBeta2).
 */
export const adamInternals = (o: tf.Optimizer): AdamInternals | null => {
  const a = o as unknown as Partial<AdamInternals>;
  return o.getClassName() === 'Adam' && a.accBeta1 instanceof tf.Variable && a.accBeta2 instanceof tf.Variable ? (a as AdamInternals) : null;
};

/** What an epoch changes, kept from its start: `restore` puts it back; `dispose` lets the copies go, after a restore too. */
export interface TrainingMark {
  restore(): Promise<void>;
  dispose(): void;
}

/** A loader whose draws can be saved and replayed (`SeqDataLoader`). */
interface StatefulLoader {
  getState(): unknown;
  setState(state: unknown): void;
}

const isStateful = (x: unknown): x is StatefulLoader =>
  typeof (x as Partial<StatefulLoader>).getState === 'function' && typeof (x as Partial<StatefulLoader>).setState === 'function';

/**
 * Copies of the weights, the optimizer's state (its `getWeights`, and Adam's beta powers) and the
 * loader's generator state, so that a stop inside an epoch can leave the run exactly where the
 * last whole epoch did: continuing it then equals a run that never stopped.
 */
export async function markTraining(variables: readonly tf.Variable[], optimizer: tf.Optimizer, loader: unknown): Promise<TrainingMark> {
  const weights = variables.map((v) => tf.keep(tf.clone(v)));
  // An optimizer without getWeights (tf.Optimizer's throws; Adamax and optimizers of the
  // caller's own) keeps its state as the stopped epoch left it; the weights and draws still go back.
  let current: Awaited<ReturnType<tf.Optimizer['getWeights']>> | null;
  try {
    current = await optimizer.getWeights();
  } catch {
    current = null;
  }
  const slots = current?.map((w) => ({ name: w.name, tensor: tf.keep(tf.clone(w.tensor)) })) ?? null;
  // The slot variables stay the optimizer's; what else getWeights made (the iteration count) is ours.
  if (current) tf.dispose(current.filter((w) => !(w.tensor instanceof tf.Variable)).map((w) => w.tensor));
  const adam = adamInternals(optimizer);
  const powers = adam ? [tf.keep(tf.clone(adam.accBeta1)), tf.keep(tf.clone(adam.accBeta2))] : [];
  const draws = isStateful(loader) ? loader.getState() : undefined;
  return {
    async restore() {
      variables.forEach((v, i) => {
        v.assign(weights[i] as tf.Tensor);
      });
      // setWeights makes new slot variables over what it is given (which keep their data when
      // the copies here go) and drops the old ones undisposed: they go here, with the fresh
      // iteration count getWeights hands out.
      if (slots) {
        const replaced = await optimizer.getWeights();
        await optimizer.setWeights(slots);
        tf.dispose(replaced.map((w) => w.tensor));
      }
      if (adam) {
        adam.accBeta1.assign(powers[0] as tf.Tensor);
        adam.accBeta2.assign(powers[1] as tf.Tensor);
      }
      if (isStateful(loader)) loader.setState(draws);
    },
    dispose: () => tf.dispose([...weights, ...(slots ?? []).map((s) => s.tensor), ...powers]),
  };
}
