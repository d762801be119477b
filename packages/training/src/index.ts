// tfjs-layers registers every gradient kernel on import, in Node and in browsers alike;
// tfjs-core's own register_all_gradients cannot be imported from Node's ESM loader.
import '@tensorflow/tfjs-layers';

export { globalNorm, clipGradsByGlobalNorm } from './clip.js';
export { languageModelLoss } from './loss.js';
export { makeOptimizer, type OptimizerSpec } from './optim.js';
export {
  trainStep,
  trainEpoch,
  trainEpochAsync,
  trainLanguageModel,
  type StepResult,
  type EpochResult,
  type EpochOptions,
  type EpochInfo,
  type TrainOptions,
  type TrainResult,
} from './train.js';
export { predict, argmax, sampleLogits, type PredictOptions, type Prediction } from './predict.js';
