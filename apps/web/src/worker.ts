// The training worker: owns the backend, the model and its data, so the page never blocks.
import * as tf from '@tensorflow/tfjs-core';
import {
  D2L_TEXT_ENCODING,
  SeqDataLoader,
  corpusFromText,
  corpusPrefix,
  createRng,
  decodeText,
  bytesIdentity,
  describeEncoding,
  seqDataEvalBatches,
  splitCorpus,
  textEncoding,
  type Corpus,
  type SeqBatch,
  type TextEncoding,
  type Vocab,
} from '@rnnkit/data';
import {
  checkpointFiles,
  generate as generateTokens,
  loadLanguageModel,
  makeOptimizer,
  predict,
  saveLanguageModel,
  textEncodingOf,
  trainCheckpointMetaOf,
  trainLanguageModel,
  type BestEpoch,
  type CheckpointSource,
  type CorpusIdentity,
  type TrainCheckpointMeta,
} from '@rnnkit/training';
import type { RecurrentLanguageModel } from '@rnnkit/cells';
import { createLanguageModel, type LanguageModelConfig } from '@rnnkit/models';
import {
  checkCharacterVocab,
  createModelFromWeights,
  describeWeights,
  isTranslationStateDict,
  looksLikeSafetensors,
  parseVocabJson,
  readSafetensors,
  vocabFromTokens,
  weightsFromTorch,
  weightsOfModel,
  weightsToTorch,
  writeSafetensors,
  type RecurrentWeights,
} from '@rnnkit/interop';
import { looksLikeOnnx, onnxToWeights, weightsToOnnx } from '@rnnkit/interop/onnx';
import { TIME_MACHINE_TEXT } from '@rnnkit/data/timemachine';
import { setupWasmBackend } from './backend.js';
import type {
  CheckpointFile,
  CorpusChoice,
  EpochPoint,
  FromWorker,
  GenerateResult,
  GenerateSettings,
  ImportedModel,
  ModelSummary,
  Request,
  TrainSettings,
  WorkerEvent,
} from './protocol.js';

const BATCH_SIZE = 32;
const NUM_STEPS = 35;
const TIME_MACHINE_PREFIX = 'time traveller';
const SAMPLE_LENGTH = 50;
const INDEXEDDB_URL = 'indexeddb://rnnkit-web-char-lm';
const TIME_MACHINE = 'The Time Machine';

/** The file a model trained on, as the checkpoint records it (`rnnkit train` records the same; the page records the file's name as its path). */
type CorpusFile = CorpusIdentity;

interface Session {
  model: RecurrentLanguageModel;
  vocab: Vocab;
  config: LanguageModelConfig;
  text: TextEncoding;
  training: TrainCheckpointMeta['training'];
  /** Null for a loaded checkpoint whose corpus is not here (it can generate, not train). */
  loader: SeqDataLoader | null;
  validation?: SeqBatch[];
  optimizer: tf.Optimizer;
  history: EpochPoint[];
  epoch: number;
  corpusName: string;
  corpusFile?: CorpusFile;
  best?: BestEpoch;
  earlyStopped?: boolean;
  /** A loaded checkpoint's loader state, kept as is when its corpus is not here. */
  loaderState?: TrainCheckpointMeta['loaderState'];
}

let session: Session | null = null;
let abort: AbortController | null = null;
let generation: AbortController | null = null;

