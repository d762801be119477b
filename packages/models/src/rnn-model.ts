import * as tf from '@tensorflow/tfjs-core';
import { checkOptions, checkPositiveInts, createRng, timeMajor } from '@rnnkit/data';
import { activeKernels, GradientsInKernels, recordOpPath, VariableOwner, type Kernels, type RecurrentLanguageModel, type State } from '@rnnkit/cells';
import { denseCrossEntropy, kernelPass } from './fused/dense-cross-entropy.js';
import { checkIds } from './fused/gather.js';
import { cellKindsInWords, isCellKind, type CellKind } from './cell-kinds.js';
import { RECURRENCES } from './fused/kinds.js';
import { FusedCore } from './fused-core.js';
import { uniformVariable } from './init.js';
import { LayersCore } from './layers-core.js';
import type { RNNModelImplementation, RecurrentCore } from './rnn-core.js';

export interface RNNModelOptions {
  /** Vocabulary size: one-hot input width and output width. */
  vocabSize: number;
  /** RNN (tanh), GRU or LSTM. */
  cell: CellKind;
  numHiddens: number;
  /** Stacked layers. Default 1. */
  numLayers?: number;
  /** Default false. */
  bidirectional?: boolean;
  /** Default 'fused'. */
  implementation?: RNNModelImplementation;
  /** GRU, fused only: true (default) is PyTorch's `nn.GRU`, false is d2l's scratch formulation. */
  resetAfter?: boolean;
  /** Seed of the weight initialisation (PyTorch's uniform(-1/sqrt(H), 1/sqrt(H))). Default 0. */
  seed?: number | string;
}

/**
 * d2l `RNNModel`: a recurrent core (RNN, GRU or LSTM; stacked; optionally bidirectional) over
 * one-hot inputs and a dense head over every step's output. Same call shape as the scratch model,
 * so `@rnnkit/training` trains both. The core is `FusedCore` or `LayersCore`, picked by
 * `implementation`. Variables of the fused implementation are named as PyTorch's, transposed:
 * `W_ih_l0` (input, gates*hidden), `W_hh_l0`, `b_ih_l0`, `b_hh_l0`, ..., `W_out`
 * (directions*hidden, vocab), `b_out`; gate order GRU [r, z, n], LSTM [i, f, g, o].
 */
export class RNNModel extends VariableOwner implements RecurrentLanguageModel {
  readonly vocabSize: number;
  readonly cell: CellKind;
  readonly numHiddens: number;
  readonly numLayers: number;
  readonly numDirections: number;
  readonly implementation: RNNModelImplementation;
  readonly resetAfter: boolean;
  private readonly core: RecurrentCore;
  private readonly W_out: tf.Variable;
  private readonly b_out: tf.Variable;

  constructor(options: RNNModelOptions) {
    super();
    checkOptions(options, "new RNNModel({ vocabSize: 28, cell: 'gru', numHiddens: 256 })");
    this.vocabSize = options.vocabSize;
    this.cell = options.cell;
    this.numHiddens = options.numHiddens;
    this.numLayers = options.numLayers ?? 1;
    this.numDirections = options.bidirectional ? 2 : 1;
    this.implementation = options.implementation ?? 'fused';
    this.resetAfter = options.resetAfter ?? true;
    checkPositiveInts({ vocabSize: this.vocabSize, numHiddens: this.numHiddens, numLayers: this.numLayers });
    if (!isCellKind(this.cell)) throw new Error(`Unknown cell "${String(this.cell)}": use ${cellKindsInWords()}.`);
    const rng = createRng(options.seed ?? 0);
    const config = {
      vocabSize: this.vocabSize,
      numHiddens: this.numHiddens,
      numLayers: this.numLayers,
      numDirections: this.numDirections,
      resetAfter: this.resetAfter,
    };
    // The core draws its weights first, then the head (the order fixes what a seed gives).
    const cores = {
      fused: () => new FusedCore(this.cell, config, rng),
      layers: () => new LayersCore(this.cell, config, rng, options.resetAfter === true),
    } satisfies Record<RNNModelImplementation, () => RecurrentCore>;
    if (!Object.hasOwn(cores, this.implementation)) {
      throw new Error(`Unknown implementation "${String(this.implementation)}": use fused or layers.`);
    }
    this.core = cores[this.implementation]();
    const outputs = this.numHiddens * this.numDirections;
    this.W_out = uniformVariable([outputs, this.vocabSize], 1 / Math.sqrt(outputs), rng);
    this.b_out = uniformVariable([this.vocabSize], 1 / Math.sqrt(outputs), rng);
  }

