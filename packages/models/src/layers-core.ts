import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { Rng } from '@rnnkit/data';
import { oneHotFloat, type State } from '@rnnkit/cells';
import type { CellKind } from './cell-kinds.js';
import type { CoreConfig, RecurrentCore } from './rnn-core.js';

/**
 * `RNNModel`'s tf.layers core: `tf.layers.simpleRNN/gru/lstm`, one per layer, with
 * `recurrentActivation: 'sigmoid'` (its default hard sigmoid is not d2l's); unidirectional, and
 * its GRU is d2l's reset-before one.
 */
export class LayersCore implements RecurrentCore {
  readonly implementation = 'layers';
  /** One layer per level. */
  private readonly rnnLayers: tfl.layers.Layer[] = [];

  constructor(
    readonly cell: CellKind,
    private readonly config: CoreConfig,
    rng: Rng,
    resetAfterRequested: boolean,
  ) {
    const { vocabSize, numHiddens: H, numLayers, numDirections } = config;
    if (numDirections === 2) {
      throw new Error('The layers implementation is unidirectional here: use implementation "fused" for bidirectional models.');
    }
    if (cell === 'gru' && resetAfterRequested) {
      throw new Error("tf.layers.gru has no reset-after GRU: use implementation 'fused' for PyTorch's nn.GRU formulation.");
    }
    const bound = 1 / Math.sqrt(H);
    for (let l = 0; l < numLayers; l++) {
      const init = () => tfl.initializers.randomUniform({ minval: -bound, maxval: bound, seed: rng.int(0, 2 ** 30) });
      const config = { units: H, returnSequences: true, returnState: true, kernelInitializer: init(), recurrentInitializer: init(), biasInitializer: init() };
      const layers = {
        rnn: () => tfl.layers.simpleRNN({ ...config, activation: 'tanh' }),
        gru: () => tfl.layers.gru({ ...config, recurrentActivation: 'sigmoid' }),
        lstm: () => tfl.layers.lstm({ ...config, recurrentActivation: 'sigmoid', unitForgetBias: false }),
      } satisfies Record<CellKind, () => tfl.layers.Layer>;
      const layer = layers[cell]();
      // Build the weights now (one dummy step), so trainableVariables is complete before the first call.
      tf.tidy(() => {
        layer.apply(tf.zeros([1, 1, l === 0 ? vocabSize : H]));
      });
      this.rnnLayers.push(layer);
    }
  }

  run(X: tf.Tensor2D, state: State): { outputs: tf.Tensor2D; state: State } {
    const [B, T] = X.shape;
    const { vocabSize, numHiddens: H } = this.config;
    const n = this.rnnLayers.length;
    let x = tf.reshape(oneHotFloat(tf.transpose(X), vocabSize), [T * B, vocabSize]) as tf.Tensor2D;
    const hs: tf.Tensor2D[] = [];
    const cs: tf.Tensor2D[] = [];
    this.rnnLayers.forEach((layer, l) => {
      const h0 = state[l]!;
      const c0 = state.length > n ? state[n + l]! : null;
      const inputs = tf.transpose(tf.reshape(x, [T, B, x.shape[1]]), [1, 0, 2]); // batch-first
      const [seqBT, h, c] = layer.apply(inputs, { initialState: c0 ? [h0, c0] : [h0] }) as tf.Tensor[];
      hs.push(h as tf.Tensor2D);
      if (c0) cs.push(c as tf.Tensor2D);
      x = tf.reshape(tf.transpose(seqBT!, [1, 0, 2]), [T * B, H]);
    });
    return { outputs: x, state: [...hs, ...cs] };
  }

  namedVariables(): Record<string, tf.Variable> {
    const named: Record<string, tf.Variable> = {};
    this.rnnLayers.forEach((layer, l) => {
      for (const w of layer.trainableWeights) named[`${w.name.split('/').pop()}_l${l}`] = w.read() as tf.Variable;
    });
    return named;
  }

  dispose(): void {
    for (const layer of this.rnnLayers) layer.dispose();
  }
}
