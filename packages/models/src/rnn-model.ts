import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { createRng } from '@rnnkit/data';
import { oneHotFloat, type RecurrentLanguageModel, type State } from '@rnnkit/cells';
import { GATES, fusedRecurrence, gatherRows, type CellKind } from './fused.js';
import { uniformVariable } from './init.js';

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
export class RNNModel implements RecurrentLanguageModel {
  readonly vocabSize: number;
  readonly cell: CellKind;
  readonly numHiddens: number;
  readonly numLayers: number;
  readonly numDirections: number;
  readonly implementation: Implementation;
  readonly resetAfter: boolean;
  private readonly vars: Record<string, tf.Variable> = {};
  private readonly rnnLayers: tfl.layers.Layer[] = [];

  constructor(options: RNNModelOptions) {
    this.vocabSize = options.vocabSize;
    this.cell = options.cell;
    this.numHiddens = options.numHiddens;
    this.numLayers = options.numLayers ?? 1;
    this.numDirections = options.bidirectional ? 2 : 1;
    this.implementation = options.implementation ?? 'fused';
    this.resetAfter = options.resetAfter ?? true;
    for (const [name, v] of [['vocabSize', this.vocabSize], ['numHiddens', this.numHiddens], ['numLayers', this.numLayers]] as const) {
      if (!Number.isInteger(v) || v <= 0) throw new RangeError(`${name} must be a whole number >= 1, got ${v}.`);
    }
    if (!(this.cell in GATES)) throw new Error(`Unknown cell "${String(this.cell)}": use rnn, gru or lstm.`);
    if (this.implementation !== 'fused' && this.implementation !== 'layers') {
      throw new Error(`Unknown implementation "${String(this.implementation)}": use fused or layers.`);
    }
    const rng = createRng(options.seed ?? 0);
    const H = this.numHiddens;
    const bound = 1 / Math.sqrt(H);
    if (this.implementation === 'fused') {
      const G = GATES[this.cell];
      for (let l = 0; l < this.numLayers; l++) {
        const inputs = l === 0 ? this.vocabSize : H * this.numDirections;
        for (let d = 0; d < this.numDirections; d++) {
          const s = layerSuffix(l, d);
          this.vars[`W_ih${s}`] = uniformVariable([inputs, G * H], bound, rng);
          this.vars[`W_hh${s}`] = uniformVariable([H, G * H], bound, rng);
          this.vars[`b_ih${s}`] = uniformVariable([G * H], bound, rng);
          this.vars[`b_hh${s}`] = uniformVariable([G * H], bound, rng);
        }
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
    this.vars.W_out = uniformVariable([H * this.numDirections, this.vocabSize], 1 / Math.sqrt(H * this.numDirections), rng);
    this.vars.b_out = uniformVariable([this.vocabSize], 1 / Math.sqrt(H * this.numDirections), rng);
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
    // Token ids in time-major order (row t*B + b): the fused first layer gathers rows of W_ih.
    const xv = X.dataSync();
    const ids = new Int32Array(T * B);
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) ids[t * B + b] = xv[b * T + t] as number;
    const result = tf.tidy(() => {
      let x: tf.Tensor2D | null = this.implementation === 'fused' ? null : (tf.reshape(oneHotFloat(tf.transpose(X), this.vocabSize), [T * B, this.vocabSize]) as tf.Tensor2D);
      const hs: tf.Tensor2D[] = [];
      const cs: tf.Tensor2D[] = [];
      for (let l = 0; l < this.numLayers; l++) {
        const outs: tf.Tensor3D[] = [];
        for (let d = 0; d < this.numDirections; d++) {
          const u = l * this.numDirections + d;
          const h0 = state[u] as tf.Tensor2D;
          const c0 = this.cell === 'lstm' ? (state[units + u] as tf.Tensor2D) : null;
          const { seq, h, c } = this.implementation === 'fused' ? this.fusedUnit(x ?? ids, T, B, l, d, h0, c0) : this.layersUnit(x as tf.Tensor2D, T, B, l, h0, c0);
          outs.push(seq);
          hs.push(h);
          if (c) cs.push(c);
        }
        const seq = outs.length === 1 ? (outs[0] as tf.Tensor3D) : tf.concat(outs, 2);
        x = tf.reshape(seq, [T * B, this.numHiddens * this.numDirections]);
      }
      const logits = tf.add(tf.matMul(x as tf.Tensor2D, this.vars.W_out as tf.Tensor2D), this.vars.b_out as tf.Tensor) as tf.Tensor2D;
      return { logits, state: [...hs, ...cs] };
    });
    return result;
  }

  /** x: the previous layer's outputs (T*B, in), or for the first layer the token ids (one-hot inputs). */
  private fusedUnit(x: tf.Tensor2D | Int32Array, T: number, B: number, l: number, d: number, h0: tf.Tensor2D, c0: tf.Tensor2D | null) {
    const s = layerSuffix(l, d);
    const G = GATES[this.cell];
    const H = this.numHiddens;
    const W = this.vars[`W_ih${s}`] as tf.Tensor2D;
    const proj = x instanceof Int32Array ? gatherRows(x, W) : tf.matMul(x, W);
    let xp = tf.reshape(tf.add(proj, this.vars[`b_ih${s}`] as tf.Tensor), [T, B, G * H]) as tf.Tensor3D;
    if (d === 1) xp = tf.reverse(xp, 0);
    const out = fusedRecurrence(xp, h0, c0, this.vars[`W_hh${s}`] as tf.Tensor2D, this.vars[`b_hh${s}`] as tf.Tensor1D, {
      kind: this.cell,
      resetAfter: this.resetAfter,
    });
    let seq = this.cell === 'lstm' ? (tf.slice(out, [0, 0, 0], [T, B, H]) as tf.Tensor3D) : out;
    const h = tf.reshape(tf.slice(out, [T - 1, 0, 0], [1, B, H]), [B, H]) as tf.Tensor2D;
    const c = this.cell === 'lstm' ? (tf.reshape(tf.slice(out, [T, 0, 0], [1, B, H]), [B, H]) as tf.Tensor2D) : null;
    if (d === 1) seq = tf.reverse(seq, 0);
    return { seq, h, c };
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
    const named: Record<string, tf.Variable> = { ...this.vars };
    this.rnnLayers.forEach((layer, l) => {
      for (const w of layer.trainableWeights) {
        named[`${w.name.split('/').pop()}_l${l}`] = w.read() as tf.Variable;
      }
    });
    return named;
  }

  get trainableVariables(): tf.Variable[] {
    return Object.values(this.namedVariables());
  }

  dispose(): void {
    for (const v of Object.values(this.vars)) v.dispose();
    for (const layer of this.rnnLayers) layer.dispose();
  }
}
