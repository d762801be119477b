import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FileWriteError, corpusPrefix, describeEncoding } from '@rnnkit/data';
import { makeOptimizer, predict, trainLanguageModel, type BestEpoch, type LearningRateSchedule, type TrainResult } from '@rnnkit/training';
import { DataParallelTrainer } from '@rnnkit/training/parallel';
import { selectBackend, workerBackendSetup } from '../backend.js';
import { loadRunCheckpoint, saveRunCheckpoint, takeRunFolder } from '../checkpoint.js';
import { DIVERGENCE_FACTOR, uniformCrossEntropy } from '../divergence.js';
import { RnnkitError } from '../errors.js';
import { createModelFromFlags, type LanguageModelConfig } from '../lm.js';
import { checkTrainingFits } from '../memory.js';
import { createReporter, outputMode, versions, kernelsInfo, kernelsSummary, reportStepPath, type Reporter } from '../progress.js';
import { displayPath } from '../invocation.js';
import { VERSION } from '../version.js';
import type { EpochRecord, TrainCheckpointMeta, TrainCommandOptions, TrainSettings } from './train/options.js';
import { loadRunData, type RunData } from './train/data.js';
import { loadForResume, resumeCommand, resumeCorpus, resumedOut, runSettings, type Resumed } from './train/resume.js';
import { checkWritable, removeIfEmpty, writeRunFiles } from './train/run-folder.js';
import { stopOnSignals, type StopSignal } from './train/signals.js';

export type { EpochRecord, TrainCheckpointMeta, TrainCommandOptions } from './train/options.js';

export interface TrainSummary {
  backend: string;
  perplexity: number;
  tokensPerSecond: number;
  seconds: number;
  epochsDone: number;
  interrupted: boolean;
  /** The signal that interrupted the run (Ctrl-C is SIGINT). */
  signal?: StopSignal;
  /** With validation: the best epoch. */
  best?: BestEpoch;
  /** Whether --patience ended the run. */
  earlyStopped: boolean;
  continuations: string[];
  files: { metrics: string; plot: string; checkpoint: string; bestCheckpoint?: string };
}

/** How far a run got: whether training started, the folders it created for --out, and the run folder's lock once taken. */
interface TrainProgress {
  started: boolean;
  createdFolders: string[];
  lock?: Awaited<ReturnType<typeof takeRunFolder>>;
}

export const PREFIXES = ['time traveller', 'traveller'];

/** `rnnkit train`: d2l `train_ch8` with progress, files, checkpoints and resume. */
export async function runTrain(opts: TrainCommandOptions): Promise<TrainSummary> {
  const reporter = createReporter(outputMode(opts.json));
  const given = new Set<string>(opts.given ?? Object.keys(opts));
  const backend = await selectBackend(opts.backend); // before any tensor exists
  reporter.event('start', { command: 'train', backend, versions: versions(), kernels: kernelsInfo() });
  const progress: TrainProgress = { started: false, createdFolders: [] };
  // A run being resumed is taken before its checkpoint is read: another live run there is named, not half-read.
  if (opts.resume !== undefined) {
    const runDir = resumedOut(opts, opts.resume);
    if (existsSync(runDir)) progress.lock = await takeRunFolder(runDir);
  }
  let resumed: Resumed | null;
  try {
    resumed = opts.resume !== undefined ? await loadForResume(opts.resume, opts.allowUnverified === true) : null;
  } catch (err) {
    await progress.lock?.release();
    throw err;
  }
  try {
    return await trainLoaded(opts, reporter, given, backend, resumed, progress);
  } catch (err) {
    // An error before training started: free what the checkpoint loaded (training disposes it itself).
    if (resumed && !progress.started) {
      resumed.model.dispose();
      resumed.optimizer?.dispose();
    }
    // Nor leave behind an empty run folder of a run that never started (its lock file gone first).
    if (!progress.started) {
      await progress.lock?.release();
      progress.lock = undefined;
      await removeIfEmpty(progress.createdFolders);
    }
    throw err;
  } finally {
    await progress.lock?.release();
  }
}

