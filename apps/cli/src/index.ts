export { selectBackend, workerBackendSetup, BACKEND_CHOICES, type BackendChoice } from './backend.js';
export { RnnkitError, UsageError } from './errors.js';
export { saveRunCheckpoint, loadRunCheckpoint, saveKindCheckpoint, loadKindCheckpoint } from './checkpoint.js';
export { createModelFromFlags, type LanguageModelConfig, type LanguageModelImplementation } from './lm.js';
export { renderSvg, perplexitySpec, seriesSpec } from './plot.js';
export { runTrain, PREFIXES, type TrainCommandOptions, type TrainCheckpointMeta, type TrainSummary, type EpochRecord } from './commands/train.js';
export { runGenerate, type GenerateCommandOptions, type GenerateResult } from './commands/generate.js';
export { runToy, type ToyCommandOptions, type ToyRun } from './commands/toy.js';
export { runSeq2Seq, type Seq2SeqCommandOptions, type Seq2SeqResult } from './commands/seq2seq.js';
export { runTimeseries, HORIZONS, type TimeseriesCommandOptions, type TimeseriesResult, type RegressorTrainingRecord } from './commands/timeseries.js';
export {
  runClassify,
  confusionLines,
  type ClassifyCommandOptions,
  type ClassifySummary,
  type ClassifiedText,
  type ClassifierTrainingRecord,
} from './commands/classify.js';
export { runBench, BENCH_CASES, BENCH_BACKENDS, type BenchOptions, type BenchRow, type BenchCase } from './commands/bench.js';
export { run, buildProgram, type RunOptions } from './program.js';
export { argumentPath, displayPath, packageScriptCommand } from './invocation.js';
export { VERSION } from './version.js';
