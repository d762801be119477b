import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  FRA_ENG_HEAD,
  type FileIdentity,
  type Vocab,
  buildArrayNmtTokens,
  loadDataNmt,
  nmtSpecialIds,
  parseTsv,
  preprocessNmt,
  readDataNmt,
  readTextAndIdentity,
  tokenizeNmt,
  writeFileAtomic,
} from '@rnnkit/data';
import { EncoderDecoder, type EncoderDecoderOptions } from '@rnnkit/models';
import { bleu, evaluateSeq2Seq, makeOptimizer, predictSeq2Seq, trainSeq2Seq, translationKind } from '@rnnkit/training';
import { selectBackend, type BackendChoice } from '../backend.js';
import { loadKindCheckpoint, saveKindCheckpoint, takeRunFolder } from '../checkpoint.js';
import { RnnkitError, UsageError } from '../errors.js';
import { divergenceCheck, trainingFailure, uniformCrossEntropy } from '../divergence.js';
import { checkWeightsFit } from '../memory.js';
import { lossSpec, renderSvg } from '../plot.js';
import { createReporter, outputMode, versions, kernelsInfo, kernelsSummary, reportStepPath } from '../progress.js';
import { VERSION } from '../version.js';
import { displayPath } from '../invocation.js';
import { type DataFileRecord, dataFileRecord, recordedDataFile } from '../data-file.js';
import { runFolderOf } from './train/run-folder.js';

export interface TranslateCommandOptions {
  epochs: number;
  lr: number;
  batchSize: number;
  numSteps: number;
  numExamples: number;
  embed: number;
  hidden: number;
  layers: number;
  dropout: number;
  seed: number;
  /** Beam size k; 1 is greedy. */
  beam: number;
  /** Length penalty exponent of the beam search. */
  alpha: number;
  /** Sentences to translate after training. */
  sentence: string[];
  /** Held-out pairs: the lines right after the training lines. */
  heldOut: number;
  /** A local fra.txt or fra-eng.zip. */
  data?: string;
  /** Download d2l's fra-eng.zip (SHA-1 checked, cached) instead of the shipped first 1,000 lines. */
  download: boolean;
  /** Your own source<TAB>target pairs, any languages, instead of English-French. */
  pairs?: string;
  /** The options given on the command line (their defaults differ with --pairs). */
  given?: string[];
  /** Translate with this checkpoint instead of training. */
  checkpoint?: string;
  /** Output folder: by default runs/translate, or with `checkpoint` the run folder holding it. */
  out?: string;
  /** Load a --checkpoint of the old layout without checksums (its damage cannot be detected). */
  allowUnverified?: boolean;
  backend: BackendChoice;
  json: boolean;
}

/** A translation checkpoint's training record (the model, config and both vocabularies are the checkpoint's own). */
export interface TranslateCheckpointMeta {
  rnnkit: string;
  numSteps: number;
  numExamples: number;
  /** Epochs trained. */
  epoch: number;
  /** The pairs file it was trained on (--pairs: as given, its absolute path and SHA-256), and how many of its last lines were held out. */
  pairs?: DataFileRecord & { heldOut: number };
  /** The file `rnnkit import` read it from (a PyTorch state dict), for a model not trained by rnnkit. */
  imported?: string;
}

/** The training record of a translation checkpoint, checked; an error naming the checkpoint otherwise. */
function translateRecord(training: unknown, source: string): TranslateCheckpointMeta {
  const r = (training ?? {}) as Partial<Record<keyof TranslateCheckpointMeta, unknown>>;
  const whole = (v: unknown, min: number) => typeof v === 'number' && Number.isInteger(v) && v >= min;
  if (!whole(r.numSteps, 1) || !whole(r.numExamples, 1) || !whole(r.epoch, 0)) {
    throw new RnnkitError(`${source} holds no rnnkit translate record (numSteps, numExamples, epoch): it was not written by rnnkit translate.`);
  }
  return r as TranslateCheckpointMeta;
}

