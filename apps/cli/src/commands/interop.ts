import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import type { RecurrentLanguageModel } from '@rnnkit/cells';
import { FileReadError, loadDataTimeMachine, readRegularFile, writeFileAtomic, type Vocab } from '@rnnkit/data';
import {
  checkCharacterVocab,
  InteropError,
  createModelFromWeights,
  createTranslationModel,
  defaultImplementation,
  defaultTorchStyle,
  describeWeights,
  isTranslationStateDict,
  looksLikeSafetensors,
  readSafetensors,
  translationFromTorch,
  translationToTorch,
  translationVocabFromJson,
  translationVocabJson,
  translationWeightsOfModel,
  vocabFromTokens,
  vocabTokens,
  weightsFromTorch,
  weightsOfModel,
  weightsToTorch,
  whyNot,
  writeSafetensors,
  type RecurrentWeights,
  type TorchModelStyle,
} from '@rnnkit/interop';
import { looksLikeOnnx, onnxToWeights, translationWeightsToOnnx, weightsToOnnx } from '@rnnkit/interop/onnx';
import type { EncoderDecoder, LanguageModelConfig, LanguageModelImplementation } from '@rnnkit/models';
import { CheckpointError, loadAnyCheckpoint, makeOptimizer, translationKind, type TranslationConfig } from '@rnnkit/training/node';
import { selectBackend, type BackendChoice } from '../backend.js';
import { saveKindCheckpoint, saveRunCheckpoint, takeRunFolder } from '../checkpoint.js';
import { RnnkitError, UsageError } from '../errors.js';
import { argumentPath, commandFor, displayPath } from '../invocation.js';
import { createReporter, kernelsInfo, kernelsSummary, outputMode, versions } from '../progress.js';
import { VERSION } from '../version.js';
import type { TrainCheckpointMeta } from './train/options.js';
import { holdsRun } from './train/run-folder.js';

// rnnkit import / rnnkit export: models in and out through @rnnkit/interop (PyTorch safetensors
// state dicts with PyTorch's names, ONNX), checkpoints through @rnnkit/training's save functions.

export interface ImportCommandOptions {
  /** A safetensors state dict or an ONNX model (told apart by content). */
  file: string;
  /** vocab.json: d2l's idx_to_token (a translation model's: { "src": [...], "tgt": [...] }). */
  vocab?: string;
  /** The run folder to write (the checkpoint goes to its checkpoint/). */
  out: string;
  /** The implementation to import onto (default: the one that fits, fused first). */
  impl?: LanguageModelImplementation;
  /** The text `rnnkit train --resume` continues on (default The Time Machine). */
  corpus?: string;
  /** d2l's max_tokens of that text for `train --resume` (0: all). */
  maxTokens: number;
  /**
   * d2l's num_steps: of a translation model, the source tokens it reads (padded or cut) and its
   * longest translation (default 10, d2l 9.7's); of a language model, the time steps per
   * minibatch of `train --resume` (default 35).
   */
  numSteps?: number;
  /** The options given on the command line (those that do not apply to the file's model are refused). */
  given?: readonly string[];
  force?: boolean;
  backend: BackendChoice;
  json: boolean;
}

export interface ImportSummary {
  format: 'safetensors' | 'onnx';
  kind: 'language-model' | 'translation';
  model: string;
  implementation?: LanguageModelImplementation;
  vocabulary: string;
  checkpoint: string;
}

/** d2l's chapter 8 settings: what `rnnkit train --resume` continues an imported language model with. */
const D2L_TRAINING = { lr: 1, optimizer: 'sgd', batchSize: 32, numSteps: 35, randomIter: false, preprocess: 'd2l' } as const;
/** d2l 9.7's: what `rnnkit translate --checkpoint` reads an imported translation model with. */
const D2L_TRANSLATION = { numSteps: 10, numExamples: 600 } as const;
const FLAG_OF = { impl: '--impl', corpus: '--corpus', maxTokens: '--max-tokens' } as const;

const userError = (err: unknown): unknown => (err instanceof InteropError || err instanceof CheckpointError ? new RnnkitError(err.message) : err);

/** The largest model file import reads (a state dict or an ONNX model). */
const MAX_MODEL_FILE_BYTES = 2 * 2 ** 30;

