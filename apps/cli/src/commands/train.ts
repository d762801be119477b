import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadDataTimeMachine, writeFileAtomic, type RngState } from '@rnnkit/data';
import { makeOptimizer, predict, trainLanguageModel, type TrainResult } from '@rnnkit/training';
import { DataParallelTrainer } from '@rnnkit/training/parallel';
import type { CellKind } from '@rnnkit/models';
import { selectBackend, workerBackendSetup, type BackendChoice } from '../backend.js';
import { loadRunCheckpoint, saveRunCheckpoint } from '../checkpoint.js';
import { LOCAL_COPY_HINT, RnnkitError, UsageError } from '../errors.js';
import { createModelFromFlags, type LanguageModelConfig, type LMImplementation } from '../lm.js';
import { perplexitySpec, renderSvg } from '../plot.js';
import { createReporter, outputMode } from '../progress.js';
import { VERSION } from '../version.js';

export interface TrainCommandOptions {
  model: CellKind;
  impl: LMImplementation;
  hidden: number;
  layers: number;
  bidirectional: boolean;
  epochs: number;
  lr: number;
  optimizer: 'sgd' | 'adam';
  batchSize: number;
  numSteps: number;
  randomIter: boolean;
  /** 0 keeps the whole text. */
  maxTokens: number;
  /** A UTF-8 text file instead of The Time Machine. */
  corpus?: string;
  seed: number;
  out: string;
  backend: BackendChoice;
  json: boolean;
  /** A checkpoint folder (or a run folder holding `checkpoint/`) to continue from. */
  resume?: string;
  /** Epochs between greedy continuations (and progress lines when not on a terminal). */
  printEvery: number;
  /** Epochs between checkpoints (one is always written at the end and on Ctrl-C). */
  checkpointEvery: number;
  /** Length of the continuations. */
  predictLength: number;
  /** Extra worker threads for data-parallel steps (0: this thread only). */
  workers: number;
}

/**
 * Everything besides the model, its config and vocabulary (which @rnnkit/training stores) needed
 * to continue a run exactly: the checkpoint's training record.
 */
export interface TrainCheckpointMeta {
  rnnkit: string;
  training: Pick<TrainCommandOptions, 'epochs' | 'lr' | 'optimizer' | 'batchSize' | 'numSteps' | 'randomIter' | 'maxTokens' | 'corpus'>;
  epoch: number;
  loaderState: RngState;
  history: EpochRecord[];
}

export interface EpochRecord {
  epoch: number;
  perplexity: number;
  tokensPerSecond: number;
  seconds: number;
}

export interface TrainSummary {
  backend: string;
  perplexity: number;
  tokensPerSecond: number;
  seconds: number;
  epochsDone: number;
  interrupted: boolean;
  continuations: string[];
  files: { metrics: string; plot: string; checkpoint: string };
}

export const PREFIXES = ['time traveller', 'traveller'];

/** The training record of a checkpoint `rnnkit train` wrote; a clear error for one it did not (a page's download). */
function trainingRecord(record: unknown, source: string): TrainCheckpointMeta {
  const r = record as Partial<TrainCheckpointMeta> | undefined;
  if (!r || typeof r.epoch !== 'number' || typeof r.training !== 'object' || !r.loaderState || !Array.isArray(r.history)) {
    throw new RnnkitError(`${source} holds no rnnkit train state, so it cannot be resumed (rnnkit generate reads it).`);
  }
  return r as TrainCheckpointMeta;
}

