import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@rnnkit/data';
import { fusedRecurrence } from './fused/recurrence.js';
import { gatherRows } from './fused/gather.js';
import { GATES, cellKindsInWords, isCellKind, type CellKind } from './cell-kinds.js';
import { RECURRENCES } from './fused/kinds.js';
import { dropoutMaskTensor, maskKey, normalVariable, VariableOwner } from '@rnnkit/cells';
import { uniformVariable } from './init.js';

/**
 * `nn.Embedding`: a (vocab, size) table. The lookup is `gatherRows` rather than `tf.gather`,
 * because the wasm backend has no gradient for gather (`UnsortedSegmentSum`).
 */
export class Embedding {
  readonly weight: tf.Variable;
  constructor(
    readonly vocabSize: number,
    readonly size: number,
    rng: Rng,
  ) {
    this.weight = normalVariable([vocabSize, size], rng, 1); // PyTorch's nn.Embedding: N(0, 1)
  }

  /** ids of any shape (int32) -> [...shape, size]. */
  apply(ids: tf.Tensor): tf.Tensor {
    const flatIds = Int32Array.from(ids.dataSync());
    return tf.tidy(() => tf.reshape(gatherRows(flatIds, this.weight as tf.Tensor2D), [...ids.shape, this.size]));
  }
}

/** `nn.Linear` with the weight stored transposed: (in, out). */
export class Dense {
  readonly W: tf.Variable;
  readonly b: tf.Variable;
  constructor(inputs: number, outputs: number, rng: Rng) {
    const bound = 1 / Math.sqrt(inputs);
    this.W = uniformVariable([inputs, outputs], bound, rng);
    this.b = uniformVariable([outputs], bound, rng);
  }

  /** (rows, in) -> (rows, out). */
  apply(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.add(tf.matMul(x, this.W as tf.Tensor2D), this.b) as tf.Tensor2D);
  }
}

/**
 * One unidirectional recurrent layer (PyTorch's `nn.RNN/GRU/LSTM` with one layer) on the fused
 * whole-sequence op: the input projection of all steps is one matmul, the recurrence one
 * `fusedRecurrence`. Weights as `RNNModel`'s: W_ih (in, G*H), W_hh (H, G*H), b_ih, b_hh.
 */
export class RecurrentLayer extends VariableOwner {
  readonly W_ih: tf.Variable;
  readonly W_hh: tf.Variable;
  readonly b_ih: tf.Variable;
  readonly b_hh: tf.Variable;
  constructor(
    readonly cell: CellKind,
    readonly inputSize: number,
    readonly numHiddens: number,
    rng: Rng,
    readonly resetAfter = true,
  ) {
    super();
    if (!isCellKind(cell)) throw new Error(`Unknown cell "${String(cell)}": use ${cellKindsInWords()}.`);
    const GH = GATES[cell] * numHiddens;
    const bound = 1 / Math.sqrt(numHiddens);
    this.W_ih = uniformVariable([inputSize, GH], bound, rng);
    this.W_hh = uniformVariable([numHiddens, GH], bound, rng);
    this.b_ih = uniformVariable([GH], bound, rng);
    this.b_hh = uniformVariable([GH], bound, rng);
  }

  /** Hidden state(s) of zeros: [h] or, for the LSTM, [h, c]; each (batch, hidden). */
  beginState(batchSize: number): tf.Tensor2D[] {
    return Array.from({ length: RECURRENCES[this.cell].states }, () => tf.zeros([batchSize, this.numHiddens]) as tf.Tensor2D);
  }

  /** x: (steps, batch, in), time-major. Returns all steps' outputs (steps, batch, H) and the final state. */
  apply(x: tf.Tensor3D, state: tf.Tensor2D[]): { outputs: tf.Tensor3D; state: tf.Tensor2D[] } {
    const [T, B, I] = x.shape;
    if (I !== this.inputSize) throw new Error(`This ${this.cell} layer takes ${this.inputSize} input features, got ${I}.`);
    return tf.tidy(() => this.applyRows(tf.reshape(x, [T * B, I]) as tf.Tensor2D, T, B, state));
  }

