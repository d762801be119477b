import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  classificationData,
  encodeTexts,
  parseTsv,
  readTextFile,
  selectPaddedRows,
  stratifiedSplit,
  textTokens,
  writeFileAtomic,
  type TokenKind,
  type Vocab,
} from '@rnnkit/data';
import { SeqClassifier, type CellKind, type SequencePooling } from '@rnnkit/models';
import {
  balancedClassWeights,
  evaluateClassifier,
  seqClassifierKind,
  trainSequenceClassifier,
  type ClassifierEvaluation,
  type LabelledSequences,
  type SeqClassifierConfig,
} from '@rnnkit/training';
import { selectBackend, type BackendChoice } from '../backend.js';
import { divergenceCheck, trainingFailure, uniformCrossEntropy } from '../divergence.js';
import { RnnkitError, UsageError } from '../errors.js';
import { renderSvg, seriesSpec } from '../plot.js';
import { createReporter, outputMode, versions, kernelsInfo, kernelsSummary, type Reporter } from '../progress.js';
import { loadKindCheckpoint, saveKindCheckpoint, takeRunFolder } from '../checkpoint.js';

export interface ClassifyCommandOptions {
  /** text<TAB>label lines: trains (or, with --checkpoint, is evaluated). */
  data?: string;
  /** Classify with this checkpoint instead of training. */
  checkpoint?: string;
  /** Texts to classify (repeatable). */
  text: string[];
  tokens: TokenKind;
  /** Tokens per text; default the longest text's, at most 200. */
  numSteps?: number;
  minFreq: number;
  valFraction: number;
  model: CellKind;
  pooling: SequencePooling;
  embed: number;
  hidden: number;
  epochs: number;
  lr: number;
  batchSize: number;
  classWeights: 'none' | 'balanced';
  seed: number;
  out: string;
  backend: BackendChoice;
  json: boolean;
}

/**
 * The training record of a classifier checkpoint (`seqClassifierKind`; its config holds the
 * classes and the token kind, its vocabulary is `vocab`).
 */
export interface ClassifierTrainingRecord {
  /** Tokens per text: longer texts are cut to their first numSteps. */
  numSteps: number;
  epochs: number;
  /** The labelled file it was trained on. */
  data: string;
}

export interface ClassifiedText {
  text: string;
  label: string;
  probability: number;
  /** Tokens not in the vocabulary, read as <unk>. */
  unknown: string[];
}

export interface ClassifySummary {
  backend: string;
  trained: boolean;
  classes: string[];
  /** On the validation rows (training), or every row of --data (with --checkpoint); absent without data. */
  accuracy?: number;
  confusion?: number[][];
  evaluatedRows: number;
  predictions: ClassifiedText[];
  files: { metrics?: string; plot?: string; checkpoint?: string };
}

/** Longest default --num-steps: longer texts keep their first 200 tokens. */
export const MAX_DEFAULT_NUM_STEPS = 200;

async function readLabelled(file: string): Promise<{ texts: string[]; labels: string[] }> {
  const text = await readTextFile(file, 'labelled data', 'give --data a file of text<TAB>label lines');
  let rows: string[][];
  try {
    rows = parseTsv(text, { fields: ['text', 'label'], file });
  } catch (err) {
    throw new RnnkitError((err as Error).message);
  }
  return { texts: rows.map((r) => r[0] as string), labels: rows.map((r) => (r[1] as string).trim()) };
}

/** The confusion matrix as aligned lines: a row per actual class, a column per predicted one. */
export function confusionLines(classes: readonly string[], confusion: readonly (readonly number[])[]): string[] {
  const corner = 'actual \\ predicted';
  const first = Math.max(corner.length, ...classes.map((c) => c.length)) + 2;
  const width = Math.max(5, ...classes.map((c) => c.length), ...confusion.flat().map((n) => String(n).length)) + 2;
  const head = `${corner.padEnd(first)}${classes.map((c) => c.padStart(width)).join('')}`;
  return [head, ...classes.map((c, i) => `${c.padEnd(first)}${(confusion[i] ?? []).map((n) => String(n).padStart(width)).join('')}`)];
}

function report(reporter: Reporter, classes: readonly string[], e: ClassifierEvaluation, rows: number, what: string): void {
  const correct = Math.round(e.accuracy * rows);
  reporter.info(`${what}: accuracy ${e.accuracy.toFixed(3)} (${correct}/${rows})`);
  for (const line of confusionLines(classes, e.confusion)) reporter.info(`  ${line}`);
}

