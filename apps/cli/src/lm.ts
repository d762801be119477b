import { RNNModelScratch, gruCell, lstmCell, rnnCell, type RecurrentLanguageModel } from '@rnnkit/cells';
import { RNNModel, type CellKind } from '@rnnkit/models';
import { UsageError } from './errors.js';

export type LMImplementation = 'scratch' | 'fused' | 'layers';

/** Everything that defines a language model's shape; saved in checkpoints. */
export interface LMConfig {
  model: CellKind;
  impl: LMImplementation;
  hidden: number;
  layers: number;
  bidirectional: boolean;
  vocabSize: number;
  seed: number;
}

const SCRATCH_CELLS = { rnn: rnnCell, gru: gruCell, lstm: lstmCell };

/** Builds the model a config describes: d2l's scratch model, or `RNNModel` (fused or tf.layers). */
export function createLanguageModel(config: LMConfig): RecurrentLanguageModel {
  const { model, impl, hidden, layers, bidirectional, vocabSize, seed } = config;
  if (impl === 'scratch') {
    if (layers !== 1 || bidirectional) throw new UsageError('--impl scratch has one unidirectional layer: use --impl fused for --layers or --bidirectional.');
    return new RNNModelScratch({ vocabSize, numHiddens: hidden, ...SCRATCH_CELLS[model], seed });
  }
  if (impl === 'layers' && bidirectional) throw new UsageError('--impl layers is unidirectional here: use --impl fused with --bidirectional.');
  // tf.layers.gru has only the reset-before GRU (d2l's); the fused GRU defaults to PyTorch's.
  return new RNNModel({ vocabSize, cell: model, numHiddens: hidden, numLayers: layers, bidirectional, implementation: impl, seed, resetAfter: impl !== 'layers' });
}

/** Where a worker thread finds `createLanguageModel` (this module, built into the package's dist). */
export function languageModelFactoryRef(): { module: string; exportName: string; call: true } {
  return { module: new URL('./index.js', import.meta.url).href, exportName: 'createLanguageModel', call: true };
}
