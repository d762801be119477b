export { fusedRecurrence, GATES, type CellKind, type RecurrenceOptions } from './fused.js';
export { RNNModel, layerSuffix, type RNNModelOptions, type Implementation } from './rnn-model.js';
export { fromTorchNames } from './torch.js';