/**
 * `rnnkit classify`: a many-to-one GRU (or RNN/LSTM) classifier on the user's text<TAB>label
 * lines: characters or words, padded with masks so each row's last real step decides, a
 * stratified validation split, accuracy and a confusion matrix; or, with --checkpoint, the labels
 * of --text and the accuracy on --data.
 */
export async function runClassify(opts: ClassifyCommandOptions): Promise<ClassifySummary> {
  if (opts.checkpoint === undefined && opts.data === undefined)
    throw new UsageError('Give --data FILE.tsv to train, or --checkpoint DIR with --text "..." to classify.');
  if (opts.checkpoint !== undefined && opts.data === undefined && opts.text.length === 0)
    throw new UsageError('With --checkpoint, give --text "..." (repeatable) to classify, or --data FILE.tsv to measure its accuracy.');
  const reporter = createReporter(outputMode(opts.json));
  const backend = await selectBackend(opts.backend);
  reporter.note(`backend: ${backend} (${kernelsSummary()})`, { json: false });
  reporter.event('start', { command: 'classify', backend, versions: versions(), kernels: kernelsInfo() });
  return opts.checkpoint !== undefined ? classifyWithCheckpoint({ ...opts, checkpoint: opts.checkpoint }, backend, reporter) : train(opts, backend, reporter);
}

