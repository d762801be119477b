import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@rnnkit/data';
import { timeMajor } from '@rnnkit/data';
import type { State } from '@rnnkit/cells';
import type { CellKind } from './cell-kinds.js';
import { RecurrentLayer } from './layers.js';
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
