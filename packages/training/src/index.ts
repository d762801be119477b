// tfjs-layers registers every gradient kernel on import, in Node and in browsers alike;
// tfjs-core's own register_all_gradients cannot be imported from Node's ESM loader.
import '@tensorflow/tfjs-layers';

export { globalNorm, clipGradsByGlobalNorm } from './clip.js';
export { languageModelLoss, crossEntropyLoss, maskedSoftmaxCELoss, mseLoss } from './loss.js';
export { makeOptimizer, type OptimizerSpec } from './optim.js';
export { applyClippedGradients, optimizeStep } from './step.js';
export { stepPathReporter, type StepPath } from './paths.js';
export { learningRateAt, setLearningRate, checkLearningRateSchedule, LR_SCHEDULE_KINDS, type LearningRateSchedule } from './schedule.js';
export {
  trainStep,
  trainEpoch,
  trainEpochAsync,
  trainLanguageModel,
  evaluateLanguageModel,
  type Evaluation,
  type BestEpoch,
  type StepResult,
  type EpochResult,
  type EpochOptions,
  type EpochInfo,
  type TrainOptions,
  type TrainResult,
  type MinibatchStepper,
} from './train.js';
export { textEncodingOf } from './text-encoding.js';
export { predict, generate, argmax, sampleLogits, type PredictOptions, type Prediction, type GenerateOptions, type TokenStream } from './predict.js';
export {
  trainSeqClassifier,
  type SeqClassifierLike,
  type SeqClassifierEpoch,
  type TrainSeqClassifierOptions,
  trainSequenceClassifier,
  evaluateClassifier,
  balancedClassWeights,
  confusionMatrix,
  type SequenceClassifierLike,
  type LabelledSequences,
  type ClassifierEvaluation,
  type SequenceClassifierEpoch,
  type TrainSequenceClassifierOptions,
} from './classifier.js';
export { bleu } from './metrics.js';
export { TrainingDivergedError } from './diverged.js';
export {
  trainSeq2Seq,
  evaluateSeq2Seq,
  predictSeq2Seq,
  teacherForcingInput,
  sequenceMask,
  type Seq2SeqModelLike,
  type Seq2SeqEpoch,
  type TrainSeq2SeqOptions,
  type Seq2SeqEvaluation,
  type Seq2SeqTranslation,
} from './seq2seq.js';
export {
  trainRegressor,
  fitLinearAR,
  lastValuePredictor,
  kStepAhead,
  meanSquaredError,
  evaluateForecasts,
  forecastAhead,
  type RegressorLike,
  type WindowPredictor,
  type TrainRegressorOptions,
  type ForecastReport,
} from './forecast.js';
export {
  checkTrainCheckpointMeta,
  trainCheckpointMetaOf,
  trainCheckpointMetaProblem,
  type TrainCheckpointMeta,
  type TrainSettings,
  type CorpusIdentity,
  type EpochRecord,
} from './train-record.js';
export { saveCheckpoint, saveLanguageModel, checkpointFiles } from './checkpoint/save.js';
export { loadCheckpoint, loadAnyCheckpoint, loadLanguageModel } from './checkpoint/load.js';
export { migrateCheckpoint, type MigrateCheckpointOptions, type MigratedCheckpoint } from './checkpoint/migrate.js';
export {
  languageModelKind,
  translationKind,
  seqClassifierKind,
  timeSeriesRegressorKind,
  CHECKPOINT_KINDS,
  type TranslationConfig,
  type SeqClassifierConfig,
  type TimeSeriesRegressorConfig,
} from './checkpoint/kinds.js';
export {
  setCheckpointFileSystem,
  CheckpointError,
  CHECKPOINT_FORMAT,
  type CheckpointProblem,
  type CheckpointDestination,
  type CheckpointSource,
  type CheckpointFile,
  type CheckpointFileReader,
  type CheckpointFileSystem,
  type CheckpointKind,
  type CheckpointModel,
  type VocabularyRule,
  type LegacyContents,
  type Checkpoint,
  type LoadedCheckpoint,
  type SaveCheckpointOptions,
  type LoadCheckpointOptions,
  type LanguageModelCheckpoint,
  type LoadedLanguageModel,
  type SaveLanguageModelOptions,
  type LoadLanguageModelOptions,
} from './checkpoint/format.js';