  private get statesPerUnit(): number {
    return RECURRENCES[this.cell].states;
  }

  /** How many tensors a state has: one per (layer, direction), twice for the LSTM. */
  private get stateCount(): number {
    return this.numLayers * this.numDirections * this.statesPerUnit;
  }

  private checkState(state: State): void {
    if (state.length !== this.stateCount)
      throw new Error(`This ${this.cell} model needs a state of ${this.stateCount} tensors (beginState), got ${state.length}.`);
  }

  /** [h of each (layer, direction)..., then c of each for the LSTM], each (batch, hidden). */
  beginState(batchSize: number): State {
    return Array.from({ length: this.stateCount }, () => tf.zeros([batchSize, this.numHiddens]) as tf.Tensor2D);
  }

  /** X: (batch, steps) int32 ids. Returns logits (steps*batch, vocab) and the new state. */
  call(X: tf.Tensor2D, state: State): { logits: tf.Tensor2D; state: State } {
    this.checkState(state);
    return tf.tidy(() => {
      const { outputs, state: next } = this.core.run(X, state);
      const logits = tf.add(tf.matMul(outputs, this.W_out as tf.Tensor2D), this.b_out) as tf.Tensor2D;
      return { logits, state: next };
    });
  }

  /**
   * The mean cross-entropy of predicting `Y` (batch, steps) from `X`, and the new state: `call` and
   * the training loop's `languageModelLoss` in one, the dense head and the loss fused
   * (`denseCrossEntropy`: on rnnkit's kernels the logits never become tensors).
   */
  loss(X: tf.Tensor2D, Y: tf.Tensor2D, state: State): { loss: tf.Scalar; state: State } {
    if (Y.shape[0] !== X.shape[0] || Y.shape[1] !== X.shape[1]) {
      throw new Error(`RNNModel.loss: Y must have X's shape [${X.shape.join(', ')}], got [${Y.shape.join(', ')}].`);
    }
    this.checkState(state);
    const labels = timeMajor(Int32Array.from(Y.dataSync()), Y.shape[1]);
    return tf.tidy(() => {
      const { outputs, state: next } = this.core.run(X, state);
      return { loss: denseCrossEntropy(outputs, this.W_out as tf.Tensor2D, this.b_out as tf.Tensor1D, labels), state: next };
    });
  }

  /**
   * `loss` and its gradients in one go on rnnkit's kernels, without the tape: the fused passes
   * (the recurrences' and the head's) run as `loss` runs them, then their gradient functions in
   * the tape's order, so the value and every gradient have the tape's bits; what the tape would
   * add (its records, the op wrappers' slices and reshapes) is not made. Null where `loss` would
   * not run on the kernels all the way (another implementation, no kernels, shapes they do not take).
   */
  lossGradients(X: tf.Tensor2D, Y: tf.Tensor2D, state: State): { loss: number; grads: tf.NamedTensorMap; state: State } | null {
    const own = this.gradientsOnKernels(X, Y, state);
    if (!own) return null;
    try {
      return { loss: own.loss, grads: own.grads.toTensors(), state: own.state };
    } catch (err) {
      tf.dispose(own.state);
      throw err;
    } finally {
      own.grads.release();
    }
  }