/** d2l 9.7's four test sentences and their references. */
export const D2L_EXAMPLES: readonly [string, string][] = [
  ['go .', 'va !'],
  ['i lost .', "j'ai perdu ."],
  ["he's calm .", 'il est calme .'],
  ["i'm home .", 'je suis chez moi .'],
];

export interface TranslationLine {
  source: string;
  prediction: string;
  reference?: string;
  bleu?: number;
  unknown: string[];
}

export interface TranslateSummary {
  backend: string;
  trained: boolean;
  epochs: number;
  /** The last epoch's loss per target token. */
  loss: number;
  /** The same divided by num_steps: the figure d2l's `train_seq2seq` prints. */
  d2lLoss: number;
  tokensPerSecond: number;
  trainSeconds: number;
  beam: number;
  trainBleu: number;
  heldOutBleu: number;
  heldOutPairs: number;
  examples: TranslationLine[];
  sentences: TranslationLine[];
  files: { metrics: string; plot?: string; checkpoint?: string };
}

/**
 * `rnnkit translate`: d2l 9.7's GRU encoder-decoder on English-French pairs with the book's
 * settings, then d2l's four examples with BLEU, mean BLEU on the training pairs and on the
 * following held-out lines, and the user's own sentences (greedy or `--beam k`).
 */