const post = (message: FromWorker, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(message, transfer);
const emit = (event: WorkerEvent) => post({ kind: 'event', ...event });

/** The text of the chosen corpus, with clear errors for files that are empty or not text. */
async function corpusText(choice: CorpusChoice): Promise<{ name: string; text: string; file?: CorpusFile }> {
  if (choice.kind === 'timemachine') return { name: TIME_MACHINE, text: TIME_MACHINE_TEXT };
  const bytes = new Uint8Array(choice.bytes);
  if (bytes.length === 0) throw new Error(`${choice.name} is empty: pick a .txt file with some text in it.`);
  const text = decodeText(bytes);
  if (text === null) throw new Error(`${choice.name} is not a UTF-8 text file (it looks binary): pick a plain .txt file.`);
  if (text.trim() === '') throw new Error(`${choice.name} holds only white space: pick a .txt file with some text in it.`);
  return { name: choice.name, text, file: { path: choice.name, ...(await bytesIdentity(bytes)) } };
}

interface PageData {
  loader: SeqDataLoader;
  vocab: Vocab;
  corpus: Corpus;
  validation?: { corpus: Int32Array; batches: SeqBatch[] };
}

/** d2l `load_data_time_machine` on any text, as `rnnkit train` reads it, with the page's own messages for a corpus too short. */
function loadData(name: string, text: string, t: Pick<TrainSettings, 'maxTokens' | 'minFreq' | 'valFraction' | 'seed'>, encoding: TextEncoding): PageData {
  let corpus: Corpus;
  try {
    corpus = corpusFromText(text, { ...encoding, maxTokens: t.maxTokens, minFreq: t.minFreq });
  } catch (err) {
    throw new Error(`${name}: ${(err as Error).message}`);
  }
  const unit = encoding.tokens === 'word' ? 'words' : 'characters';
  const { train, validation } = splitCorpus(corpus.corpus, t.valFraction);
  const needed = NUM_STEPS * (BATCH_SIZE + 1);
  if (t.valFraction > 0 && validation.length < NUM_STEPS + 1) {
    throw new Error(
      `Validation ${Math.round(t.valFraction * 100)}% of ${corpus.corpus.length} ${unit} is ${validation.length}, fewer than one sequence of ${NUM_STEPS + 1}: raise it or max tokens.`,
    );
  }
  if (train.length < needed) {
    throw new Error(
      `${name} is too short to train on: it gives ${train.length} ${unit} ${t.valFraction > 0 ? 'to train on after validation' : 'after preprocessing'} (${describeEncoding(encoding)}${t.maxTokens ? `, max tokens ${t.maxTokens}` : ''}), ` +
        `and one minibatch of ${BATCH_SIZE} x ${NUM_STEPS} needs at least ${needed}. Use a longer text${t.maxTokens && t.maxTokens < needed ? ' or raise max tokens' : ''}.`,
    );
  }
  return {
    loader: new SeqDataLoader(train, { batchSize: BATCH_SIZE, numSteps: NUM_STEPS, seed: t.seed }),
    vocab: corpus.vocab,
    corpus,
    ...(validation.length > 0 ? { validation: { corpus: validation, batches: seqDataEvalBatches(validation, BATCH_SIZE, NUM_STEPS) } } : {}),
  };
}

function disposeSession(): void {
  session?.model.dispose();
  session?.optimizer.dispose();
  session = null;
}

const samplePrefix = (s: Session) => s.training.prefix ?? TIME_MACHINE_PREFIX;

function summary(s: Session): ModelSummary {
  const { config } = s;
  return {
    describe: `${config.implementation} ${config.cell.toUpperCase()} ${config.numHiddens}${config.numLayers > 1 ? ` x${config.numLayers}` : ''}${config.bidirectional ? ' bidirectional' : ''}`,
    cell: config.cell,
    hidden: config.numHiddens,
    vocabSize: s.vocab.size,
    epoch: s.epoch,
    epochs: s.training.epochs,
    corpus: s.corpusName,
    history: s.history,
    canContinue: s.loader !== null,
    ...(s.loader === null && s.corpusFile ? { needsCorpus: { name: s.corpusFile.path, sha256: s.corpusFile.sha256 } } : {}),
    text: describeEncoding(s.text),
    tokens: s.text.tokens,
    prefix: samplePrefix(s),
    ...(s.best ? { best: s.best } : {}),
    ...(s.earlyStopped ? { earlyStopped: true } : {}),
  };
}

function checkSettings(t: TrainSettings): void {
  const whole = (name: string, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min) throw new Error(`${name} must be a whole number >= ${min}, got ${String(v)}.`);
  };
  whole('Hidden size', t.hidden, 1);
  whole('Epochs', t.epochs, 1);
  whole('Max tokens', t.maxTokens, 0);
  whole('Min freq', t.minFreq, 0);
  whole('Sample every', t.sampleEvery, 1);
  if (t.patience !== undefined) whole('Patience', t.patience, 1);
  if (!(t.lr > 0) || !Number.isFinite(t.lr)) throw new Error(`The learning rate must be a number > 0, got ${String(t.lr)}.`);
  if (!(t.valFraction >= 0 && t.valFraction <= 0.5)) throw new Error(`Validation must be from 0% to 50%, got ${String(t.valFraction * 100)}%.`);
  if (t.patience !== undefined && t.valFraction === 0) throw new Error('Patience stops on validation perplexity: set Validation % above 0 too.');
}

