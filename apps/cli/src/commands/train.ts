import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { loadDataTimeMachine, writeFileAtomic, type Preprocessing, type RngState } from '@rnnkit/data';
import { makeOptimizer, predict, trainLanguageModel, type TrainResult } from '@rnnkit/training';
import { DataParallelTrainer } from '@rnnkit/training/parallel';
import type { CellKind } from '@rnnkit/models';
import { selectBackend, workerBackendSetup, type BackendChoice } from '../backend.js';
import { loadRunCheckpoint, saveRunCheckpoint } from '../checkpoint.js';
import { LOCAL_COPY_HINT, RnnkitError, UsageError } from '../errors.js';
import { createModelFromFlags, type LanguageModelConfig, type LanguageModelImplementation } from '../lm.js';
import { formatBytes, largestHidden, parameterCount, trainingBytes } from '../memory.js';
import { perplexitySpec, renderSvg } from '../plot.js';
import { createReporter, outputMode, versions, kernelsInfo, kernelsSummary } from '../progress.js';
import { VERSION } from '../version.js';

export interface TrainCommandOptions {
  model: CellKind;
  impl: LanguageModelImplementation;
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
  /** What preprocessing keeps of the text: d2l's a-z lower-cased (default), every Unicode letter, or every character. */
  preprocess?: Preprocessing;
  seed: number;
  /** Output folder. Default: `runs/train`, or `runs/train-2`, `-3`... when taken; a resumed run's own folder. */
  out?: string;
  /** Replace a run already in `out`. */
  force?: boolean;
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
  /**
   * The options set on the command line; the others are defaults. A resumed run keeps its
   * checkpoint's settings: given ones that differ are an error, and `epochs` only counts when
   * given. Default: every option counts as given.
   */
  given?: readonly string[];
}

/**
 * Everything besides the model, its config and vocabulary (which @rnnkit/training stores) needed
 * to continue a run exactly: the checkpoint's training record.
 */