export async function runTranslate(opts: TranslateCommandOptions): Promise<TranslateSummary> {
  const reporter = createReporter(outputMode(opts.json));
  const backend = await selectBackend(opts.backend);
  reporter.note(`backend: ${backend} (${kernelsSummary()})`, { json: false });
  reporter.event('start', { command: 'translate', backend, versions: versions(), kernels: kernelsInfo() });
  const loaded = opts.checkpoint ? await loadKindCheckpoint(opts.checkpoint, translationKind, { allowUnverified: opts.allowUnverified === true }) : null;
  let resumed: (NonNullable<typeof loaded> & { metadata: TranslateCheckpointMeta }) | null = null;
  try {
    resumed = loaded ? { ...loaded, metadata: translateRecord(loaded.training, loaded.source) } : null;
  } catch (err) {
    loaded?.model.dispose();
    throw err;
  }
  const numSteps = resumed ? resumed.metadata.numSteps : opts.numSteps;
  // A checkpoint's own pairs where it was trained (by absolute path, from any folder), or --pairs.
  const recordedPairs = opts.pairs === undefined && resumed?.metadata.pairs ? await recordedDataFile(resumed.metadata.pairs, 'pairs') : undefined;
  if (recordedPairs?.changed)
    reporter.note(`note: ${recordedPairs.changed}: its training and held-out lines below are those of the file as it is now.`, { json: false });
  const pairsFile = opts.pairs ?? recordedPairs?.file;
  const own = pairsFile !== undefined ? await readPairs(pairsFile, opts, resumed?.metadata) : null;
  const numExamples = resumed ? resumed.metadata.numExamples : (own?.numExamples ?? opts.numExamples);
  const heldOut = own?.heldOut ?? opts.heldOut;

  const text = own
    ? own.text
    : opts.data || opts.download
      ? await readDataNmt({ ...(opts.data ? { path: opts.data } : {}), localCopyHint: 'or pass --data FILE' })
      : FRA_ENG_HEAD;
  const data = loadDataNmt({ numSteps, numExamples, text });
  const srcVocab = resumed ? (resumed.vocabularies.sourceVocab as Vocab) : data.srcVocab;
  const tgtVocab = resumed ? (resumed.vocabularies.targetVocab as Vocab) : data.tgtVocab;
  if (resumed && !(srcVocab.equals(data.srcVocab) && tgtVocab.equals(data.tgtVocab))) {
    reporter.note("note: this text gives other vocabularies than the checkpoint; the checkpoint's are used.", { json: false });
  }
  const { bos, eos } = nmtSpecialIds(tgtVocab);
  const config: EncoderDecoderOptions = resumed
    ? resumed.config
    : {
        srcVocabSize: srcVocab.size,
        tgtVocabSize: tgtVocab.size,
        embedSize: opts.embed,
        numHiddens: opts.hidden,
        numLayers: opts.layers,
        dropout: opts.dropout,
        init: 'xavier',
        seed: opts.seed,
      };
  if (!resumed) {
    const weights = translationKind.weightCount(translationKind.checkConfig(config));
    checkWeightsFit(weights, backend, `--embed ${opts.embed}, --hidden ${opts.hidden} and --layers ${opts.layers}`);
  }
  const model = resumed ? resumed.model : new EncoderDecoder(config);
  const out = opts.out ?? (resumed ? runFolderOf(resumed.source) : join('runs', 'translate'));
  await mkdir(out, { recursive: true });
  // Training writes a checkpoint into the run folder: one writer at a time.
  const lock = resumed ? null : await takeRunFolder(out);
  // An evaluation of a checkpoint keeps the training run's metrics.json.
  const files: TranslateSummary['files'] = { metrics: join(out, resumed ? `eval-beam${opts.beam}.json` : 'metrics.json') };

  const history: { epoch: number; loss: number; d2lLoss: number; tokensPerSecond: number; seconds: number }[] = [];
  // d2l's train_seq2seq sums each row's masked loss averaged over num_steps and divides by the
  // tokens, so its figure is the loss per token divided by num_steps.
  const d2lScale = (loss: number) => loss / numSteps;
  let trainSeconds = 0;
  if (resumed) {
    const m = resumed.metadata;
    const origin = typeof m.imported === 'string' && m.epoch === 0 ? `imported from ${m.imported}` : `trained ${m.epoch} epoch${m.epoch === 1 ? '' : 's'}`;
    reporter.info(`translating with ${resumed.source} (${origin}; num_steps ${numSteps})`);
  } else {
    reporter.info(
      `training a GRU encoder-decoder (embed ${opts.embed}, hidden ${opts.hidden}, ${opts.layers} layers, dropout ${opts.dropout}) on ${data.src.rows} ${own ? `pairs of ${pairsFile}` : 'English-French pairs'} ` +
        `(vocab ${srcVocab.size} / ${tgtVocab.size}), num_steps ${numSteps}, batch ${opts.batchSize}, Adam lr ${opts.lr}, clip 1, ${opts.epochs} epochs`,
    );
    const optimizer = makeOptimizer('adam', opts.lr);
    const started = performance.now();
    reporter.startBar(opts.epochs, 0, 'loss');
    const diverged = divergenceCheck(uniformCrossEntropy(tgtVocab.size), 'loss per token');
    try {
      trainSeq2Seq(model, data, {
        epochs: opts.epochs,
        lr: opts.lr,
        batchSize: opts.batchSize,
        bos,
        optimizer,
        theta: 1,
        loss: 'd2l',
        seed: opts.seed,
        onPath: reportStepPath(reporter),
        onEpochEnd: ({ epoch, loss, tokensPerSecond, seconds }) => {
          diverged(epoch, loss);
          const d2lLoss = d2lScale(loss);
          history.push({ epoch, loss, d2lLoss, tokensPerSecond, seconds });
          reporter.updateBar(epoch, { perplexity: `${loss.toFixed(3)} (d2l ${d2lLoss.toFixed(4)})`, speed: String(Math.round(tokensPerSecond)) });
          reporter.event('epoch', { epoch, epochs: opts.epochs, loss, d2lLoss, tokensPerSecond, seconds });
          if (reporter.mode === 'lines' && (epoch % 10 === 0 || epoch === opts.epochs)) {
            reporter.info(
              `epoch ${epoch}/${opts.epochs}  loss ${loss.toFixed(3)} per token (d2l's train_seq2seq: ${d2lLoss.toFixed(4)})  ${Math.round(tokensPerSecond)} tokens/s`,
            );
          }
        },
      });
    } catch (err) {
      // Nothing diverged is saved: no checkpoint is written, metrics.json says where it went wrong.
      throw await trainingFailure(err, {
        what: 'loss per token',
        lr: opts.lr,
        kept: `no checkpoint was written (a checkpoint in ${join(out, 'checkpoint')} from an earlier run is unchanged).`,
        metrics: { file: files.metrics, record: { config, numSteps, numExamples, versions: versions(), history } },
        cleanup: async () => {
          reporter.stopBar();
          optimizer.dispose();
          model.dispose();
          await lock?.release();
        },
      });
    } finally {
      reporter.stopBar();
    }
    trainSeconds = (performance.now() - started) / 1000;
    const record: TranslateCheckpointMeta = {
      rnnkit: VERSION,
      numSteps,
      numExamples,
      epoch: opts.epochs,
      ...(own ? { pairs: { ...dataFileRecord(pairsFile as string, own.read), heldOut } } : {}),
    };
    files.checkpoint = join(out, 'checkpoint');
    await saveKindCheckpoint(files.checkpoint, translationKind, {
      model,
      config: translationKind.checkConfig(config),
      vocabularies: { sourceVocab: srcVocab, targetVocab: tgtVocab },
      training: record,
    });
    optimizer.dispose();
    files.plot = join(out, 'loss.svg');
    await writeFileAtomic(
      files.plot,
      await renderSvg(lossSpec(history, `GRU encoder-decoder, ${own ? basename(pairsFile as string) : 'English-French'}: loss per token`)),
    );
  }

  const search = { beamSize: opts.beam, alpha: opts.alpha };
  const translate = (source: string, reference?: string): TranslationLine => {
    const t = predictSeq2Seq(model, source, srcVocab, tgtVocab, numSteps, search);
    const line: TranslationLine = { source, prediction: t.text, unknown: t.unknown };
    if (reference !== undefined)
      line.bleu = bleu(
        t.tokens,
        preprocessNmt(reference)
          .split(' ')
          .filter((w) => w !== ''),
        2,
        { unk: tgtVocab.tokenOf(tgtVocab.unk) },
      );
    if (reference !== undefined) line.reference = reference;
    return line;
  };
  const show = (l: TranslationLine) => `${l.source} => ${l.prediction}${l.bleu !== undefined ? `, bleu ${l.bleu.toFixed(3)}` : ''}`;
  // Your own pairs: the first held-out pairs (or, with none held out, the first training pairs).
  const all = tokenizeNmt(preprocessNmt(text));
  const from = data.src.rows;
  const ownExamples = (): [string, string][] => {
    const at = heldOut > 0 && all.source.length > from ? from : 0;
    return all.source.slice(at, at + 4).map((s, i) => [s.join(' '), (all.target[at + i] as string[]).join(' ')]);
  };
  const examples = (own ? ownExamples() : D2L_EXAMPLES).map(([en, fr]) => translate(en, fr));
  reporter.info(`${own ? 'examples' : "d2l's examples"} (${opts.beam === 1 ? 'greedy' : `beam ${opts.beam}, alpha ${opts.alpha}`}):`);
  for (const e of examples) reporter.info(show(e));

  // Mean BLEU on the training pairs and on the lines right after them, on words: each output
  // against its preprocessed reference, as d2l's bleu(pred_seq, label_seq, k=2).
  const evalOptions = { tgtVocab, bos, eos, maxLength: numSteps, ...search };
  const trainBleu = evaluateSeq2Seq(model, buildArrayNmtTokens(data.source, srcVocab, numSteps), data.target, evalOptions).bleu;
  const heldSource = all.source.slice(from, from + heldOut);
  const heldTarget = all.target.slice(from, from + heldOut);
  const heldOutBleu =
    heldSource.length > 0 ? evaluateSeq2Seq(model, buildArrayNmtTokens(heldSource, srcVocab, numSteps), heldTarget, evalOptions).bleu : Number.NaN;
  reporter.info(
    `mean BLEU: ${trainBleu.toFixed(3)} on the ${data.src.rows} training pairs, ${heldSource.length > 0 ? heldOutBleu.toFixed(3) : '-'} on ${heldSource.length} held-out pairs ${heldSource.length > 0 ? `(lines ${from + 1}-${from + heldSource.length})` : '(the training pairs reach the last line)'}`,
  );

  const sentences = opts.sentence.map((s) => translate(s));
  for (const s of sentences) {
    reporter.info(show(s));
    if (s.unknown.length > 0) reporter.info(`  (not in the vocabulary, read as <unk>: ${s.unknown.map((w) => `"${w}"`).join(', ')})`);
  }

  const seconds = history.reduce((a, h) => a + h.seconds, 0);
  const tokens = history.reduce((a, h) => a + h.tokensPerSecond * h.seconds, 0);
  const summary: TranslateSummary = {
    backend,
    trained: !resumed,
    epochs: resumed ? resumed.metadata.epoch : opts.epochs,
    loss: history.at(-1)?.loss ?? Number.NaN,
    d2lLoss: history.at(-1)?.d2lLoss ?? Number.NaN,
    tokensPerSecond: seconds > 0 ? tokens / seconds : 0,
    trainSeconds,
    beam: opts.beam,
    trainBleu,
    heldOutBleu,
    heldOutPairs: heldSource.length,
    examples,
    sentences,
    files,
  };
  if (!resumed) {
    reporter.info(
      `loss ${summary.loss.toFixed(3)} per target token; ${summary.d2lLoss.toFixed(4)} as d2l's train_seq2seq prints it (the same divided by num_steps ${numSteps})`,
    );
    reporter.info(
      `trained ${opts.epochs} epochs in ${trainSeconds.toFixed(1)} s, ${Math.round(summary.tokensPerSecond)} tokens/s on ${backend}; files: ${displayPath(files.metrics)}, ${displayPath(files.plot ?? '')}, ${displayPath(files.checkpoint ?? '')}/`,
    );
  } else reporter.info(`file: ${displayPath(files.metrics)}`);
  await writeFileAtomic(files.metrics, `${JSON.stringify({ ...summary, config, numSteps, numExamples, versions: versions(), history }, null, 2)}\n`);
  model.dispose();
  await lock?.release();
  // JSON numbers are never null: a value that does not exist (the loss of a run that did not
  // train, the BLEU of no held-out pairs) is left out of the event.
  reporter.event('done', Object.fromEntries(Object.entries(summary).filter(([, v]) => typeof v !== 'number' || Number.isFinite(v))));
  return summary;
}