async function train(choice: CorpusChoice, t: TrainSettings): Promise<ModelSummary> {
  checkSettings(t);
  const { name, text, file } = await corpusText(choice);
  const encoding = textEncoding({ preprocess: t.preprocess, tokens: t.tokens });
  const data = loadData(name, text, t, encoding);
  const prefix =
    t.prefix.trim() !== '' ? t.prefix : choice.kind === 'timemachine' ? TIME_MACHINE_PREFIX : corpusPrefix(data.corpus.corpus, data.vocab, encoding);
  emit({
    type: 'corpus',
    name,
    tokens: data.corpus.corpus.length,
    total: data.corpus.totalTokens,
    validation: data.validation?.corpus.length ?? 0,
    unit: encoding.tokens === 'word' ? 'words' : 'characters',
    vocabSize: data.vocab.size,
    prefix,
    prefixChosen: t.prefix.trim() === '' && choice.kind === 'file',
  });
  disposeSession();
  const config: LanguageModelConfig = {
    cell: t.cell,
    implementation: 'fused',
    numHiddens: t.hidden,
    numLayers: 1,
    bidirectional: false,
    vocabSize: data.vocab.size,
    seed: t.seed,
    text: encoding,
  };
  session = {
    model: createLanguageModel(config),
    vocab: data.vocab,
    config,
    text: encoding,
    training: {
      epochs: t.epochs,
      lr: t.lr,
      optimizer: 'sgd',
      batchSize: BATCH_SIZE,
      numSteps: NUM_STEPS,
      randomIter: false,
      maxTokens: t.maxTokens,
      ...(choice.kind === 'file' ? { corpus: name } : {}),
      preprocess: t.preprocess,
      tokens: t.tokens,
      minFreq: t.minFreq,
      valFraction: t.valFraction,
      ...(t.patience === undefined ? {} : { patience: t.patience }),
      ...(choice.kind === 'file' || t.prefix.trim() !== '' ? { prefix } : {}),
    },
    loader: data.loader,
    validation: data.validation?.batches,
    optimizer: makeOptimizer('sgd', t.lr),
    history: [],
    epoch: 0,
    corpusName: name,
    ...(file ? { corpusFile: file } : {}),
  };
  sampleEvery = t.sampleEvery;
  return run(session);
}

let sampleEvery = 10;

/** Trains the session up to its `training.epochs`; Stop aborts after the current minibatch. */
async function run(s: Session): Promise<ModelSummary> {
  if (!s.loader) {
    throw new Error(
      s.corpusFile
        ? `This model trained on ${s.corpusFile.path}: choose that file again (as your own .txt file) to train it further.`
        : `This model's corpus (${s.corpusName}) is not loaded here, so it can generate but not train further.`,
    );
  }
  abort = new AbortController();
  s.earlyStopped = false;
  try {
    const result = await trainLanguageModel(s.model, s.loader, {
      epochs: s.training.epochs,
      lr: s.training.lr,
      optimizer: s.optimizer,
      theta: 1,
      startEpoch: s.epoch,
      signal: abort.signal,
      validation: s.validation,
      patience: s.training.patience,
      best: s.best,
      onEpochEnd: ({ epoch, epochs, perplexity, tokensPerSecond, seconds, validationPerplexity, best }) => {
        const point = { epoch, perplexity, tokensPerSecond, seconds, ...(validationPerplexity === undefined ? {} : { validationPerplexity }) };
        s.history.push(point);
        s.epoch = epoch;
        s.best = best;
        emit({ type: 'epoch', point, epochs });
        if (epoch % sampleEvery === 0 || epoch === epochs)
          emit({ type: 'sample', epoch, text: predict(s.model, s.vocab, samplePrefix(s), SAMPLE_LENGTH, { text: s.text }).text });
      },
    });
    s.earlyStopped = result.earlyStopped;
  } finally {
    abort = null;
  }
  return summary(s);
}