/** Reads a regular file (a FIFO or /dev/zero is refused at once, not read forever), errors naming it. */
async function readInput(file: string, what: string, maxBytes?: number): Promise<Uint8Array> {
  try {
    return await readRegularFile(file, { what, ...(maxBytes !== undefined ? { maxBytes } : {}) });
  } catch (err) {
    if (!(err instanceof FileReadError)) throw err;
    throw new RnnkitError(err.problem === 'missing' ? `No ${what} file at ${file}: the file does not exist.` : err.message);
  }
}

/** --vocab, else `<name>.vocab.json` or `vocab.json` beside the weights; null when there is none. */
async function findVocab(file: string, flag: string | undefined): Promise<{ path: string; json: unknown } | null> {
  const stem = join(dirname(file), basename(file, extname(file)));
  const path = flag ?? [`${stem}.vocab.json`, join(dirname(file), 'vocab.json')].find((p) => existsSync(p));
  if (path === undefined) return null;
  const text = new TextDecoder().decode(await readInput(path, 'vocabulary'));
  try {
    return { path, json: JSON.parse(text) };
  } catch (err) {
    throw new RnnkitError(`${path}: is not valid JSON (${(err as Error).message}).`);
  }
}

/**
 * `rnnkit import`: a PyTorch state dict (safetensors) of d2l's RNNModel, scratch model or 9.7
 * encoder-decoder, or an ONNX graph of d2l's RNNModel, into an rnnkit checkpoint in `out/checkpoint`
 * that `rnnkit generate`, `train --resume` and `translate --checkpoint` read.
 */