async function trainLoaded(
  opts: TrainCommandOptions,
  reporter: Reporter,
  given: Set<string>,
  backend: string,
  resumed: Resumed | null,
  progress: TrainProgress,
): Promise<TrainSummary> {
  const settings = runSettings(opts, given, resumed);
  const { training, out } = settings;
  progress.createdFolders = await checkWritable(out);
  // One writer per run folder: another live run there (even with --force) is refused, naming it.
  // A resumed run whose folder existed holds it already: runTrain took `resumedOut` before reading the checkpoint.
  progress.lock ??= await takeRunFolder(out);
  // A resumed run reads the very text it trained on (checked by SHA-256), wherever it runs from.
  const resumedCorpus = resumed ? await resumeCorpus(resumed, given.has('corpus') ? opts.corpus : undefined) : null;
  const corpusPath = resumedCorpus ? resumedCorpus.path : training.corpus;

  const data = await loadRunData(training, resumed, resumed ? resumed.config.seed : opts.seed, corpusPath);
  const { loader, vocab, corpus, keptFraction, validation, encoding, fileIdentity: read } = data;
  // The identity recorded is that of the bytes trained on (one read): a file edited meanwhile cannot slip in.
  if (resumedCorpus?.identity && read && read.sha256 !== resumedCorpus.identity.sha256)
    throw new RnnkitError(
      `${resumedCorpus.identity.path} changed while the run started (SHA-256 ${read.sha256} now, ${resumedCorpus.identity.sha256} when checked): run the command again.`,
    );
  const corpusFile = resumedCorpus ? resumedCorpus.identity : corpusPath !== undefined && read ? { path: resolve(corpusPath), ...read } : undefined;
  const config: LanguageModelConfig = resumed
    ? resumed.config
    : {
        cell: opts.model,
        implementation: opts.impl,
        numHiddens: opts.hidden,
        numLayers: opts.layers,
        bidirectional: opts.bidirectional,
        vocabSize: vocab.size,
        seed: opts.seed,
        text: encoding,
      };
  checkTrainingFits(config, training.batchSize, training.numSteps, backend);
  reporter.note(`backend: ${backend} (${kernelsSummary()})`, { json: false });
  if (keptFraction < 0.5) {
    const what = training.preprocess === 'letters' ? 'every Unicode letter, lower-cased' : "d2l's a-z, lower-cased";
    reporter.note(
      `warning: preprocessing (${what}) kept only ${Math.round(keptFraction * 100)}% of the text's characters${training.preprocess === 'raw' ? '' : `; for other alphabets use --preprocess ${training.preprocess === 'letters' ? 'raw' : 'letters (or raw)'}`}.`,
    );
  }
  const schedule = training.lrSchedule ?? { kind: 'constant' };
  const model = resumed ? resumed.model : createModelFromFlags(config);
  const optimizer = resumed?.optimizer ?? makeOptimizer(training.optimizer, training.lr);
  const history: EpochRecord[] = resumed ? [...resumed.metadata.history] : [];
  const startEpoch = resumed ? resumed.metadata.epoch : 0;
  if (resumed) {
    loader.setState(resumed.metadata.loaderState);
    reporter.info(`resuming ${resumed.source} at epoch ${startEpoch} of ${training.epochs}`);
    const before = resumed.metadata.workers ?? 0;
    if (before !== opts.workers)
      reporter.note(
        `note: the run so far trained with --workers ${before}, this part with --workers ${opts.workers}: each minibatch's gradients are summed in another order, so the weights differ from a run that kept --workers ${before} by float rounding (give --workers ${before} to continue it exactly).`,
      );
  }

  const stepper =
    opts.workers > 0 ? await DataParallelTrainer.create(model, { ...workerBackendSetup(backend), model: { config } }, { workers: opts.workers }) : undefined;
  if (stepper) reporter.info(`data-parallel: each minibatch split over ${opts.workers + 1} threads`);
  const describe = `${config.implementation} ${config.cell.toUpperCase()} ${config.numHiddens}${config.numLayers > 1 ? ` x${config.numLayers}` : ''}${config.bidirectional ? ' bidirectional' : ''}`;
  const unit = encoding.tokens === 'word' ? 'words' : 'characters';
  const count = (n: number) => n.toLocaleString('en-US');
  const used = corpus.length < data.totalTokens ? `${count(corpus.length)} of ${count(data.totalTokens)} ${unit}` : `all ${count(corpus.length)} ${unit}`;
  const held = validation ? `; validation: the last ${count(validation.corpus.length)}` : '';
  reporter.info(
    `training ${describe} on ${training.corpus ?? 'The Time Machine'} (${used}, vocab ${count(vocab.size)}${held}), ` +
      `batch ${training.batchSize} x ${training.numSteps}, ${training.optimizer} lr ${training.lr}${describeSchedule(schedule)}, ${training.epochs} epochs${training.randomIter ? ', random iteration' : ''}`,
  );
  if (encoding.preprocess !== 'd2l' || encoding.tokens !== 'char') reporter.info(`text: ${describeEncoding(encoding)}`);
  const prefixes = samplePrefixes(opts, training, data);
  if (opts.prefix !== undefined || training.corpus !== undefined) training.prefix = prefixes[0];
  if (!opts.prefix && training.corpus !== undefined && !resumed) {
    reporter.info(`samples continue ${JSON.stringify(prefixes[0])}, the corpus' first words (choose another with --prefix)`);
  }
  const checkpointDir = join(out, 'checkpoint');
  const bestDir = join(out, 'checkpoint-best');
  let savedEpoch: number | null = resumed ? resumed.metadata.epoch : null;
  let best: BestEpoch | undefined = resumed?.metadata.best;
  const save = async (epoch: number, dir = checkpointDir) => {
    const record: TrainCheckpointMeta = {
      rnnkit: VERSION,
      training,
      ...(corpusFile ? { corpusFile } : {}),
      epoch,
      loaderState: loader.getState(),
      history,
      ...(best ? { best } : {}),
      ...(opts.workers > 0 ? { workers: opts.workers } : {}),
    };
    await saveRunCheckpoint(dir, { model, vocab, config, optimizer, training: record });
    if (dir === checkpointDir) savedEpoch = epoch;
  };
  const sample = (prefix: string, m = model) => predict(m, vocab, prefix, opts.predictLength, { text: encoding }).text;

  const controller = new AbortController();
  const stop = stopOnSignals(reporter);
  let diverged: { epoch: number; perplexity: number } | null = null;
  progress.started = true;
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
      // Aborted only from onEpochEnd: there is no epoch part to undo, so no copies are kept.
      undoStoppedEpoch: false,
      onPath: reportStepPath(reporter),
      validation: validation?.batches,
      patience: training.patience,
      best,
      restoreBest: false, // the best epoch is on disk (checkpoint-best/), read back at the end
      lrSchedule: schedule,
      onEpochEnd: async (info) => {
        const { epoch, perplexity, tokensPerSecond, seconds, validationPerplexity } = info;
        const exploded = !Number.isFinite(perplexity) || Math.log(perplexity) > DIVERGENCE_FACTOR * uniformCrossEntropy(vocab.size);
        if (exploded || (validationPerplexity !== undefined && !Number.isFinite(validationPerplexity))) {
          // The weights are NaN or Infinity now, or the loss exploded: keep the last checkpoint and stop.
          diverged = { epoch, perplexity: exploded ? perplexity : (validationPerplexity as number) };
          controller.abort();
          return;
        }
        const lr = schedule.kind === 'constant' ? undefined : info.lr;
        history.push({
          epoch,
          perplexity,
          tokensPerSecond,
          seconds,
          ...(validationPerplexity === undefined ? {} : { validationPerplexity }),
          ...(lr === undefined ? {} : { lr }),
        });
        const improved = info.best !== undefined && info.best.epoch === epoch;
        best = info.best;
        const shown = validationPerplexity === undefined ? perplexity.toFixed(2) : `${perplexity.toFixed(2)}, validation ${validationPerplexity.toFixed(2)}`;
        reporter.updateBar(epoch, { perplexity: shown, speed: String(Math.round(tokensPerSecond)) });
        reporter.event('epoch', {
          epoch,
          epochs: training.epochs,
          perplexity,
          ...(validationPerplexity === undefined ? {} : { validationPerplexity, best: info.best }),
          ...(lr === undefined ? {} : { lr }),
          tokensPerSecond,
          seconds,
        });
        if (epoch % opts.printEvery === 0 || epoch === training.epochs || info.earlyStop) {
          const text = sample(prefixes[0] as string);
          if (reporter.mode === 'lines') {
            const elapsed = (performance.now() - started) / 1000;
            const left = (elapsed / (epoch - startEpoch)) * (training.epochs - epoch);
            const valid = validationPerplexity === undefined ? '' : `  validation ${validationPerplexity.toFixed(2)}${improved ? ' (best)' : ''}`;
            const rate = lr === undefined ? '' : `  lr ${Number(lr.toPrecision(4))}`;
            reporter.info(
              `epoch ${epoch}/${training.epochs}  perplexity ${perplexity.toFixed(2)}${valid}${rate}  ${Math.round(tokensPerSecond)} tokens/s  ~${left.toFixed(0)} s left  | ${oneLine(text)}`,
            );
          } else reporter.info(`epoch ${epoch}: ${oneLine(text)}`);
          reporter.event('sample', { epoch, text });
        }
        if (improved) await save(epoch, bestDir);
        if (stop.signal || epoch % opts.checkpointEvery === 0 || info.earlyStop) await save(epoch);
        if (info.earlyStop) {
          const b = info.best as BestEpoch;
          reporter.info(
            `early stop at epoch ${epoch}: validation perplexity has not improved for ${training.patience} epochs since epoch ${b.epoch} (${b.validationPerplexity.toFixed(2)})`,
          );
        }
        if (stop.signal) controller.abort();
      },
    });
  } finally {
    reporter.stopBar();
    stop.release();
    await stepper?.dispose();
  }
  const seconds = (performance.now() - started) / 1000;
  const signal = stop.signal;
  const epochsDone = diverged ? (history.at(-1)?.epoch ?? startEpoch) : result.epochsDone;
  const interrupted = signal !== undefined;
  if (!interrupted && !diverged && savedEpoch !== epochsDone) await save(epochsDone);
  // Early stopping ends on the best epoch's weights: read back from checkpoint-best/.
  const bestModel = result.earlyStopped && !diverged ? (await loadRunCheckpoint(bestDir)).model : null;
  const continuations = diverged ? [] : prefixes.map((p) => sample(p, bestModel ?? model));
  bestModel?.dispose();
  const tokens = history.reduce((a, h) => a + h.tokensPerSecond * h.seconds, 0);
  const totalSeconds = history.reduce((a, h) => a + h.seconds, 0);
  const finalPerplexity = history.at(-1)?.perplexity ?? 0;
  const metrics = {
    config,
    training: { ...training, theta: 1 },
    backend,
    versions: versions(),
    epochsDone,
    interrupted,
    // Where training diverged, and the epoch of the checkpoint kept (absent when none was written).
    ...(diverged ? { diverged: { epoch: (diverged as { epoch: number }).epoch, ...(savedEpoch === null ? {} : { checkpointEpoch: savedEpoch }) } } : {}),
    perplexity: finalPerplexity,
    ...(best ? { best, bestCheckpoint: bestDir } : {}),
    ...(result.earlyStopped ? { earlyStopped: { epoch: epochsDone } } : {}),
    text: encoding,
    tokens: { used: corpus.length, total: data.totalTokens, ...(validation ? { validation: validation.corpus.length } : {}) },
    tokensPerSecond: totalSeconds > 0 ? tokens / totalSeconds : 0,
    wallSeconds: seconds,
    prefixes,
    continuations,
    history,
  };
  let written: { metrics: string; plot: string };
  try {
    written = await writeRunFiles(out, metrics, `${describe}: perplexity`);
  } catch (err) {
    model.dispose();
    optimizer.dispose();
    if (!(err instanceof FileWriteError)) throw err;
    // The checkpoint was written before the metrics: say which one is intact.
    throw new RnnkitError(
      `${err.message} ${savedEpoch === null ? 'No checkpoint was written.' : `The checkpoint of epoch ${savedEpoch} in ${checkpointDir} is intact.`}`,
    );
  }
  const { metrics: metricsPath, plot: plotPath } = written;
  model.dispose();
  optimizer.dispose();
  if (diverged) {
    const d = diverged as { epoch: number; perplexity: number };
    throw new RnnkitError(
      `Training diverged: the perplexity became ${d.perplexity} at epoch ${d.epoch} (--lr ${training.lr} is probably too high). Stopped; ` +
        (savedEpoch === null
          ? `no checkpoint was written yet (every --checkpoint-every ${opts.checkpointEvery} epochs).`
          : `the last good checkpoint (epoch ${savedEpoch}) is kept in ${checkpointDir}.`),
    );
  }

  const summary: TrainSummary = {
    backend,
    perplexity: finalPerplexity,
    tokensPerSecond: metrics.tokensPerSecond,
    seconds,
    epochsDone,
    interrupted,
    ...(signal ? { signal } : {}),
    ...(best ? { best } : {}),
    earlyStopped: result.earlyStopped,
    continuations,
    files: { metrics: metricsPath, plot: plotPath, checkpoint: checkpointDir, ...(best ? { bestCheckpoint: bestDir } : {}) },
  };
  if (interrupted) reporter.info(`Stopped at epoch ${epochsDone} of ${training.epochs}; checkpoint saved. Continue with: ${resumeCommand(opts, settings)}`);
  const validated = best ? `; best validation perplexity ${best.validationPerplexity.toFixed(2)} at epoch ${best.epoch}` : '';
  reporter.info(`perplexity ${finalPerplexity.toFixed(2)}${validated}, ${Math.round(metrics.tokensPerSecond)} tokens/s on ${backend}, ${seconds.toFixed(1)} s`);
  if (bestModel) reporter.info(`the continuations below are the best epoch's (${best?.epoch}), read back from ${bestDir}/`);
  for (const c of continuations) reporter.info(c);
  reporter.info(`files: ${displayPath(metricsPath)}, ${displayPath(plotPath)}, ${displayPath(checkpointDir)}/${best ? `, ${displayPath(bestDir)}/` : ''}`);
  reporter.event('done', { ...summary });
  return summary;
}

/** A sample on one progress line: its line breaks shown as ↵. */
const oneLine = (text: string): string => text.replace(/\r?\n/g, '↵');

/** ", cosine to 0.01 over 500 epochs": the learning-rate schedule for the header ('' when constant). */
function describeSchedule(s: LearningRateSchedule): string {
  if (s.kind === 'step') return `, x${s.gamma} every ${s.stepSize} epochs`;
  if (s.kind === 'cosine') return `, cosine to ${s.minLr} over ${s.epochs} epochs`;
  return '';
}

/**
 * What the sample lines continue: --prefix; else a resumed run's own; else d2l's two prefixes on
 * The Time Machine, and the first words of anything else.
 */
function samplePrefixes(opts: TrainCommandOptions, training: TrainSettings, data: RunData): string[] {
  if (opts.prefix !== undefined) return [opts.prefix];
  if (training.prefix !== undefined) return [training.prefix];
  if (training.corpus === undefined) return PREFIXES;
  return [corpusPrefix(data.corpus, data.vocab, data.encoding)];
}