/** Streams a continuation: the text so far goes to the page as it grows; Stop ends it. */
async function generate(g: GenerateSettings): Promise<GenerateResult> {
  const s = current();
  if (g.prefix.length === 0) throw new Error('The prefix is empty: type at least one character to start from.');
  if (!Number.isInteger(g.length) || g.length < 1 || g.length > 10000)
    throw new Error(`The length must be a whole number from 1 to 10000, got ${String(g.length)}.`);
  if (g.temperature !== undefined && !(g.temperature > 0)) throw new Error(`The temperature must be a number > 0, got ${String(g.temperature)}.`);
  if (g.topK !== undefined && (!Number.isInteger(g.topK) || g.topK < 1)) throw new Error(`Top-k must be a whole number >= 1, got ${String(g.topK)}.`);
  const mode = g.temperature !== undefined || g.topK !== undefined ? 'sample' : 'greedy';
  generation?.abort();
  const stop = new AbortController();
  generation = stop;
  const stream = generateTokens(s.model, s.vocab, g.prefix, {
    mode,
    temperature: g.temperature,
    topK: g.topK,
    rng: createRng(g.seed),
    text: s.text,
    length: g.length,
  });
  emit({ type: 'generated', text: stream.text });
  let shown = performance.now();
  try {
    for await (const _ of stream) {
      if (stop.signal.aborted) break;
      // At most every 30 ms: the page shows the text as it grows without a message per token.
      if (performance.now() - shown > 30) {
        emit({ type: 'generated', text: stream.text });
        shown = performance.now();
      }
    }
  } finally {
    if (generation === stop) generation = null;
  }
  emit({ type: 'generated', text: stream.text });
  return { text: stream.text, unknownTokens: [...stream.unknownTokens], prefix: stream.prefix, stopped: stream.tokens.length < g.length };
}

/** What `rnnkit train` stores beside the model, so `rnnkit train --resume` can go on from a page's checkpoint. */
function trainingRecord(s: Session): TrainCheckpointMeta {
  return {
    rnnkit: 'web',
    training: s.training,
    ...(s.corpusFile ? { corpusFile: s.corpusFile } : {}),
    epoch: s.epoch,
    loaderState: s.loader ? s.loader.getState() : s.loaderState!,
    history: s.history,
    ...(s.best ? { best: s.best } : {}),
  };
}

function current(): Session {
  if (!session) throw new Error('No model yet: train one or load a checkpoint first.');
  return session;
}

async function save(destination: string | tf.io.IOHandler, optimizerDestination?: tf.io.IOHandler): Promise<void> {
  const s = current();
  await saveLanguageModel(
    destination,
    { model: s.model, vocab: s.vocab, config: s.config, optimizer: s.optimizer, training: trainingRecord(s) },
    { optimizerDestination },
  );
}