export async function runImport(opts: ImportCommandOptions): Promise<ImportSummary> {
  const reporter = createReporter(outputMode(opts.json));
  // The files are read and checked first: a bad one fails before the backend starts.
  const startBackend = async () => {
    const backend = await selectBackend(opts.backend);
    reporter.event('start', { command: 'import', backend, versions: versions(), kernels: kernelsInfo() });
    reporter.note(`backend: ${backend} (${kernelsSummary()})`, { json: false });
  };
  if (holdsRun(opts.out) && !opts.force)
    throw new UsageError(`--out ${displayPath(opts.out)} already holds a run: choose another --out, or replace it with --force.`);
  const bytes = await readInput(opts.file, 'model', MAX_MODEL_FILE_BYTES);
  const format = looksLikeSafetensors(bytes) ? 'safetensors' : looksLikeOnnx(bytes) ? 'onnx' : null;
  if (!format) {
    throw new RnnkitError(
      `${opts.file}: is neither safetensors (an 8-byte header length, then a JSON header) nor ONNX (a protobuf ModelProto): rnnkit import reads PyTorch state dicts saved with safetensors and ONNX models.`,
    );
  }
  const vocabFile = await findVocab(opts.file, opts.vocab);
  const checkpoint = join(opts.out, 'checkpoint');
  try {
    if (format === 'safetensors') {
      const state = readSafetensors(bytes, opts.file).tensors;
      if (isTranslationStateDict(state)) return await importTranslation(opts, state, vocabFile, checkpoint, reporter, startBackend);
    }
    const numSteps = opts.numSteps ?? D2L_TRAINING.numSteps;
    let vocab: Vocab | null = vocabFile ? vocabFromTokens(vocabFile.json, vocabFile.path) : null;
    let vocabSource = vocabFile?.path ?? '';
    if (vocab) checkCharacterVocab(vocab, vocabSource, 'rnnkit import');
    let weights: RecurrentWeights;
    if (format === 'safetensors') {
      weights = weightsFromTorch(readSafetensors(bytes, opts.file).tensors, { file: opts.file, vocabSize: vocab?.size });
    } else {
      const read = onnxToWeights(bytes, { file: opts.file, vocabSize: vocab?.size });
      weights = read.weights;
      if (!vocab && read.vocabTokens !== undefined) {
        vocab = vocabFromTokens(read.vocabTokens, `${opts.file} (its rnnkit.vocab metadata)`);
        vocabSource = `${opts.file}'s metadata`;
        checkCharacterVocab(vocab, vocabSource, 'rnnkit import');
        if (vocab.size !== weights.vocabSize)
          throw new RnnkitError(`${opts.file}: its metadata's vocabulary has ${vocab.size} tokens, its model ${weights.vocabSize}.`);
      }
    }
    const loaderOptions = {
      batchSize: D2L_TRAINING.batchSize,
      numSteps,
      useRandomIter: D2L_TRAINING.randomIter,
      maxTokens: opts.maxTokens,
      preprocess: D2L_TRAINING.preprocess,
      seed: 0,
      source: { path: opts.corpus },
    };
    const data = await loadDataTimeMachine(loaderOptions);
    if (!vocab) {
      if (weights.vocabSize !== data.vocab.size || opts.corpus !== undefined) {
        throw new UsageError(
          `${opts.file}'s model has ${weights.vocabSize} tokens and no vocabulary beside it: give it with --vocab FILE (a JSON array of the tokens in index order, d2l's vocab.idx_to_token), or put vocab.json beside ${basename(opts.file)}.`,
        );
      }
      vocab = data.vocab;
      vocabSource = "d2l's vocabulary of The Time Machine (no vocab.json given: pass --vocab if the model has another)";
      reporter.note(`note: no vocab.json beside ${opts.file}: using d2l's vocabulary of The Time Machine (${vocab.size} characters).`, { json: false });
    }
    const implementation = opts.impl ?? defaultImplementation(weights);
    const why = whyNot(weights, implementation);
    if (why) throw new UsageError(`--impl ${implementation}: ${why}.`);
    await startBackend();
    const { model, config } = createModelFromWeights(weights, implementation);
    const training: TrainCheckpointMeta = {
      rnnkit: VERSION,
      training: {
        epochs: 0,
        lr: D2L_TRAINING.lr,
        optimizer: D2L_TRAINING.optimizer,
        batchSize: D2L_TRAINING.batchSize,
        numSteps,
        randomIter: D2L_TRAINING.randomIter,
        maxTokens: opts.maxTokens,
        corpus: opts.corpus,
        preprocess: D2L_TRAINING.preprocess,
      },
      epoch: 0,
      loaderState: data.loader.getState(),
      history: [],
    };
    // The text's own vocabulary when it is the same (real counts rather than vocab.json's stand-ins).
    if (vocab.equals(data.vocab)) vocab = data.vocab;
    else {
      reporter.note(
        `note: ${opts.corpus ?? 'The Time Machine'} gives another vocabulary than the model's, so rnnkit train --resume needs the model's own text: import again with --corpus FILE.`,
        { json: false },
      );
    }
    const optimizer = makeOptimizer(D2L_TRAINING.optimizer, D2L_TRAINING.lr);
    try {
      const lock = await takeRunFolder(opts.out);
      try {
        await saveRunCheckpoint(checkpoint, { model, vocab, config, optimizer, training });
      } finally {
        await lock.release();
      }
    } finally {
      model.dispose();
      optimizer.dispose();
    }
    const summary: ImportSummary = {
      format,
      kind: 'language-model',
      model: describeWeights(weights),
      implementation,
      vocabulary: vocabSource,
      checkpoint,
    };
    reporter.info(`imported ${displayPath(opts.file)} (${format}: ${summary.model}) onto the ${implementation} implementation: ${displayPath(checkpoint)}/`);
    reporter.info(
      `next: ${commandFor('generate')} --checkpoint ${argumentPath(opts.out)}   (or ${commandFor('train')} --resume ${argumentPath(opts.out)} --epochs 50)`,
    );
    reporter.event('done', { ...summary });
    return summary;
  } catch (err) {
    throw userError(err);
  }
}