/** `rnnkit train`: d2l `train_ch8` with progress, files, checkpoints and resume. */
export async function runTrain(opts: TrainCommandOptions): Promise<TrainSummary> {
  const reporter = createReporter(outputMode(opts.json));
  const backend = await selectBackend(opts.backend); // before any tensor exists
  const loaded = opts.resume
    ? await loadRunCheckpoint(opts.resume, {
        optimizer: (record) => {
          const { training: saved } = trainingRecord(record, opts.resume as string);
          return makeOptimizer(saved.optimizer, saved.lr);
        },
      })
    : null;
  const resumed = loaded ? { ...loaded, metadata: trainingRecord(loaded.training, loaded.source) } : null;
  if (loaded && !loaded.optimizerRestored) {
    loaded.model.dispose();
    loaded.optimizer?.dispose();
    throw new RnnkitError(`${loaded.source} has no optimizer state beside it (optimizer.json), so the run cannot continue exactly; rnnkit generate reads it.`);
  }
  // A resumed run keeps the checkpoint's model and data settings; --epochs may extend it.
  const training: TrainCheckpointMeta['training'] = resumed
    ? { ...resumed.metadata.training, epochs: opts.epochs }
    : { epochs: opts.epochs, lr: opts.lr, optimizer: opts.optimizer, batchSize: opts.batchSize, numSteps: opts.numSteps, randomIter: opts.randomIter, maxTokens: opts.maxTokens, corpus: opts.corpus };
  reporter.info(`backend: ${backend}`);
  reporter.event('start', { backend, rnnkit: VERSION, tfjs: tf.version_core });

  const { loader, vocab } = await loadDataTimeMachine({
    batchSize: training.batchSize,
    numSteps: training.numSteps,
    useRandomIter: training.randomIter,
    maxTokens: training.maxTokens,
    seed: resumed ? resumed.config.seed : opts.seed,
    source: { path: training.corpus, localCopyHint: LOCAL_COPY_HINT },
  });
  if (resumed && !vocab.equals(resumed.vocab)) {
    throw new RnnkitError('The corpus gives a different vocabulary than the checkpoint: resume with the same text (--corpus) and --max-tokens.');
  }
  const config: LanguageModelConfig = resumed
    ? resumed.config
    : { cell: opts.model, implementation: opts.impl, numHiddens: opts.hidden, numLayers: opts.layers, bidirectional: opts.bidirectional, vocabSize: vocab.size, seed: opts.seed };
  const model = resumed ? resumed.model : createModelFromFlags(config);
  const optimizer = resumed?.optimizer ?? makeOptimizer(training.optimizer, training.lr);
  const history: EpochRecord[] = resumed ? [...resumed.metadata.history] : [];
  const startEpoch = resumed ? resumed.metadata.epoch : 0;
  if (resumed) {
    loader.setState(resumed.metadata.loaderState);
    reporter.info(`resuming ${resumed.source} at epoch ${startEpoch} of ${training.epochs}`);
  }
  if (startEpoch > training.epochs) throw new UsageError(`The checkpoint is at epoch ${startEpoch}; --epochs ${training.epochs} is fewer.`);

  const stepper =
    opts.workers > 0
      ? await DataParallelTrainer.create(model, { ...workerBackendSetup(backend), model: { config } }, { workers: opts.workers })
      : undefined;
  if (stepper) reporter.info(`data-parallel: each minibatch split over ${opts.workers + 1} threads`);
  const describe = `${config.implementation} ${config.cell.toUpperCase()} ${config.numHiddens}${config.numLayers > 1 ? ` x${config.numLayers}` : ''}${config.bidirectional ? ' bidirectional' : ''}`;
  reporter.info(
    `training ${describe} on ${training.corpus ?? 'The Time Machine'} (${training.maxTokens || 'all'} tokens, vocab ${vocab.size}), ` +
      `batch ${training.batchSize} x ${training.numSteps}, ${training.optimizer} lr ${training.lr}, ${training.epochs} epochs${training.randomIter ? ', random iteration' : ''}`,
  );
  await mkdir(opts.out, { recursive: true });
  const checkpointDir = join(opts.out, 'checkpoint');
  const save = async (epoch: number) => {
    const record: TrainCheckpointMeta = { rnnkit: VERSION, training, epoch, loaderState: loader.getState(), history };
    await saveRunCheckpoint(checkpointDir, { model, vocab, config, optimizer, training: record });
  };

  // First Ctrl-C: finish the epoch, save, stop. Second: quit at once without saving.
  const controller = new AbortController();
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    reporter.info('Interrupted: finishing this epoch, then saving a checkpoint (Ctrl-C again quits without saving).');
  };
  process.on('SIGINT', onSigint);
  const started = performance.now();
  reporter.startBar(training.epochs, startEpoch);
  let result: TrainResult;
  try {
    result = await trainLanguageModel(model, loader, {
      epochs: training.epochs,
      lr: training.lr,
      optimizer,
      theta: 1,
      useRandomIter: training.randomIter,
      startEpoch,
      stepper,
      signal: controller.signal,
      onEpochEnd: async ({ epoch, perplexity, tokensPerSecond, seconds }) => {
        history.push({ epoch, perplexity, tokensPerSecond, seconds });
        reporter.updateBar(epoch, { perplexity: perplexity.toFixed(2), speed: String(Math.round(tokensPerSecond)) });
        reporter.event('epoch', { epoch, epochs: training.epochs, perplexity, tokensPerSecond, seconds });
        if (epoch % opts.printEvery === 0 || epoch === training.epochs) {
          const sample = predict(model, vocab, PREFIXES[0]!, opts.predictLength).text;
          if (reporter.mode === 'lines') {
            const elapsed = (performance.now() - started) / 1000;
            const left = (elapsed / (epoch - startEpoch)) * (training.epochs - epoch);
            reporter.info(`epoch ${epoch}/${training.epochs}  perplexity ${perplexity.toFixed(2)}  ${Math.round(tokensPerSecond)} tokens/s  ~${left.toFixed(0)} s left  | ${sample}`);
          } else reporter.info(`epoch ${epoch}: ${sample}`);
          reporter.event('sample', { epoch, text: sample });
        }
        if (interrupted || epoch % opts.checkpointEvery === 0) await save(epoch);
        if (interrupted) controller.abort();
      },
    });
  } finally {
    reporter.stopBar();
    process.off('SIGINT', onSigint);
    await stepper?.dispose();
  }
  const seconds = (performance.now() - started) / 1000;
  const epochsDone = result.epochsDone;
  if (!interrupted) await save(epochsDone);
  const continuations = PREFIXES.map((p) => predict(model, vocab, p, opts.predictLength).text);
  const metricsPath = join(opts.out, 'metrics.json');
  const plotPath = join(opts.out, 'perplexity.svg');
  const tokens = history.reduce((a, h) => a + h.tokensPerSecond * h.seconds, 0);
  const totalSeconds = history.reduce((a, h) => a + h.seconds, 0);
  const finalPerplexity = history.at(-1)?.perplexity ?? Number.NaN;
  const metrics = {
    config,
    training: { ...training, theta: 1 },
    backend,
    versions: { rnnkit: VERSION, tfjs: tf.version_core, node: process.version },
    epochsDone,
    interrupted,
    perplexity: finalPerplexity,
    tokensPerSecond: totalSeconds > 0 ? tokens / totalSeconds : 0,
    wallSeconds: seconds,
    continuations,
    history,
  };
  await writeFileAtomic(metricsPath, `${JSON.stringify(metrics, null, 2)}\n`);
  await writeFileAtomic(plotPath, await renderSvg(perplexitySpec(history, `${describe}: perplexity`)));
  model.dispose();
  optimizer.dispose();

  const summary: TrainSummary = {
    backend,
    perplexity: finalPerplexity,
    tokensPerSecond: metrics.tokensPerSecond,
    seconds,
    epochsDone,
    interrupted,
    continuations,
    files: { metrics: metricsPath, plot: plotPath, checkpoint: checkpointDir },
  };
  if (interrupted) reporter.info(`Stopped at epoch ${epochsDone}; checkpoint saved. Continue with: rnnkit train --resume ${checkpointDir} --out ${opts.out}`);
  reporter.info(`perplexity ${finalPerplexity.toFixed(2)}, ${Math.round(metrics.tokensPerSecond)} tokens/s on ${backend}, ${seconds.toFixed(1)} s`);
  for (const c of continuations) reporter.info(c);
  reporter.info(`files: ${metricsPath}, ${plotPath}, ${checkpointDir}/`);
  reporter.event('done', { ...summary });
  return summary;
}
