import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@rnnkit/data';
import { timeMajor } from '@rnnkit/data';
import { recordOpPath, type Kernels, type State } from '@rnnkit/cells';
import type { CellKind } from './cell-kinds.js';
import { RecurrentLayer } from './layers.js';
import { kernelRecurrence } from './fused/kernel-recurrence.js';
import { RECURRENCES, recurrenceOf } from './fused/kinds.js';
import type { PassResult } from './fused/pass.js';
import type { CoreConfig, RecurrentCore } from './rnn-core.js';

/** Layer l, direction d: PyTorch's suffixes (`_l0`, `_l0_reverse`). */
export function layerSuffix(layer: number, direction: number): string {
  return `_l${layer}${direction === 1 ? '_reverse' : ''}`;
}

/**
 * `RNNModel`'s fused core: one `RecurrentLayer` (a `fusedRecurrence` each) per layer and
 * direction. The first layer looks its inputs up as rows of W_ih by token id, inside the op.
 */
export class FusedCore implements RecurrentCore {
  readonly implementation = 'fused';
  /** The recurrent layer of each (layer, direction). */
  private readonly units: RecurrentLayer[][] = [];

  constructor(
    readonly cell: CellKind,
    private readonly config: CoreConfig,
    rng: Rng,
  ) {
    const { vocabSize, numHiddens: H, numLayers, numDirections, resetAfter } = config;
    for (let l = 0; l < numLayers; l++) {
      const inputs = l === 0 ? vocabSize : H * numDirections;
      this.units.push(Array.from({ length: numDirections }, () => new RecurrentLayer(cell, inputs, H, rng, resetAfter)));
    }
  }

  run(X: tf.Tensor2D, state: State): { outputs: tf.Tensor2D; state: State } {
    const [B, T] = X.shape;
    const { numHiddens: H, numDirections } = this.config;
    const units = this.units.length * numDirections;
    // Token ids in time-major order (row t*B + b).
    let x: tf.Tensor2D | Int32Array = timeMajor(Int32Array.from(X.dataSync()), T);
    const hs: tf.Tensor2D[] = [];
    const cs: tf.Tensor2D[] = [];
    for (const [l, dirs] of this.units.entries()) {
      const outs = dirs.map((unit, d) => {
        const u = l * numDirections + d;
        const h0 = state[u]!;
        const c0 = state.length > units ? state[units + u]! : null;
        const r = unit.applyRows(x, T, B, c0 ? [h0, c0] : [h0], d === 1);
        hs.push(r.state[0]!);
        if (c0) cs.push(r.state[1]!);
        return r.outputs;
      });
      const seq = outs.length === 1 ? outs[0]! : tf.concat(outs, 2);
      x = tf.reshape(seq, [T * B, H * numDirections]) as tf.Tensor2D;
    }
    // numLayers >= 1: x is the last layer's outputs now.
    return { outputs: x as tf.Tensor2D, state: [...hs, ...cs] };
  }

  /**
   * `run` on the kernels for a caller that takes the gradients itself (no tape): the outputs
   * (T*B, H), the final state, and `backward`, which from the outputs' gradient gives every
   * layer's variables' gradients by variable name, as the tape would (the same passes in the
   * same order, so the same bits). Null where `run` would not take the kernels' passes all the
   * way (bidirectional, a kind or size they do not take, inputs not in whole 4 x 4 blocks).
   */
  runOnKernels(
    k: Kernels,
    ids: Int32Array,
    T: number,
    B: number,
    state: State,
  ): { outputs: tf.Tensor2D; state: State; backward: (dOutputs: tf.Tensor2D) => Map<string, tf.Tensor> } | null {
    const { numHiddens: H, numDirections } = this.config;
    if (numDirections !== 1 || H % 4 !== 0) return null;
    const spec = RECURRENCES[recurrenceOf(this.cell, this.config.resetAfter)];
    if (!spec.kernels || (this.units.length > 1 && (!k.weightGradientGemm || (T * B) % 4 !== 0))) return null;
    const S = spec.states;
    const units = this.units.length;
    const passes: PassResult[] = [];
    const hs: tf.Tensor2D[] = [];
    const cs: tf.Tensor2D[] = [];
    // The last layer's outputs so far (assigned inside tidy's callback, so typed by hand).
    let x = null as tf.Tensor2D | null;
    try {
      for (const [l, [unit]] of this.units.entries()) {
        recordOpPath('fusedRecurrence', true);
        const pass = kernelRecurrence(k, {
          spec,
          T,
          B,
          H,
          xp: unit!.W_ih,
          ids: l === 0 ? ids : null,
          xin: l === 0 ? null : x,
          state: S === 2 ? [state[l]!, state[units + l]!] : [state[l]!],
          W: unit!.W_hh as tf.Tensor2D,
          b: unit!.b_hh as tf.Tensor1D,
          bx: unit!.b_ih as tf.Tensor1D,
          keep: true,
        });
        passes.push(pass);
        // As fusedRecurrence splits its one tensor: h_1..h_T, h_T, and the LSTM's c_T (its last row).
        const { packed } = pass;
        tf.tidy(() => {
          hs.push(tf.keep(tf.reshape(tf.slice(packed, [T - 1, 0, 0], [1, B, H]), [B, H]) as tf.Tensor2D));
          if (S === 2) cs.push(tf.keep(tf.reshape(tf.slice(packed, [T, 0, 0], [1, B, H]), [B, H]) as tf.Tensor2D));
          const next = tf.keep(tf.reshape(S === 2 ? tf.slice(packed, [0, 0, 0], [T, B, H]) : packed, [T * B, H]) as tf.Tensor2D);
          x?.dispose();
          x = next;
        });
        packed.dispose();
      }
    } catch (err) {
      x?.dispose();
      tf.dispose([...hs, ...cs, ...passes.map((p) => p.packed)]);
      throw err;
    }
    const backward = (dOutputs: tf.Tensor2D): Map<string, tf.Tensor> => {
      const grads = new Map<string, tf.Tensor>();
      let d: tf.Tensor2D = dOutputs;
      for (let l = units - 1; l >= 0; l--) {
        const unit = this.units[l]![0]!;
        // The pass's one tensor's gradient: its outputs', and 0 for the LSTM's c_T row (not on the loss's path).
        const dy = tf.tidy(() => {
          const seq = tf.reshape(d, [T, B, H]);
          return S === 2 ? tf.concat([seq, tf.zeros([1, B, H])], 0) : seq;
        });
        if (d !== dOutputs) d.dispose();
        const g = passes[l]!.gradFunc(dy);
        dy.dispose();
        tf.dispose(g.dState);
        grads.set(unit.W_ih.name, g.dxp);
        grads.set(unit.W_hh.name, g.dW);
        grads.set(unit.b_ih.name, g.dbx!);
        grads.set(unit.b_hh.name, g.db);
        if (l > 0) d = g.dxin!;
      }
      return grads;
    };
    return { outputs: x!, state: [...hs, ...cs], backward };
  }

  namedVariables(): Record<string, tf.Variable> {
    const named: Record<string, tf.Variable> = {};
    for (const [l, dirs] of this.units.entries()) {
      for (const [d, unit] of dirs.entries()) Object.assign(named, unit.namedVariables(layerSuffix(l, d)));
    }
    return named;
  }

  dispose(): void {
    for (const dirs of this.units) for (const unit of dirs) unit.dispose();
  }
}