async function importTranslation(
  opts: ImportCommandOptions,
  state: ReturnType<typeof readSafetensors>['tensors'],
  vocabFile: { path: string; json: unknown } | null,
  checkpoint: string,
  reporter: ReturnType<typeof createReporter>,
  startBackend: () => Promise<void>,
): Promise<ImportSummary> {
  if (!vocabFile) {
    throw new UsageError(
      `${opts.file} holds d2l's encoder-decoder: give its vocabularies with --vocab FILE, a JSON object { "src": [...], "tgt": [...] } of src_vocab.idx_to_token and tgt_vocab.idx_to_token (or put vocab.json beside it).`,
    );
  }
  // The language model's options have no meaning here: refused rather than ignored.
  const lmOnly = (['impl', 'corpus', 'maxTokens'] as const).filter((k) => opts.given?.includes(k));
  if (lmOnly.length > 0) {
    throw new UsageError(
      `${lmOnly.map((k) => FLAG_OF[k]).join(', ')} ${lmOnly.length > 1 ? 'apply' : 'applies'} only to language models; ${basename(opts.file)} holds d2l's encoder-decoder: leave ${lmOnly.length > 1 ? 'them' : 'it'} out.`,
    );
  }
  const { src, tgt } = translationVocabFromJson(vocabFile.json, vocabFile.path);
  const weights = translationFromTorch(state, { file: opts.file, srcVocabSize: src.size, tgtVocabSize: tgt.size });
  const config: TranslationConfig = translationKind.checkConfig({ ...weights.options, dropout: 0, init: 'pytorch', seed: 0 });
  await startBackend();
  const model = createTranslationModel(weights);
  const numSteps = opts.numSteps ?? D2L_TRANSLATION.numSteps;
  try {
    const lock = await takeRunFolder(opts.out);
    try {
      await saveKindCheckpoint(checkpoint, translationKind, {
        model,
        config,
        vocabularies: { sourceVocab: src, targetVocab: tgt },
        training: { rnnkit: VERSION, ...D2L_TRANSLATION, numSteps, epoch: 0, imported: basename(opts.file) },
      });
    } finally {
      await lock.release();
    }
  } finally {
    model.dispose();
  }
  const o = weights.options;
  const summary: ImportSummary = {
    format: 'safetensors',
    kind: 'translation',
    model: `d2l's encoder-decoder, ${o.cell.toUpperCase()}, ${o.numLayers} layers, embedding ${o.embedSize}, hidden ${o.numHiddens}, vocabularies ${o.srcVocabSize} / ${o.tgtVocabSize}`,
    vocabulary: vocabFile.path,
    checkpoint,
  };
  reporter.info(`imported ${displayPath(opts.file)} (safetensors: ${summary.model}): ${displayPath(checkpoint)}/`);
  reporter.info(
    `num_steps ${numSteps}${opts.numSteps === undefined ? " (d2l 9.7's; give the model's own with --num-steps)" : ''}: sentences are read as ${numSteps} tokens (padded or cut) and translated to at most ${numSteps} tokens`,
  );
  reporter.info(`next: ${commandFor('translate')} --checkpoint ${argumentPath(opts.out)} --sentence "go ."`);
  reporter.event('done', { ...summary });
  return summary;
}

export interface ExportCommandOptions {
  /** A checkpoint folder, or a run folder holding checkpoint/. */
  checkpoint: string;
  format: 'safetensors' | 'onnx';
  /** The file to write; vocab.json goes beside it. */
  out: string;
  /** safetensors: d2l's concise RNNModel names or the scratch model's (default: the model's own kind). */
  style?: TorchModelStyle;
  /** Replace a vocab.json beside --out that holds another vocabulary. */
  force?: boolean;
  backend: BackendChoice;
  json: boolean;
}

export interface ExportSummary {
  format: 'safetensors' | 'onnx';
  kind: string;
  file: string;
  vocab: string;
  bytes: number;
}

const isFolder = (path: string): boolean => {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
};

/** Whether `path` holds JSON other than `value` (a file that is not JSON counts as other; no file, as not). */
function otherJson(path: string, value: unknown): boolean {
  if (!existsSync(path)) return false;
  try {
    return JSON.stringify(JSON.parse(readFileSync(path, 'utf8'))) !== JSON.stringify(value);
  } catch {
    return true;
  }
}