export interface TrainCheckpointMeta {
  rnnkit: string;
  training: Pick<TrainCommandOptions, 'epochs' | 'lr' | 'optimizer' | 'batchSize' | 'numSteps' | 'randomIter' | 'maxTokens' | 'corpus' | 'preprocess'>;
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
  /** The signal that interrupted the run (Ctrl-C is SIGINT). */
  signal?: 'SIGINT' | 'SIGTERM';
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

/** The run folder of a --resume path: a run folder, its checkpoint/ folder, or a model.json in it. */
function runFolderOf(path: string): string {
  let p = path.replace(/[\\/]+$/, '');
  if (p.endsWith('.json')) p = dirname(p);
  return basename(p) === 'checkpoint' ? dirname(p) : p;
}

/** Options a resumed run takes from its checkpoint, with their flags. */
const FROM_CHECKPOINT = {
  model: '--model',
  impl: '--impl',
  hidden: '--hidden',
  layers: '--layers',
  bidirectional: '--bidirectional',
  seed: '--seed',
  lr: '--lr',
  optimizer: '--optimizer',
  batchSize: '--batch-size',
  numSteps: '--num-steps',
  randomIter: '--random-iter',
  maxTokens: '--max-tokens',
  corpus: '--corpus',
  preprocess: '--preprocess',
} as const satisfies Partial<Record<keyof TrainCommandOptions, string>>;

/** A folder holds a run when it has a checkpoint or metrics. */
const holdsRun = (dir: string): boolean => existsSync(join(dir, 'metrics.json')) || existsSync(join(dir, 'checkpoint', 'model.json'));

/** `runs/train`, or the first of `runs/train-2`, `runs/train-3`, ... that holds no run. */
function freshRunFolder(base = join('runs', 'train')): string {
  if (!holdsRun(base)) return base;
  for (let i = 2; ; i++) if (!holdsRun(`${base}-${i}`)) return `${base}-${i}`;
}

/** Creates `dir` and writes a probe file in it, so a bad --out fails before training, not at the first save. */
async function checkWritable(dir: string): Promise<void> {
  try {
    // One level at a time: Node's recursive mkdir loops forever under /proc.
    const missing: string[] = [];
    for (let d = resolve(dir); !existsSync(d) && dirname(d) !== d; d = dirname(d)) missing.unshift(d);
    for (const d of missing) await mkdir(d);
    const probe = join(dir, `.rnnkit-write-check-${process.pid}`);
    await writeFile(probe, '');
    await rm(probe);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'EEXIST' || code === 'ENOTDIR'
        ? `${existsSync(dir) ? dir : 'part of it'} is a file, not a folder`
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : code === 'EROFS'
            ? 'the file system is read-only'
            : `it cannot be created (${code ?? (err as Error).message})`;
    throw new RnnkitError(`Cannot write to --out ${dir}: ${why}. Choose another --out.`);
  }
}

/** The shell word for a value (quoted when needed). */
const shellWord = (v: string): string => (/^[\w@%+=:,./-]+$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`);

/** `rnnkit train`: d2l `train_ch8` with progress, files, checkpoints and resume. */
export async function runTrain(opts: TrainCommandOptions): Promise<TrainSummary> {
  const reporter = createReporter(outputMode(opts.json));
  const given = new Set<string>(opts.given ?? Object.keys(opts));
  const backend = await selectBackend(opts.backend); // before any tensor exists
  reporter.event('start', { command: 'train', backend, versions: versions(), kernels: kernelsInfo() });
  const loaded =
    opts.resume !== undefined
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
  const progress = { started: false };
  try {
    return await trainLoaded(opts, reporter, given, backend, resumed, progress);
  } catch (err) {
    // An error before training started: free what the checkpoint loaded (training disposes it itself).
    if (resumed && !progress.started) {
      resumed.model.dispose();
      resumed.optimizer?.dispose();
    }
    throw err;
  }
}

type Resumed = Awaited<ReturnType<typeof loadRunCheckpoint>> & { metadata: TrainCheckpointMeta };

async function trainLoaded(
  opts: TrainCommandOptions,
  reporter: ReturnType<typeof createReporter>,
  given: Set<string>,
  backend: string,
  resumed: Resumed | null,
  progress: { started: boolean },
): Promise<TrainSummary> {
  let training: TrainCheckpointMeta['training'];
  let out: string;
  if (resumed) {
    const saved = resumed.metadata;
    const savedTraining = { preprocess: 'd2l' as Preprocessing, ...saved.training };
    const fixed: Record<keyof typeof FROM_CHECKPOINT, unknown> = {
      ...{
        model: resumed.config.cell,
        impl: resumed.config.implementation,
        hidden: resumed.config.numHiddens,
        layers: resumed.config.numLayers,
        bidirectional: resumed.config.bidirectional,
        seed: resumed.config.seed,
      },
      ...{
        lr: savedTraining.lr,
        optimizer: savedTraining.optimizer,
        batchSize: savedTraining.batchSize,
        numSteps: savedTraining.numSteps,
        randomIter: savedTraining.randomIter,
      },
      ...{ maxTokens: savedTraining.maxTokens, corpus: savedTraining.corpus, preprocess: savedTraining.preprocess },
    };
    const same = (key: string, a: unknown, b: unknown) =>
      key === 'corpus' && typeof a === 'string' && typeof b === 'string' ? resolve(a) === resolve(b) : a === b;
    const conflicts = Object.entries(FROM_CHECKPOINT)
      .filter(([key]) => given.has(key) && !same(key, opts[key as keyof TrainCommandOptions], fixed[key as keyof typeof FROM_CHECKPOINT]))
      .map(
        ([key, flag]) =>
          `${flag} ${String(opts[key as keyof TrainCommandOptions] ?? '(none)')} (the checkpoint has ${String(fixed[key as keyof typeof FROM_CHECKPOINT] ?? 'none')})`,
      );
    if (conflicts.length) {
      throw new UsageError(
        `--resume continues ${resumed.source} with its own settings, and these differ: ${conflicts.join(', ')}. Leave them out, or start a new run in another --out.`,
      );
    }
    training = { ...savedTraining, epochs: given.has('epochs') ? opts.epochs : savedTraining.epochs };
    if (saved.epoch > training.epochs)
      throw new UsageError(`The checkpoint in ${resumed.source} is at epoch ${saved.epoch}; --epochs ${training.epochs} is fewer.`);
    if (saved.epoch === training.epochs)
      throw new UsageError(
        `The run in ${resumed.source} is complete (epoch ${saved.epoch} of ${training.epochs}): give a larger --epochs to train it further.`,
      );
    // A resumed run writes into its own run folder unless --out says otherwise.
    const runDir = runFolderOf(opts.resume ?? resumed.source);
    out = opts.out ?? runDir;
    if (resolve(out) !== resolve(runDir) && holdsRun(out) && !opts.force) {
      throw new UsageError(
        `--out ${out} already holds another run: resume into ${runDir} (leave --out out), replace ${out} with --force, or choose another --out.`,
      );
    }
  } else {
    training = {
      epochs: opts.epochs,
      lr: opts.lr,
      optimizer: opts.optimizer,
      batchSize: opts.batchSize,
      numSteps: opts.numSteps,
      randomIter: opts.randomIter,
      maxTokens: opts.maxTokens,
      corpus: opts.corpus,
      preprocess: opts.preprocess ?? 'd2l',
    };
    out = opts.out ?? freshRunFolder();
    if (holdsRun(out) && !opts.force) {
      throw new UsageError(`--out ${out} already holds a run: continue it with --resume ${out}, replace it with --force, or choose another --out.`);
    }
  }
  await checkWritable(out);

  const { loader, vocab, corpus, keptFraction } = await loadDataTimeMachine({
    batchSize: training.batchSize,
    numSteps: training.numSteps,
    useRandomIter: training.randomIter,
    maxTokens: training.maxTokens,
    preprocess: training.preprocess,
    seed: resumed ? resumed.config.seed : opts.seed,
    source: { path: training.corpus, localCopyHint: LOCAL_COPY_HINT },
  });
  if (resumed && !vocab.equals(resumed.vocab)) {
    throw new RnnkitError('The corpus gives a different vocabulary than the checkpoint: resume with the same text (--corpus) and --max-tokens.');
  }
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
      };
  const memoryLimit = Math.min(totalmem() * 0.75, backend === 'wasm' ? 4 * 2 ** 30 : Infinity);
  const needed = trainingBytes(config, training.batchSize, training.numSteps);
  if (needed > memoryLimit) {
    const most = largestHidden(config, training.batchSize, training.numSteps, memoryLimit);
    throw new UsageError(
      `--hidden ${config.numHiddens} needs about ${formatBytes(needed)} to train (${parameterCount(config).toLocaleString('en')} weights, their gradients, optimizer state and activations); ` +
        `${backend === 'wasm' ? 'the wasm backend has at most 4 GiB' : `this machine has ${formatBytes(totalmem())}`}: use --hidden ${most} or less.`,
    );
  }
  reporter.note(`backend: ${backend} (${kernelsSummary()})`, { json: false });
  if (keptFraction < 0.5) {
    const what = training.preprocess === 'letters' ? 'every Unicode letter, lower-cased' : "d2l's a-z, lower-cased";
    reporter.note(
      `warning: preprocessing (${what}) kept only ${Math.round(keptFraction * 100)}% of the text's characters${training.preprocess === 'raw' ? '' : `; for other alphabets use --preprocess ${training.preprocess === 'letters' ? 'raw' : 'letters (or raw)'}`}.`,
    );
  }
  const model = resumed ? resumed.model : createModelFromFlags(config);
  const optimizer = resumed?.optimizer ?? makeOptimizer(training.optimizer, training.lr);
  const history: EpochRecord[] = resumed ? [...resumed.metadata.history] : [];
  const startEpoch = resumed ? resumed.metadata.epoch : 0;
  if (resumed) {
    loader.setState(resumed.metadata.loaderState);
    reporter.info(`resuming ${resumed.source} at epoch ${startEpoch} of ${training.epochs}`);
  }

  const stepper =
    opts.workers > 0 ? await DataParallelTrainer.create(model, { ...workerBackendSetup(backend), model: { config } }, { workers: opts.workers }) : undefined;
  if (stepper) reporter.info(`data-parallel: each minibatch split over ${opts.workers + 1} threads`);
  const describe = `${config.implementation} ${config.cell.toUpperCase()} ${config.numHiddens}${config.numLayers > 1 ? ` x${config.numLayers}` : ''}${config.bidirectional ? ' bidirectional' : ''}`;
  reporter.info(
    `training ${describe} on ${training.corpus ?? 'The Time Machine'} (${corpus.length} tokens, vocab ${vocab.size}), ` +
      `batch ${training.batchSize} x ${training.numSteps}, ${training.optimizer} lr ${training.lr}, ${training.epochs} epochs${training.randomIter ? ', random iteration' : ''}`,
  );
  const checkpointDir = join(out, 'checkpoint');
  let savedEpoch: number | null = resumed ? resumed.metadata.epoch : null;
  const save = async (epoch: number) => {
    const record: TrainCheckpointMeta = { rnnkit: VERSION, training, epoch, loaderState: loader.getState(), history };
    await saveRunCheckpoint(checkpointDir, { model, vocab, config, optimizer, training: record });
    savedEpoch = epoch;
  };

  // First Ctrl-C (SIGINT) or SIGTERM: finish the epoch, save, stop (exit 130 or 143). A second: quit at once without saving.
  const controller = new AbortController();
  let signal: 'SIGINT' | 'SIGTERM' | undefined;
  const onSignal = (name: 'SIGINT' | 'SIGTERM') => {
    if (signal) process.exit(name === 'SIGTERM' ? 143 : 130);
    signal = name;
    reporter.note(
      `Interrupted (${name}): finishing this epoch, then saving a checkpoint (${name === 'SIGINT' ? 'Ctrl-C' : 'a second signal'} again quits without saving).`,
    );
  };
  const onSigint = () => onSignal('SIGINT');
  const onSigterm = () => onSignal('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
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
      onEpochEnd: async ({ epoch, perplexity, tokensPerSecond, seconds }) => {
        if (!Number.isFinite(perplexity)) {
          // The weights are NaN or Infinity now: keep the last checkpoint and stop.
          diverged = { epoch, perplexity };
          controller.abort();
          return;
        }
        history.push({ epoch, perplexity, tokensPerSecond, seconds });
        reporter.updateBar(epoch, { perplexity: perplexity.toFixed(2), speed: String(Math.round(tokensPerSecond)) });
        reporter.event('epoch', { epoch, epochs: training.epochs, perplexity, tokensPerSecond, seconds });
        if (epoch % opts.printEvery === 0 || epoch === training.epochs) {
          const sample = predict(model, vocab, PREFIXES[0]!, opts.predictLength).text;
          if (reporter.mode === 'lines') {
            const elapsed = (performance.now() - started) / 1000;
            const left = (elapsed / (epoch - startEpoch)) * (training.epochs - epoch);
            reporter.info(
              `epoch ${epoch}/${training.epochs}  perplexity ${perplexity.toFixed(2)}  ${Math.round(tokensPerSecond)} tokens/s  ~${left.toFixed(0)} s left  | ${sample}`,
            );
          } else reporter.info(`epoch ${epoch}: ${sample}`);
          reporter.event('sample', { epoch, text: sample });
        }
        if (signal || epoch % opts.checkpointEvery === 0) await save(epoch);
        if (signal) controller.abort();
      },
    });
  } finally {
    reporter.stopBar();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    await stepper?.dispose();
  }
  const seconds = (performance.now() - started) / 1000;
  const epochsDone = diverged ? (history.at(-1)?.epoch ?? startEpoch) : result.epochsDone;
  const interrupted = signal !== undefined;
  if (!interrupted && !diverged) await save(epochsDone);
  const continuations = diverged ? [] : PREFIXES.map((p) => predict(model, vocab, p, opts.predictLength).text);
  const metricsPath = join(out, 'metrics.json');
  const plotPath = join(out, 'perplexity.svg');
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
    tokensPerSecond: totalSeconds > 0 ? tokens / totalSeconds : 0,
    wallSeconds: seconds,
    continuations,
    history,
  };
  await writeFileAtomic(metricsPath, `${JSON.stringify(metrics, null, 2)}\n`);
  await writeFileAtomic(plotPath, await renderSvg(perplexitySpec(history, `${describe}: perplexity`)));
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
    continuations,
    files: { metrics: metricsPath, plot: plotPath, checkpoint: checkpointDir },
  };
  if (interrupted) {
    const runOptions = [
      `--epochs ${training.epochs}`,
      ...(opts.printEvery !== 10 ? [`--print-every ${opts.printEvery}`] : []),
      ...(opts.checkpointEvery !== 50 ? [`--checkpoint-every ${opts.checkpointEvery}`] : []),
      ...(opts.predictLength !== 50 ? [`--predict-length ${opts.predictLength}`] : []),
      ...(opts.workers ? [`--workers ${opts.workers}`] : []),
      ...(opts.backend !== 'auto' ? [`--backend ${opts.backend}`] : []),
      ...(opts.json ? ['--json'] : []),
    ];
    reporter.info(
      `Stopped at epoch ${epochsDone} of ${training.epochs}; checkpoint saved. Continue with: rnnkit train --resume ${shellWord(out)} ${runOptions.join(' ')}`,
    );
  }
  reporter.info(`perplexity ${finalPerplexity.toFixed(2)}, ${Math.round(metrics.tokensPerSecond)} tokens/s on ${backend}, ${seconds.toFixed(1)} s`);
  for (const c of continuations) reporter.info(c);
  reporter.info(`files: ${metricsPath}, ${plotPath}, ${checkpointDir}/`);
  reporter.event('done', { ...summary });
  return summary;
}
