export { fusedRecurrence, gatherRows, GATES, type CellKind, type RecurrenceOptions } from './fused.js';
export { useWasmGates } from './wasm-gates.js';
export { RNNModel, layerSuffix, type RNNModelOptions, type Implementation } from './rnn-model.js';
export { Embedding, Dense, RecurrentLayer, RecurrentStack } from './layers.js';
export { VariableOwner } from '@rnnkit/cells';
export { SeqClassifier, type SeqClassifierOptions } from './classifier.js';
export { TimeSeriesRegressor, type TimeSeriesRegressorOptions } from './timeseries.js';
export { EncoderDecoder, type EncoderDecoderOptions, type DecoderState } from './seq2seq.js';
export { fromTorchNames } from './torch.js';
export {
  createLanguageModel,
  checkLanguageModelConfig,
  type LanguageModelConfig,
  type LanguageModelImplementation,
} from './language-model.js';
