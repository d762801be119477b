export { fusedRecurrence, type RecurrenceOptions, type RecurrenceResult } from './fused/recurrence.js';
export { gatherRows } from './fused/gather.js';
export { denseCrossEntropy } from './fused/dense-cross-entropy.js';
export { CELL_KINDS, GATES, isCellKind, cellKindsInWords, type CellKind } from './cell-kinds.js';
export { RECURRENCES, type Recurrence, type RecurrenceSpec } from './fused/kinds.js';
export { useKernels, useWasmGates } from '@rnnkit/cells';
export { RNNModel, type RNNModelOptions } from './rnn-model.js';
export type { RNNModelImplementation, RecurrentCore } from './rnn-core.js';
export { FusedCore, layerSuffix } from './fused-core.js';
export { LayersCore } from './layers-core.js';
export { Embedding, Dense, RecurrentLayer, RecurrentStack } from './layers.js';
export { VariableOwner } from '@rnnkit/cells';
export { SeqClassifier, SEQUENCE_POOLINGS, type SeqClassifierOptions, type SequencePooling } from './classifier.js';
export { TimeSeriesRegressor, type TimeSeriesRegressorOptions } from './timeseries.js';
export { EncoderDecoder, type EncoderDecoderOptions, type DecoderState, type BeamSearchOptions, type BeamHypothesis } from './seq2seq.js';
export { fromTorchNames } from './torch.js';
export {
  createLanguageModel,
  checkLanguageModelConfig,
  type LanguageModelConfig,
  type LanguageModelImplementation,
} from './language-model.js';