async function train(opts: ClassifyCommandOptions, backend: string, reporter: Reporter): Promise<ClassifySummary> {
  const file = opts.data as string;
  const { texts, labels } = await readLabelled(file);
  const longest = texts.reduce((m, t) => Math.max(m, textTokens(t, opts.tokens).length), 0);
  const numSteps = opts.numSteps ?? Math.max(1, Math.min(longest, MAX_DEFAULT_NUM_STEPS));
  const data = classificationData(texts, labels, { tokens: opts.tokens, numSteps, minFreq: opts.minFreq });
  const numClasses = data.classes.length;
  if (numClasses < 2) throw new RnnkitError(`${file} has one label only (${JSON.stringify(data.classes[0])}): a classifier needs at least two.`);
  const split = stratifiedSplit(data.labels, opts.valFraction, opts.seed);
  if (split.validation.length === 0)
    throw new RnnkitError(`${file}: no class has enough rows for a validation part of ${opts.valFraction}: add rows, or raise --val-fraction.`);
  const part = (rows: number[]): LabelledSequences => ({ X: selectPaddedRows(data.X, rows), labels: Int32Array.from(rows, (r) => data.labels[r] as number) });
  const trainPart = part(split.train);
  const validation = part(split.validation);
  const counts = data.classes.map((c, i) => `${c} ${data.labels.reduce((n, l) => n + Number(l === i), 0)}`);
  reporter.info(
    `${file}: ${texts.length} texts, ${numClasses} classes (${counts.join(', ')}); ${opts.tokens} tokens, vocabulary ${data.vocab.size}, ` +
      `num_steps ${numSteps}${opts.numSteps === undefined ? ` (the longest text${longest > MAX_DEFAULT_NUM_STEPS ? ` has ${longest}; at most ${MAX_DEFAULT_NUM_STEPS}` : ''})` : ''}` +
      `${data.truncated > 0 ? `, ${data.truncated} texts cut to their first ${numSteps} tokens` : ''}; ${split.train.length} train, ${split.validation.length} validate`,
  );
  const unmeasured = data.classes.filter((_, c) => !split.validation.some((r) => data.labels[r] === c));
  if (unmeasured.length > 0) {
    reporter.note(
      `note: ${unmeasured.map((c) => JSON.stringify(c)).join(', ')} ${unmeasured.length > 1 ? 'have' : 'has'} too few texts to hold any out: the validation accuracy does not measure ${unmeasured.length > 1 ? 'them' : 'it'} (add texts of ${unmeasured.length > 1 ? 'those classes' : 'that class'}, or raise --val-fraction).`,
      { json: false },
    );
  }
  const config: SeqClassifierConfig = {
    vocabSize: data.vocab.size,
    embeddingSize: opts.embed,
    numHiddens: opts.hidden,
    numClasses,
    cell: opts.model,
    pooling: opts.pooling,
    seed: opts.seed,
    tokens: opts.tokens,
    classes: data.classes,
  };
  const model = new SeqClassifier(config);
  const classWeights = opts.classWeights === 'balanced' ? balancedClassWeights(trainPart.labels, numClasses) : undefined;
  reporter.info(
    `${opts.model.toUpperCase()} classifier (embed ${opts.embed}, hidden ${opts.hidden}, ${opts.pooling === 'last' ? "each text's last real step" : 'the mean of its steps'}), ` +
      `Adam lr ${opts.lr}, batch ${opts.batchSize}, clip 1, ${opts.epochs} epochs${classWeights ? `, balanced class weights (${classWeights.map((w) => w.toFixed(2)).join(', ')})` : ''}`,
  );
  const history: { epoch: number; loss: number; accuracy: number; validationLoss: number; validationAccuracy: number; seconds: number }[] = [];
  let last: ClassifierEvaluation | undefined;
  await mkdir(opts.out, { recursive: true });
  // One writer per run folder: a second run there is refused, naming the first.
  const lock = await takeRunFolder(opts.out);
  const files: ClassifySummary['files'] = {
    metrics: join(opts.out, 'metrics.json'),
    plot: join(opts.out, 'accuracy.svg'),
    checkpoint: join(opts.out, 'checkpoint'),
  };
  // An untrained classifier guesses uniformly: ln(classes) per text (class weights keep that mean).
  const diverged = divergenceCheck(uniformCrossEntropy(numClasses), 'loss');
  try {
    reporter.startBar(opts.epochs, 0, 'loss');
    try {
      trainSequenceClassifier(model, trainPart, {
        epochs: opts.epochs,
        lr: opts.lr,
        batchSize: opts.batchSize,
        seed: opts.seed,
        validation,
        ...(classWeights ? { classWeights } : {}),
        onEpochEnd: (e) => {
          diverged(e.epoch, e.loss);
          const v = e.validation as ClassifierEvaluation;
          last = v;
          const row = { epoch: e.epoch, loss: e.loss, accuracy: e.accuracy, validationLoss: v.loss, validationAccuracy: v.accuracy, seconds: e.seconds };
          history.push(row);
          reporter.updateBar(e.epoch, { perplexity: e.loss.toFixed(3), speed: '-' });
          reporter.event('epoch', { ...row, epochs: opts.epochs });
          if (reporter.mode === 'lines')
            reporter.info(
              `epoch ${e.epoch}/${opts.epochs}  loss ${e.loss.toFixed(3)}  train accuracy ${e.accuracy.toFixed(3)}  validation accuracy ${v.accuracy.toFixed(3)}  validation loss ${v.loss.toFixed(3)}`,
            );
        },
      });
    } catch (err) {
      reporter.stopBar();
      // Nothing diverged is saved: metrics.json says where it went wrong.
      throw await trainingFailure(err, {
        what: 'loss',
        lr: opts.lr,
        kept: `no checkpoint was written (a checkpoint in ${files.checkpoint} from an earlier run is unchanged; ${files.metrics} records where it diverged).`,
        metrics: { file: files.metrics as string, record: { backend, config, tokens: opts.tokens, numSteps, options: opts, versions: versions(), history } },
        userError: true,
      });
    } finally {
      reporter.stopBar();
    }
    const evaluation = last as ClassifierEvaluation;
    report(
      reporter,
      data.classes,
      evaluation,
      split.validation.length,
      `validation (${split.validation.length} texts; rows: actual class, columns: predicted)`,
    );
    const predictions = classifyTexts(model, { vocab: data.vocab, classes: data.classes, tokens: opts.tokens, numSteps }, opts.text, reporter);
    const training: ClassifierTrainingRecord = { numSteps, epochs: opts.epochs, data: file };
    await saveKindCheckpoint(files.checkpoint as string, seqClassifierKind, { model, config, vocabularies: { vocab: data.vocab }, training });
    await writeFileAtomic(
      files.plot as string,
      await renderSvg(
        seriesSpec(
          history.flatMap((h) => [
            { x: h.epoch, y: h.accuracy, series: 'train accuracy' },
            { x: h.epoch, y: h.validationAccuracy, series: 'validation accuracy' },
          ]),
          `${opts.model.toUpperCase()} classifier: accuracy per epoch`,
          'epoch',
          'accuracy',
        ),
      ),
    );
    const summary: ClassifySummary = {
      backend,
      trained: true,
      classes: data.classes,
      accuracy: evaluation.accuracy,
      confusion: evaluation.confusion,
      evaluatedRows: split.validation.length,
      predictions,
      files,
    };
    await writeFileAtomic(
      files.metrics as string,
      `${JSON.stringify({ ...summary, config, tokens: opts.tokens, numSteps, options: opts, versions: versions(), history }, null, 2)}\n`,
    );
    reporter.info(`files: ${files.metrics}, ${files.plot}, ${files.checkpoint}/`);
    reporter.event('done', { ...summary });
    return summary;
  } finally {
    model.dispose();
    await lock.release();
  }
}