  /**
   * The same on time-major rows (T*B, in), or on token ids in that order for one-hot inputs (a
   * row lookup of W_ih inside the fused op). `reverse` runs from the last step to the first, as the
   * backward direction of a bidirectional layer; outputs stay in input order.
   */
  applyRows(x: tf.Tensor2D | Int32Array, T: number, B: number, state: tf.Tensor2D[], reverse = false): { outputs: tf.Tensor3D; state: tf.Tensor2D[] } {
    return tf.tidy(() => {
      // One-hot inputs index rows of W_ih inside the fused op, dense ones are multiplied by it
      // there (x W_ih over all steps); b_ih is added there too. The reverse direction projects
      // first and reverses the projections, so that W_ih's gradient sums the steps in their own
      // order (reversed inputs would sum them backwards: other bits).
      let xp: tf.Tensor = this.W_ih;
      let inputIds: Int32Array | undefined;
      let inputRows: tf.Tensor2D | undefined;
      if (x instanceof Int32Array) {
        inputIds = reverse ? reverseSteps(x, B) : x;
      } else {
        if (x.shape[0] !== T * B) throw new Error(`This ${this.cell} layer got ${x.shape[0]} input rows for ${T} steps of batch ${B} (${T * B} rows).`);
        if (reverse) xp = tf.reverse(tf.reshape(tf.matMul(x, this.W_ih), [T, B, GATES[this.cell] * this.numHiddens]), 0);
        else inputRows = x;
      }
      const r = fusedRecurrence(xp as tf.Tensor3D | tf.Tensor2D, state, this.W_hh as tf.Tensor2D, this.b_hh as tf.Tensor1D, {
        cell: this.cell,
        resetAfter: this.resetAfter,
        inputBias: this.b_ih as tf.Tensor1D,
        ...(inputIds ? { inputIds } : {}),
        ...(inputRows ? { inputRows } : {}),
      });
      return { outputs: reverse ? tf.reverse(r.outputs, 0) : r.outputs, state: r.state };
    });
  }

  namedVariables(suffix = '_l0'): Record<string, tf.Variable> {
    return { [`W_ih${suffix}`]: this.W_ih, [`W_hh${suffix}`]: this.W_hh, [`b_ih${suffix}`]: this.b_ih, [`b_hh${suffix}`]: this.b_hh };
  }
}

/** Time-major ids (T*B) with the steps in reverse order. */
function reverseSteps(ids: Int32Array, B: number): Int32Array {
  const out = new Int32Array(ids.length);
  for (let t = 0, T = ids.length / B; t < T; t++) out.set(ids.subarray((T - 1 - t) * B, (T - t) * B), t * B);
  return out;
}

/**
 * Stacked `RecurrentLayer`s (PyTorch's `num_layers`). State: one entry per layer ([h] or [h, c]).
 * `dropout` is PyTorch's: applied to the outputs of every layer but the last, in training only.
 */
export class RecurrentStack extends VariableOwner {
  readonly layers: RecurrentLayer[];
  constructor(
    cell: CellKind,
    inputSize: number,
    numHiddens: number,
    numLayers: number,
    rng: Rng,
    readonly dropout = 0,
  ) {
    super();
    if (!(dropout >= 0 && dropout < 1)) throw new RangeError(`dropout must be in [0, 1), got ${dropout}.`);
    this.layers = Array.from({ length: numLayers }, (_, l) => new RecurrentLayer(cell, l === 0 ? inputSize : numHiddens, numHiddens, rng));
  }

  beginState(batchSize: number): tf.Tensor2D[][] {
    return this.layers.map((layer) => layer.beginState(batchSize));
  }

  /**
   * Intermediate layers' outputs are left to the caller's `tf.tidy` (they may feed a gradient).
   * `training.rng` turns dropout on and draws its masks, so a seeded generator repeats them.
   */
  apply(x: tf.Tensor3D, state: tf.Tensor2D[][], training?: { rng: Rng }): { outputs: tf.Tensor3D; state: tf.Tensor2D[][] } {
    if (state.length !== this.layers.length) throw new Error(`This stack has ${this.layers.length} layers but the state has ${state.length} entries.`);
    const next: tf.Tensor2D[][] = [];
    let outputs = x;
    this.layers.forEach((layer, l) => {
      const r = layer.apply(outputs, state[l] as tf.Tensor2D[]);
      outputs =
        training && this.dropout > 0 && l < this.layers.length - 1 ? tf.mul(r.outputs, dropoutMask(r.outputs.shape, this.dropout, training.rng)) : r.outputs;
      next.push(r.state);
    });
    return { outputs, state: next };
  }

  namedVariables(): Record<string, tf.Variable> {
    return Object.assign({}, ...this.layers.map((layer, l) => layer.namedVariables(`_l${l}`))) as Record<string, tf.Variable>;
  }
}

/**
 * Inverted dropout: each entry 0 with probability `rate`, else 1 / (1 - rate) (PyTorch's scaling),
 * drawn on rnnkit's kernels from a key of two draws of `rng` (`dropoutMaskTensor`: the same bits
 * on any thread count, and in its JS loops where the kernels do not run).
 */
function dropoutMask(shape: number[], rate: number, rng: Rng): tf.Tensor {
  return dropoutMaskTensor(
    shape,
    rate,
    maskKey(() => rng.next()),
  );
}
