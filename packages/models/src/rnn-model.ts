import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { checkPositiveInts, createRng, timeMajor } from '@rnnkit/data';
import { oneHotFloat, VariableOwner, type RecurrentLanguageModel, type State } from '@rnnkit/cells';
import { GATES, type CellKind } from './fused.js';
import { uniformVariable } from './init.js';
import { RecurrentLayer } from './layers.js';

/** `fused`: rnnkit's whole-sequence ops with hand-written BPTT. `layers`: TensorFlow.js's `tf.layers`. */
export type Implementation = 'fused' | 'layers';

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
  implementation?: Implementation;
  /** GRU, fused only: true (default) is PyTorch's `nn.GRU`, false is d2l's scratch formulation. */
  resetAfter?: boolean;
  /** Seed of the weight initialisation (PyTorch's uniform(-1/sqrt(H), 1/sqrt(H))). Default 0. */
  seed?: number | string;
}

/** Layer l, direction d: PyTorch's suffixes (`_l0`, `_l0_reverse`). */
export function layerSuffix(layer: number, direction: number): string {
  return `_l${layer}${direction === 1 ? '_reverse' : ''}`;
}

/**
 * d2l `RNNModel`: a recurrent core (RNN, GRU or LSTM; stacked; optionally bidirectional) over
 * one-hot inputs and a dense head over every step's output. Same call shape as the scratch model,
 * so `@rnnkit/training` trains both. Variables of the fused implementation are named as
 * PyTorch's, transposed: `W_ih_l0` (input, gates*hidden), `W_hh_l0`, `b_ih_l0`, `b_hh_l0`, ..., `W_out`
 * (directions*hidden, vocab), `b_out`; gate order GRU [r, z, n], LSTM [i, f, g, o].
 */
export class RNNModel extends VariableOwner implements RecurrentLanguageModel {
  readonly vocabSize: number;
  readonly cell: CellKind;
  readonly numHiddens: number;
  readonly numLayers: number;
  readonly numDirections: number;
  readonly implementation: Implementation;
  readonly resetAfter: boolean;
  /** Fused: the recurrent layer of each (layer, direction). */
  private readonly units: RecurrentLayer[][] = [];
  /** tf.layers: one layer per level. */
  private readonly rnnLayers: tfl.layers.Layer[] = [];
  private readonly W_out: tf.Variable;
  private readonly b_out: tf.Variable;

  constructor(options: RNNModelOptions) {
    super();
    this.vocabSize = options.vocabSize;
    this.cell = options.cell;
    this.numHiddens = options.numHiddens;
    this.numLayers = options.numLayers ?? 1;
    this.numDirections = options.bidirectional ? 2 : 1;
    this.implementation = options.implementation ?? 'fused';
    this.resetAfter = options.resetAfter ?? true;
    checkPositiveInts({ vocabSize: this.vocabSize, numHiddens: this.numHiddens, numLayers: this.numLayers });
    if (!(this.cell in GATES)) throw new Error(`Unknown cell "${String(this.cell)}": use rnn, gru or lstm.`);
    if (this.implementation !== 'fused' && this.implementation !== 'layers') {
      throw new Error(`Unknown implementation "${String(this.implementation)}": use fused or layers.`);
    }
    const rng = createRng(options.seed ?? 0);
    const H = this.numHiddens;
    const bound = 1 / Math.sqrt(H);
    if (this.implementation === 'fused') {
      for (let l = 0; l < this.numLayers; l++) {
        const inputs = l === 0 ? this.vocabSize : H * this.numDirections;
        this.units.push(Array.from({ length: this.numDirections }, () => new RecurrentLayer(this.cell, inputs, H, rng, this.resetAfter)));
      }
    } else {
      if (this.numDirections === 2) {
        throw new Error('The layers implementation is unidirectional here: use implementation "fused" for bidirectional models.');
      }
      if (this.cell === 'gru' && options.resetAfter === true) {
        throw new Error("tf.layers.gru has no reset-after GRU: use implementation 'fused' for PyTorch's nn.GRU formulation.");
      }
      for (let l = 0; l < this.numLayers; l++) {
        const config = {
          units: H,
          returnSequences: true,
          returnState: true,
          kernelInitializer: tfl.initializers.randomUniform({ minval: -bound, maxval: bound, seed: rng.int(0, 2 ** 30) }),
          recurrentInitializer: tfl.initializers.randomUniform({ minval: -bound, maxval: bound, seed: rng.int(0, 2 ** 30) }),
          biasInitializer: tfl.initializers.randomUniform({ minval: -bound, maxval: bound, seed: rng.int(0, 2 ** 30) }),
        };
        const layer =
          this.cell === 'rnn'
            ? tfl.layers.simpleRNN({ ...config, activation: 'tanh' })
            : this.cell === 'gru'
              ? tfl.layers.gru({ ...config, recurrentActivation: 'sigmoid' })
              : tfl.layers.lstm({ ...config, recurrentActivation: 'sigmoid', unitForgetBias: false });
        // Build the weights now (one dummy step), so trainableVariables is complete before the first call.
        tf.tidy(() => {
          layer.apply(tf.zeros([1, 1, l === 0 ? this.vocabSize : H]));
        });
        this.rnnLayers.push(layer);
      }
    }
    this.W_out = uniformVariable([H * this.numDirections, this.vocabSize], 1 / Math.sqrt(H * this.numDirections), rng);
    this.b_out = uniformVariable([this.vocabSize], 1 / Math.sqrt(H * this.numDirections), rng);
  }