/** The checkpoint as the files of `rnnkit train`'s folder (a worker has no `document` to download with). */
async function exportFiles(): Promise<CheckpointFile[]> {
  const captured: Partial<Record<'model' | 'optimizer', tf.io.ModelArtifacts>> = {};
  const capture = (stem: 'model' | 'optimizer') =>
    tf.io.withSaveHandler(async (artifacts) => {
      captured[stem] = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    });
  await save(capture('model'), capture('optimizer'));
  const files = [...checkpointFiles(captured.model!, 'model'), ...(captured.optimizer ? checkpointFiles(captured.optimizer, 'optimizer') : [])];
  const order = ['model.json', 'weights.bin', 'optimizer.json', 'optimizer.bin'];
  files.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
  return files.map((f) => ({
    name: f.name,
    data: f.bytes.buffer.slice(f.bytes.byteOffset, f.bytes.byteOffset + f.bytes.byteLength) as ArrayBuffer,
    type: f.name.endsWith('.json') ? 'application/json' : 'application/octet-stream',
  }));
}

/** The data a checkpoint's record trained on, at its saved place, when the page has the text and trains the same way; else null. */
function resumeData(record: TrainCheckpointMeta | undefined, text: string, encoding: TextEncoding, vocab: Vocab, seed: number): PageData | null {
  if (!record) return null;
  const t = record.training;
  if (t.batchSize !== BATCH_SIZE || t.numSteps !== NUM_STEPS || t.randomIter || (t.lrSchedule !== undefined && t.lrSchedule.kind !== 'constant')) return null;
  let data: PageData;
  try {
    data = loadData(
      record.corpusFile?.path ?? TIME_MACHINE,
      text,
      { maxTokens: t.maxTokens, minFreq: t.minFreq ?? 0, valFraction: t.valFraction ?? 0, seed },
      encoding,
    );
  } catch {
    return null;
  }
  if (!data.vocab.equals(vocab)) return null;
  data.loader.setState(record.loaderState);
  return data;
}