/** The most likely class of each text and its probability, printed one per line. */
function classifyTexts(
  model: SeqClassifier,
  m: { vocab: Vocab; classes: readonly string[]; tokens: TokenKind; numSteps: number },
  texts: readonly string[],
  reporter: Reporter,
): ClassifiedText[] {
  if (texts.length === 0) return [];
  const X = encodeTexts(texts, m.vocab, m.tokens, m.numSteps);
  const Xt = tf.tensor2d(X.array, [X.rows, m.numSteps], 'int32');
  const probabilities = model.predictProbabilities(Xt, X.validLen);
  Xt.dispose();
  return texts.map((text, i) => {
    const p = probabilities[i] as number[];
    const best = p.indexOf(Math.max(...p));
    const unknown = [...new Set(textTokens(text, m.tokens).filter((t) => !m.vocab.has(t)))];
    reporter.info(`${m.classes[best]}  (p ${(p[best] as number).toFixed(3)})  ${text}`);
    if (unknown.length > 0) reporter.info(`  (not in the vocabulary, read as <unk>: ${unknown.map((w) => JSON.stringify(w)).join(', ')})`);
    return { text, label: m.classes[best] as string, probability: p[best] as number, unknown };
  });
}

async function classifyWithCheckpoint(opts: ClassifyCommandOptions & { checkpoint: string }, backend: string, reporter: Reporter): Promise<ClassifySummary> {
  const loaded = await loadKindCheckpoint(opts.checkpoint, seqClassifierKind);
  const { model, config } = loaded;
  try {
    const vocab = loaded.vocabularies.vocab;
    const numSteps = (loaded.training as Partial<ClassifierTrainingRecord> | undefined)?.numSteps;
    const { classes, tokens } = config;
    if (!vocab || !classes || !tokens || !(Number.isInteger(numSteps) && (numSteps as number) >= 1))
      throw new RnnkitError(
        `${loaded.source} holds a sequence classifier without its vocabulary, class names, token kind or num_steps: rnnkit classify needs a checkpoint that rnnkit classify --data wrote.`,
      );
    reporter.info(`classifying with ${loaded.source} (${classes.length} classes: ${classes.join(', ')}; ${tokens} tokens, num_steps ${numSteps})`);
    const predictions = classifyTexts(model, { vocab, classes, tokens, numSteps: numSteps as number }, opts.text, reporter);
    const summary: ClassifySummary = { backend, trained: false, classes, evaluatedRows: 0, predictions, files: {} };
    if (opts.data !== undefined) {
      const { texts, labels } = await readLabelled(opts.data);
      const classId = new Map(classes.map((c, i) => [c, i]));
      const stray = [...new Set(labels.filter((l) => !classId.has(l)))];
      if (stray.length > 0)
        throw new RnnkitError(
          `${opts.data} has labels the checkpoint does not know (${stray.map((l) => JSON.stringify(l)).join(', ')}); its classes are ${classes.join(', ')}.`,
        );
      const evaluation = evaluateClassifier(
        model,
        { X: encodeTexts(texts, vocab, tokens, numSteps as number), labels: Int32Array.from(labels, (l) => classId.get(l) as number) },
        { numClasses: classes.length },
      );
      report(reporter, classes, evaluation, texts.length, `${opts.data} (${texts.length} texts; rows: actual class, columns: predicted)`);
      Object.assign(summary, { accuracy: evaluation.accuracy, confusion: evaluation.confusion, evaluatedRows: texts.length });
    }
    reporter.event('done', { ...summary });
    return summary;
  } finally {
    model.dispose();
  }
}
