import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@rnnkit/data';
import { timeMajor } from '@rnnkit/data';
import { recordOpPath, type GradientsInKernels, type Kernels, type State } from '@rnnkit/cells';
import type { CellKind } from './cell-kinds.js';
import { RecurrentLayer } from './layers.js';
import { kernelRecurrence, type KernelPassResult } from './fused/kernel-recurrence.js';
import type { RowsInKernels } from './fused/dense-cross-entropy.js';
import { RECURRENCES, recurrenceOf } from './fused/kinds.js';
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
   * `run` on the kernels for a caller that takes the gradients itself (no tape): the last layer's
   * outputs h_1..h_T, left in the kernels' memory (T*B rows of H, until `backward`), the final
   * state, and `backward`, which from their gradient (`dyAt`: T*B rows of H, then for the LSTM a
   * row block of zeros for c_T, in the kernels' memory) writes every layer's variables' gradients
   * into `grads`, as the tape would give them (the same passes in the same order, so the same bits).
   * Null where `run` would not take the kernels' passes all the way (bidirectional, a kind or
   * size they do not take, a lower layer's outputs not in whole 4 x 4 blocks).
   */
  runOnKernels(
    k: Kernels,
    ids: Int32Array,
    T: number,
    B: number,
    state: State,
  ): { outputs: RowsInKernels; state: State; backward: (dyAt: number, grads: GradientsInKernels) => void } | null {
    if (!this.takesKernels(k, T, B)) return null;
    const H = this.config.numHiddens;
    const spec = RECURRENCES[recurrenceOf(this.cell, this.config.resetAfter)];
    const S = spec.states;
    const units = this.units.length;
    const passes: KernelPassResult[] = [];
    const hs: tf.Tensor2D[] = [];
    const cs: tf.Tensor2D[] = [];
    try {
      for (const [l, [unit]] of this.units.entries()) {
        recordOpPath('fusedRecurrence', true);
        // Every layer leaves h_1..h_T in the kernels' memory: the next one reads its inputs there.
        const pass = kernelRecurrence(k, {
          spec,
          T,
          B,
          H,
          xp: unit!.W_ih,
          ids: l === 0 ? ids : null,
          xin: null,
          xinAt: l === 0 ? null : { at: passes[l - 1]!.outputsAt, I: H },
          state: S === 2 ? [state[l]!, state[units + l]!] : [state[l]!],
          W: unit!.W_hh as tf.Tensor2D,
          b: unit!.b_hh as tf.Tensor1D,
          bx: unit!.b_ih as tf.Tensor1D,
          keep: true,
          leaveOutputs: true,
        });
        passes.push(pass);
        // As fusedRecurrence splits its one tensor: h_T, and the LSTM's c_T.
        const { packed } = pass;
        tf.tidy(() => {
          hs.push(tf.keep(tf.reshape(tf.slice(packed, [0, 0, 0], [1, B, H]), [B, H]) as tf.Tensor2D));
          if (S === 2) cs.push(tf.keep(tf.reshape(tf.slice(packed, [1, 0, 0], [1, B, H]), [B, H]) as tf.Tensor2D));
        });
        packed.dispose();
      }
    } catch (err) {
      tf.dispose([...hs, ...cs, ...passes.map((p) => p.packed)]);
      throw err;
    }
    const backward = (dyAt: number, grads: GradientsInKernels): void => {
      // The top layer's dy where the caller left it; a lower one's where the layer above wrote its
      // inputs' gradient: the pass's one tensor's gradient, its outputs' and (the LSTM) 0 for c_T's
      // row, which is not on the loss's path.
      let dy = dyAt;
      let below: number | null = null;
      try {
        for (let l = units - 1; l >= 0; l--) {
          const unit = this.units[l]![0]!;
          if (l > 0) {
            below = k.alloc((T + S - 1) * B * H);
            k.f32.fill(0, below + T * B * H, below + (T + S - 1) * B * H);
          }
          passes[l]!.gradInto(dy, {
            dxp: grads.offsetOf(unit.W_ih.name),
            dW: grads.offsetOf(unit.W_hh.name),
            db: grads.offsetOf(unit.b_hh.name),
            dbx: grads.offsetOf(unit.b_ih.name),
            ...(l > 0 ? { dxin: below! } : {}),
          });
          if (dy !== dyAt) k.release(dy);
          dy = below ?? dyAt;
          below = null;
        }
      } finally {
        if (below !== null) k.release(below);
        if (dy !== dyAt) k.release(dy);
      }
    };
    return { outputs: { at: passes[units - 1]!.outputsAt, rows: T * B, features: H }, state: [...hs, ...cs], backward };
  }

  /** Whether `runOnKernels` takes T steps of batch B (else it returns null). */
  takesKernels(k: Kernels, T: number, B: number): boolean {
    const { numHiddens: H, numDirections } = this.config;
    return numDirections === 1 && H % 4 === 0 && (this.units.length === 1 || (k.weightGradientGemm && (T * B) % 4 === 0));
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