  /**
   * `lossGradients` with the gradients left in the kernels' memory (`trainableVariables`' order),
   * for an update that runs there: no tensor is made of them, nor read back. The caller releases them.
   */
  lossGradientsInKernels(X: tf.Tensor2D, Y: tf.Tensor2D, state: State): { loss: number; grads: GradientsInKernels; state: State } | null {
    // A subclass's own lossGradients is what the training loop should get (it falls back to it).
    if (this.lossGradients !== RNNModel.prototype.lossGradients) return null;
    return this.gradientsOnKernels(X, Y, state);
  }

  /** What `lossGradientsInKernels` gives, for `lossGradients` too. */
  private gradientsOnKernels(X: tf.Tensor2D, Y: tf.Tensor2D, state: State): { loss: number; grads: GradientsInKernels; state: State } | null {
    const k = activeKernels();
    const [B, T] = X.shape;
    const H = this.numHiddens;
    // Where the tape would do other than `loss`'s passes (a subclass's own loss, a frozen variable)
    // or has an error to name (Y's or the state's shape), it runs instead.
    if (!k || !(this.core instanceof FusedCore) || (T * B) % 4 !== 0 || !this.core.takesKernels(k, T, B)) return null;
    const variables = this.trainableVariables;
    if (this.loss !== RNNModel.prototype.loss) return null;
    // The passes write the gradients of the core's and the head's variables, all trainable: no other.
    const own = new Set([...Object.values(this.core.namedVariables()), this.W_out, this.b_out]);
    if (variables.length !== own.size || variables.some((v) => !v.trainable || !own.has(v))) return null;
    if (Y.shape[0] !== B || Y.shape[1] !== T) return null;
    if (state.length !== this.stateCount || state.some((s) => s.shape[0] !== B || s.shape[1] !== H)) return null;
    const ids = timeMajor(Int32Array.from(X.dataSync()), T);
    const labels = timeMajor(Int32Array.from(Y.dataSync()), T);
    checkIds(ids, this.vocabSize);
    checkIds(labels, this.vocabSize);
    const run = this.core.runOnKernels(k, ids, T, B, state);
    if (!run) return null;
    try {
      return { ...this.headAndGradients(k, run, labels, T, B, variables), state: run.state };
    } catch (err) {
      tf.dispose(run.state);
      throw err;
    }
  }

  /** `lossGradientsInKernels`' head and backward pass, from the recurrences' run. */
  private headAndGradients(
    k: Kernels,
    run: NonNullable<ReturnType<FusedCore['runOnKernels']>>,
    labels: Int32Array,
    T: number,
    B: number,
    variables: tf.Variable[],
  ): { loss: number; grads: GradientsInKernels } {
    recordOpPath('denseCrossEntropy', true);
    // The head reads the recurrence's outputs where they are, and writes their gradient where the
    // recurrence's backward pass reads it: dy, then (LSTM) zeros for c_T, as the tape's tensor has it.
    const headGrads = kernelPass(k, run.outputs, this.W_out as tf.Tensor2D, this.b_out as tf.Tensor1D, labels, null, true);
    const loss = headGrads.value.dataSync()[0] as number;
    headGrads.value.dispose();
    const outputs = T * B * this.numHiddens;
    const floats = outputs + (this.statesPerUnit - 1) * B * this.numHiddens;
    // Every variable's gradient is written below: the head's, then each layer's (its passes' four).
    const grads = new GradientsInKernels(k, variables);
    let dyAt = -1;
    try {
      dyAt = k.alloc(floats);
      k.f32.fill(0, dyAt + outputs, dyAt + floats);
      headGrads.backwardInto(dyAt, { dW: grads.offsetOf(this.W_out.name), db: grads.offsetOf(this.b_out.name) });
      run.backward(dyAt, grads);
      grads.checkAllPlaced();
    } catch (err) {
      grads.release();
      throw err;
    } finally {
      if (dyAt >= 0) k.release(dyAt);
    }
    return { loss, grads };
  }

  namedVariables(): Record<string, tf.Variable> {
    return { ...this.core.namedVariables(), W_out: this.W_out, b_out: this.b_out };
  }

  override dispose(): void {
    this.core.dispose();
    this.W_out.dispose();
    this.b_out.dispose();
  }
}