async function load(source: Request & { type: 'load' }): Promise<ModelSummary> {
  let from: CheckpointSource;
  if (source.source.kind === 'indexeddb') {
    if (!(INDEXEDDB_URL in (await tf.io.listModels())))
      throw new Error('No checkpoint is saved in this browser yet: train a model and press "Save in browser".');
    from = INDEXEDDB_URL;
  } else if (source.source.kind === 'files') {
    from = source.source.files;
  } else {
    const url = source.source.url;
    if (!/^https?:\/\//i.test(url)) throw new Error(`${url} is not an http(s):// URL: give the address of a checkpoint's model.json or of its folder.`);
    from = url;
  }
  // The training record, checked once, by the optimizer's maker (which the loader always calls).
  let record: TrainCheckpointMeta | undefined;
  const loaded = await loadLanguageModel(from, {
    optimizer: (training) => {
      record = trainCheckpointMetaOf(training);
      return makeOptimizer(record?.training.optimizer ?? 'sgd', record?.training.lr ?? 1);
    },
  });
  const text = textEncodingOf(loaded);
  const training: TrainCheckpointMeta['training'] = record
    ? { ...record.training }
    : { epochs: 0, lr: 1, optimizer: 'sgd', batchSize: BATCH_SIZE, numSteps: NUM_STEPS, randomIter: false, maxTokens: 10000 };
  // The Time Machine is here, so its checkpoints can go on training (with their optimizer state);
  // a file's can once that file is chosen again (attachCorpus).
  const data = training.corpus === undefined ? resumeData(record, TIME_MACHINE_TEXT, text, loaded.vocab, loaded.config.seed) : null;
  disposeSession();
  session = {
    model: loaded.model,
    vocab: loaded.vocab,
    config: loaded.config,
    text,
    training,
    loader: data?.loader ?? null,
    validation: data?.validation?.batches,
    optimizer: loaded.optimizer ?? makeOptimizer('sgd', training.lr),
    history: [...(record?.history ?? [])],
    epoch: record?.epoch ?? 0,
    corpusName: training.corpus ?? TIME_MACHINE,
    ...(record?.corpusFile ? { corpusFile: record.corpusFile } : {}),
    ...(record?.best ? { best: record.best } : {}),
    loaderState: record?.loaderState,
  };
  return summary(session);
}

/** d2l's chapter 8 settings: what an imported model trains on with Continue (on The Time Machine, when its vocabulary is that text's). */
const D2L_TRAINING: TrainCheckpointMeta['training'] = {
  epochs: 0,
  lr: 1,
  optimizer: 'sgd',
  batchSize: BATCH_SIZE,
  numSteps: NUM_STEPS,
  randomIter: false,
  maxTokens: 10000,
};

/**
 * A PyTorch model chosen as files: a .safetensors state dict (d2l's RNNModel or scratch model) or
 * a torch.onnx.export .onnx file, told apart by content, and its vocab.json (d2l's idx_to_token).
 */
async function importPytorch(files: File[]): Promise<ImportedModel> {
  const read = await Promise.all(files.map(async (f) => ({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) })));
  const models = read.filter((f) => looksLikeSafetensors(f.bytes) || looksLikeOnnx(f.bytes));
  const jsons = read.filter((f) => f.name.toLowerCase().endsWith('.json'));
  if (models.length !== 1) {
    throw new Error(
      models.length === 0
        ? `None of ${read.map((f) => f.name).join(', ')} is a safetensors or ONNX model: choose the model's .safetensors (or .onnx) file and its vocab.json together.`
        : `Choose one model file at a time (got ${models.map((f) => f.name).join(', ')}).`,
    );
  }
  if (jsons.length > 1) throw new Error(`Choose one vocab.json with the model (got ${jsons.map((f) => f.name).join(', ')}).`);
  const file = models[0]!;
  let vocab: Vocab | null = null;
  let vocabulary = '';
  if (jsons[0]) {
    vocab = parseVocabJson(new TextDecoder().decode(jsons[0].bytes), jsons[0].name);
    checkCharacterVocab(vocab, jsons[0].name, 'this page');
    vocabulary = jsons[0].name;
  }
  let weights: RecurrentWeights;
  const format = looksLikeSafetensors(file.bytes) ? 'safetensors' : 'ONNX';
  if (format === 'safetensors') {
    const state = readSafetensors(file.bytes, file.name).tensors;
    if (isTranslationStateDict(state))
      throw new Error(`${file.name} holds d2l's encoder-decoder: this page runs language models (rnnkit import reads it for rnnkit translate).`);
    weights = weightsFromTorch(state, { file: file.name, vocabSize: vocab?.size });
  } else {
    const onnx = onnxToWeights(file.bytes, { file: file.name, vocabSize: vocab?.size });
    weights = onnx.weights;
    if (!vocab && onnx.vocabTokens !== undefined) {
      vocab = vocabFromTokens(onnx.vocabTokens, `${file.name}'s metadata`);
      vocabulary = `${file.name}'s metadata`;
      checkCharacterVocab(vocab, vocabulary, 'this page');
    }
  }
  const timeMachine = loadData(TIME_MACHINE, TIME_MACHINE_TEXT, { maxTokens: D2L_TRAINING.maxTokens, minFreq: 0, valFraction: 0, seed: 0 }, D2L_TEXT_ENCODING);
  if (!vocab) {
    if (weights.vocabSize !== timeMachine.vocab.size)
      throw new Error(`${file.name}'s model has ${weights.vocabSize} tokens: choose its vocab.json (d2l's vocab.idx_to_token) together with it.`);
    vocab = timeMachine.vocab;
    vocabulary = "d2l's vocabulary of The Time Machine (no vocab.json chosen)";
  }
  if (vocab.size !== weights.vocabSize) throw new Error(`${vocabulary} has ${vocab.size} tokens but ${file.name}'s model ${weights.vocabSize}.`);
  const onTimeMachine = vocab.equals(timeMachine.vocab);
  const { model, config } = createModelFromWeights(weights);
  disposeSession();
  session = {
    model,
    vocab: onTimeMachine ? timeMachine.vocab : vocab,
    config,
    text: D2L_TEXT_ENCODING,
    training: { ...D2L_TRAINING },
    loader: onTimeMachine ? timeMachine.loader : null,
    optimizer: makeOptimizer('sgd', D2L_TRAINING.lr),
    history: [],
    epoch: 0,
    corpusName: onTimeMachine ? TIME_MACHINE : file.name,
  };
  return { summary: summary(session), describe: `${file.name} (${format}): ${describeWeights(weights)}`, vocabulary };
}