/** `rnnkit export`: an rnnkit checkpoint to a PyTorch state dict (safetensors, PyTorch's names) or ONNX, with vocab.json beside it. */
export async function runExport(opts: ExportCommandOptions): Promise<ExportSummary> {
  const reporter = createReporter(outputMode(opts.json));
  if (isFolder(opts.out))
    throw new UsageError(
      `--out ${opts.out} is a folder: give the file to write, e.g. --out ${join(opts.out, `model.${opts.format}`)} (vocab.json goes beside it).`,
    );
  const backend = await selectBackend(opts.backend);
  reporter.event('start', { command: 'export', backend, versions: versions(), kernels: kernelsInfo() });
  let loaded: Awaited<ReturnType<typeof loadAnyCheckpoint>>;
  try {
    loaded = await loadAnyCheckpoint(opts.checkpoint);
  } catch (err) {
    throw userError(err);
  }
  const vocabPath = join(dirname(opts.out), 'vocab.json');
  // Writing into the checkpoint's own folder would replace its files (--out model.json) or add to a
  // folder whose every file is checksummed.
  const checkpointDir = resolve(dirname(loaded.source));
  if (resolve(dirname(opts.out)) === checkpointDir) {
    loaded.model.dispose();
    throw new UsageError(
      `--out ${opts.out} is in the checkpoint folder ${checkpointDir}: write the export elsewhere (e.g. --out export/model.${opts.format}).`,
    );
  }
  let bytes: Uint8Array;
  let vocabJson: unknown;
  let what: string;
  try {
    if (loaded.kind.name === 'language-model') {
      const config = loaded.config as LanguageModelConfig;
      const vocab = loaded.vocabularies.vocab as Vocab;
      const weights = weightsOfModel(loaded.model as RecurrentLanguageModel, config);
      what = `${config.implementation} ${describeWeights(weights)}`;
      vocabJson = vocabTokens(vocab);
      if (opts.format === 'onnx') {
        if (opts.style) throw new UsageError('--style chooses the names of a safetensors state dict; ONNX has its own.');
        bytes = weightsToOnnx(weights, { vocab, producerVersion: `rnnkit ${VERSION}`, docString: `rnnkit ${what}` });
      } else {
        const style = opts.style ?? (config.implementation === 'scratch' ? 'scratch' : defaultTorchStyle(weights));
        try {
          bytes = writeSafetensors(weightsToTorch(weights, style));
        } catch (err) {
          throw new UsageError(`${loaded.source}: ${(err as Error).message}`);
        }
      }
    } else if (loaded.kind.name === 'translation') {
      if (opts.style) throw new UsageError("--style is for language models; a translation model exports with d2l's Seq2SeqEncoder/Seq2SeqDecoder names.");
      const model = loaded.model as EncoderDecoder;
      bytes =
        opts.format === 'onnx'
          ? translationWeightsToOnnx(translationWeightsOfModel(model), { producerVersion: `rnnkit ${VERSION}`, docString: "rnnkit d2l's encoder-decoder" })
          : writeSafetensors(translationToTorch(model));
      vocabJson = translationVocabJson(loaded.vocabularies.sourceVocab as Vocab, loaded.vocabularies.targetVocab as Vocab);
      what = "d2l's encoder-decoder";
    } else {
      throw new UsageError(`${loaded.source} holds ${loaded.kind.description}; rnnkit export covers language models and translation models.`);
    }
  } finally {
    loaded.model.dispose();
  }
  // vocab.json beside the file pairs with it: another model's (an earlier export into the same
  // folder) is not replaced silently, which would leave that model with this one's vocabulary.
  const vocabText = `${JSON.stringify(vocabJson)}\n`;
  if (!opts.force && otherJson(vocabPath, vocabJson)) {
    throw new UsageError(
      `${vocabPath} holds another vocabulary (of a model exported there before?): export into another folder, or pass --force to replace it.`,
    );
  }
  await mkdir(dirname(opts.out), { recursive: true });
  await writeFileAtomic(opts.out, bytes);
  await writeFileAtomic(vocabPath, vocabText);
  const summary: ExportSummary = { format: opts.format, kind: loaded.kind.name, file: opts.out, vocab: vocabPath, bytes: bytes.length };
  reporter.info(
    `exported ${displayPath(loaded.source)} (${what}) to ${displayPath(opts.out)} (${opts.format === 'onnx' ? 'ONNX opset 14' : "safetensors, PyTorch's names"}, ${bytes.length.toLocaleString('en-US')} bytes) and ${displayPath(vocabPath)}`,
  );
  reporter.event('done', { ...summary });
  return summary;
}
