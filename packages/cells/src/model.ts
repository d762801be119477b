import * as tf from '@tensorflow/tfjs-core';
import { checkOptions, checkPositiveInts, createRng, type Rng } from '@rnnkit/data';
import type { ScratchCell } from './cell.js';
import { withWeightTaps } from './kernels/affine.js';
import type { GradientsInKernels } from './kernels/gradients.js';
import { oneHotFloat } from './ops.js';
import { VariableOwner, type Params, type State } from './params.js';

/**
 * What the training loop trains: token ids in, logits of every step out, plus a state. Both the
 * scratch model here and `@rnnkit/models`' `RNNModel` implement it.
 */
export interface RecurrentLanguageModel {
  readonly vocabSize: number;
  /**
   * `X`: int32 token ids (batch, steps). Returns logits (steps*batch, vocab), row `t*batch + b`
   * being step t of sequence b (d2l's layout), and the state after the last step.
   */
  call(X: tf.Tensor2D, state: State): { logits: tf.Tensor2D; state: State };
  /**
   * Optional: the mean cross-entropy of predicting `Y` (batch, steps) from `X` and the state after
   * the last step, as `call` and a mean softmax cross-entropy over its logits against Y's tokens
   * (time-major) give them, for a model that computes the two together faster. The training loop
   * uses it where present.
   */
  loss?(X: tf.Tensor2D, Y: tf.Tensor2D, state: State): { loss: tf.Scalar; state: State };
  /**
   * Optional: `loss`'s value (as its float32 scalar reads), the gradients of that loss by variable
   * name (`tf.variableGrads`' map, in `trainableVariables`' order, the same bits) and the state
   * after the last step, from a model that takes its own gradients without the tape; or null
   * where it cannot (the training loop then takes them with the tape). The caller disposes them.
   */
  lossGradients?(X: tf.Tensor2D, Y: tf.Tensor2D, state: State): { loss: number; grads: tf.NamedTensorMap; state: State } | null;
  /**
   * Optional: `lossGradients` with the gradients left in rnnkit's kernels' memory, for an update
   * that runs there (the training loop's clipped SGD and Adam); the caller releases them.
   */
  lossGradientsInKernels?(X: tf.Tensor2D, Y: tf.Tensor2D, state: State): { loss: number; grads: GradientsInKernels; state: State } | null;
  /** Zero state for a batch. */
  beginState(batchSize: number): State;
  /** The variables an optimizer updates, in a fixed order. */
  readonly trainableVariables: tf.Variable[];
  /** The variables by name (checkpoints store these). */
  namedVariables(): Record<string, tf.Variable>;
  dispose(): void;
}

export interface RNNModelScratchOptions extends Pick<ScratchCell, 'initParams' | 'initState' | 'forward'> {
  vocabSize: number;
  numHiddens: number;
  /** Seed of the parameter initialisation (or a generator to draw from). Default 0. */
  seed?: number | string | Rng;
}

/**
 * d2l `RNNModelScratch`: a language model from any scratch cell's (init params, init state,
 * forward). Inputs are one-hot encoded time-major, as in d2l.
 */
export class RNNModelScratch extends VariableOwner implements RecurrentLanguageModel {
  readonly vocabSize: number;
  readonly numHiddens: number;
  readonly params: Params;
  private readonly initStateFn: ScratchCell['initState'];
  private readonly forwardFn: ScratchCell['forward'];

  constructor(options: RNNModelScratchOptions) {
    checkOptions(options, 'new RNNModelScratch({ vocabSize: 28, numHiddens: 512, ...gruCell })');
    const { vocabSize, numHiddens } = options;
    super();
    checkPositiveInts({ vocabSize, numHiddens });
    this.vocabSize = vocabSize;
    this.numHiddens = numHiddens;
    const rng = typeof options.seed === 'object' ? options.seed : createRng(options.seed ?? 0);
    this.params = options.initParams(vocabSize, numHiddens, rng);
    this.initStateFn = options.initState;
    this.forwardFn = options.forward;
  }

  call(X: tf.Tensor2D, state: State): { logits: tf.Tensor2D; state: State } {
    const inputs = tf.tidy(() => oneHotFloat(tf.transpose(X), this.vocabSize) as tf.Tensor3D);
    const { outputs, state: next } = withWeightTaps(() => this.forwardFn(inputs, state, this.params));
    return { logits: outputs, state: next };
  }

  beginState(batchSize: number): State {
    return this.initStateFn(batchSize, this.numHiddens);
  }

  namedVariables(): Record<string, tf.Variable> {
    return { ...this.params };
  }
}

/**
 * Assigns values to named variables, checking that names and shapes match exactly (a checkpoint
 * or a PyTorch fixture of another model is an error, not a silent partial load).
 */
export function assignVariables(variables: Record<string, tf.Variable>, values: Record<string, tf.Tensor>): void {
  const want = Object.keys(variables).sort();
  const got = Object.keys(values).sort();
  if (want.join() !== got.join()) {
    throw new Error(`Parameter names do not match: the model has [${want.join(', ')}], the values have [${got.join(', ')}].`);
  }
  for (const name of want) {
    const v = variables[name] as tf.Variable;
    const x = values[name] as tf.Tensor;
    if (v.shape.join('x') !== x.shape.join('x')) {
      throw new Error(`Parameter ${name} has shape [${v.shape}] in the model but [${x.shape}] in the values.`);
    }
  }
  for (const name of want) (variables[name] as tf.Variable).assign(values[name] as tf.Tensor);
}