/** The model as PyTorch or ONNX Runtime takes it, and vocab.json beside it. */
function exportModel(format: 'onnx' | 'safetensors'): CheckpointFile[] {
  const s = current();
  const weights = weightsOfModel(s.model, s.config);
  const bytes =
    format === 'onnx'
      ? weightsToOnnx(weights, { vocab: s.vocab, producerVersion: 'rnnkit web' })
      : writeSafetensors(weightsToTorch(weights, s.config.implementation === 'scratch' ? 'scratch' : undefined));
  return [
    {
      name: format === 'onnx' ? 'model.onnx' : 'model.safetensors',
      data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
      type: 'application/octet-stream',
    },
    { name: 'vocab.json', data: JSON.stringify(s.vocab.idxToToken), type: 'application/json' },
  ];
}

/**
 * The same text chosen again for a loaded model that trained on a file: when its SHA-256 is the
 * one the checkpoint recorded, the model can train on from where it stopped.
 */
async function attachCorpus(choice: CorpusChoice & { kind: 'file' }): Promise<ModelSummary> {
  const s = current();
  if (s.loader) return summary(s);
  if (!s.corpusFile)
    throw new Error(`This checkpoint does not record its corpus' SHA-256, so the page cannot tell the file it trained on: it can generate, not train further.`);
  const { text, file } = await corpusText(choice);
  if (file?.sha256 !== s.corpusFile.sha256) {
    throw new Error(
      `${choice.name} is not the text this model trained on: its SHA-256 is ${file?.sha256}, the checkpoint's corpus (${s.corpusFile.path}) has ${s.corpusFile.sha256}.`,
    );
  }
  const data = resumeData(trainCheckpointMetaOf(trainingRecord(s)), text, s.text, s.vocab, s.config.seed);
  if (!data)
    throw new Error(
      `${choice.name} is the same text, but this checkpoint trained with settings the page does not have (minibatches of ${s.training.batchSize} x ${s.training.numSteps}${s.training.randomIter ? ', random' : ''}): continue it with rnnkit train --resume.`,
    );
  s.loader = data.loader;
  s.validation = data.validation?.batches;
  return summary(s);
}

async function handle(req: Request): Promise<unknown> {
  switch (req.type) {
    case 'init':
      return setupWasmBackend();
    case 'train':
      return train(req.corpus, req.settings);
    case 'continue': {
      if (!session) throw new Error('No model yet: train one or load a checkpoint first.');
      if (!Number.isInteger(req.epochs) || req.epochs < 1) throw new Error(`Epochs must be a whole number >= 1, got ${String(req.epochs)}.`);
      session.training.epochs = Math.max(req.epochs, session.epoch + 1);
      return run(session);
    }
    case 'stop':
      abort?.abort();
      return null;
    case 'generate':
      return generate(req.settings);
    case 'stop-generate':
      generation?.abort();
      return null;
    case 'attach-corpus':
      return attachCorpus(req.corpus);
    case 'save':
      await save(INDEXEDDB_URL);
      return null;
    case 'export':
      return exportFiles();
    case 'load':
      return load(req);
    case 'import-pytorch':
      return importPytorch(req.files);
    case 'export-model':
      return exportModel(req.format);
    case 'saved-info': {
      const models = await tf.io.listModels();
      const info = models[INDEXEDDB_URL];
      return info ? { savedAt: info.dateSaved.toISOString(), bytes: info.weightDataBytes } : null;
    }
  }
}

self.onmessage = (e: MessageEvent<Request & { id: number }>) => {
  const { id, ...req } = e.data;
  handle(req as Request).then(
    (result) => post({ kind: 'reply', id, ok: true, result }),
    (err: unknown) => post({ kind: 'reply', id, ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
};