/**
 * `--pairs FILE`: source<TAB>target lines (any languages), each malformed line named. Unless
 * given, --held-out is a tenth of the pairs (the last lines) and --num-examples all the others.
 */
async function readPairs(
  file: string,
  opts: TranslateCommandOptions,
  resumed?: TranslateCheckpointMeta,
): Promise<{ text: string; numExamples: number; heldOut: number; read: FileIdentity }> {
  if (opts.data !== undefined || opts.download) throw new UsageError('--pairs replaces the English-French data: leave out --data and --download.');
  const { text: raw, fileIdentity: read } = await readTextAndIdentity(file, 'pairs', 'give --pairs a file of source<TAB>target lines');
  let rows: string[][];
  try {
    rows = parseTsv(raw, { fields: ['source', 'target'], file });
  } catch (err) {
    throw new RnnkitError((err as Error).message);
  }
  const given = new Set(opts.given ?? []);
  const heldOut = given.has('heldOut') ? opts.heldOut : (resumed?.pairs?.heldOut ?? Math.floor(rows.length / 10));
  const trainPairs = given.has('numExamples') ? Math.min(opts.numExamples + 1, rows.length) : rows.length - heldOut;
  if (trainPairs < 2)
    throw new RnnkitError(`${file} has ${rows.length} pairs: with ${heldOut} held out, fewer than 2 are left to train on (add pairs, or lower --held-out).`);
  // d2l's tokenize_nmt keeps the first num_examples + 1 lines.
  return { text: rows.map((r) => r.join('\t')).join('\n'), numExamples: trainPairs - 1, heldOut, read };
}