  private get statesPerUnit(): number {
    return this.cell === 'lstm' ? 2 : 1;
  }

  /** [h of each (layer, direction)..., then c of each for the LSTM], each (batch, hidden). */
  beginState(batchSize: number): State {
    const n = this.numLayers * this.numDirections * this.statesPerUnit;
    return Array.from({ length: n }, () => tf.zeros([batchSize, this.numHiddens]) as tf.Tensor2D);
  }

  /** X: (batch, steps) int32 ids. Returns logits (steps*batch, vocab) and the new state. */
  call(X: tf.Tensor2D, state: State): { logits: tf.Tensor2D; state: State } {
    const units = this.numLayers * this.numDirections;
    if (state.length !== units * this.statesPerUnit) {
      throw new Error(`This ${this.cell} model needs a state of ${units * this.statesPerUnit} tensors (beginState), got ${state.length}.`);
    }
    const [B, T] = X.shape;
    const fused = this.implementation === 'fused';
    // Fused: the first layer looks up rows of W_ih by token id, in time-major order (row t*B + b).
    const ids = fused ? timeMajor(Int32Array.from(X.dataSync()), T) : null;
    return tf.tidy(() => {
      let x: tf.Tensor2D | null = fused ? null : (tf.reshape(oneHotFloat(tf.transpose(X), this.vocabSize), [T * B, this.vocabSize]) as tf.Tensor2D);
      const hs: tf.Tensor2D[] = [];
      const cs: tf.Tensor2D[] = [];
      for (let l = 0; l < this.numLayers; l++) {
        const outs: tf.Tensor3D[] = [];
        for (let d = 0; d < this.numDirections; d++) {
          const u = l * this.numDirections + d;
          const h0 = state[u] as tf.Tensor2D;
          const c0 = this.cell === 'lstm' ? (state[units + u] as tf.Tensor2D) : null;
          const { seq, h, c } = fused
            ? this.fusedUnit(x ?? (ids as Int32Array), T, B, l, d, h0, c0)
            : this.layersUnit(x as tf.Tensor2D, T, B, l, h0, c0);
          outs.push(seq);
          hs.push(h);
          if (c) cs.push(c);
        }
        const seq = outs.length === 1 ? (outs[0] as tf.Tensor3D) : tf.concat(outs, 2);
        x = tf.reshape(seq, [T * B, this.numHiddens * this.numDirections]);
      }
      const logits = tf.add(tf.matMul(x as tf.Tensor2D, this.W_out as tf.Tensor2D), this.b_out) as tf.Tensor2D;
      return { logits, state: [...hs, ...cs] };
    });
  }

  /** x: the previous layer's outputs (T*B, in), or for the first layer the token ids. */
  private fusedUnit(x: tf.Tensor2D | Int32Array, T: number, B: number, l: number, d: number, h0: tf.Tensor2D, c0: tf.Tensor2D | null) {
    const unit = (this.units[l] as RecurrentLayer[])[d] as RecurrentLayer;
    const { outputs, state } = unit.applyRows(x, T, B, c0 ? [h0, c0] : [h0], d === 1);
    return { seq: outputs, h: state[0] as tf.Tensor2D, c: c0 ? (state[1] as tf.Tensor2D) : null };
  }

  private layersUnit(x: tf.Tensor2D, T: number, B: number, l: number, h0: tf.Tensor2D, c0: tf.Tensor2D | null) {
    const layer = this.rnnLayers[l] as tfl.layers.Layer;
    const inputs = tf.transpose(tf.reshape(x, [T, B, x.shape[1]]), [1, 0, 2]); // batch-first
    const initialState = c0 ? [h0, c0] : [h0];
    const [seqBT, h, c] = layer.apply(inputs, { initialState }) as tf.Tensor[];
    return {
      seq: tf.transpose(seqBT as tf.Tensor, [1, 0, 2]) as tf.Tensor3D,
      h: h as tf.Tensor2D,
      c: c0 ? (c as tf.Tensor2D) : null,
    };
  }

  namedVariables(): Record<string, tf.Variable> {
    const named: Record<string, tf.Variable> = {};
    this.units.forEach((dirs, l) => {
      dirs.forEach((unit, d) => {
        Object.assign(named, unit.namedVariables(layerSuffix(l, d)));
      });
    });
    named.W_out = this.W_out;
    named.b_out = this.b_out;
    this.rnnLayers.forEach((layer, l) => {
      for (const w of layer.trainableWeights) {
        named[`${w.name.split('/').pop()}_l${l}`] = w.read() as tf.Variable;
      }
    });
    return named;
  }

  override dispose(): void {
    for (const dirs of this.units) for (const unit of dirs) unit.dispose();
    this.W_out.dispose();
    this.b_out.dispose();
    for (const layer of this.rnnLayers) layer.dispose();
  }
}
