// Saving and loading language models in TensorFlow.js's own file format, in Node and in browsers.
// This module uses no Node built-ins: the file-system part lives in ./node.ts.
import * as tf from '@tensorflow/tfjs-core';
import { assignVariables, type RecurrentLanguageModel } from '@rnnkit/cells';
import { Vocab, type VocabJSON } from '@rnnkit/data';
import { checkLanguageModelConfig, createLanguageModel, type LanguageModelConfig } from '@rnnkit/models';

/** `model.json`'s `format`: what tells an rnnkit checkpoint from other TensorFlow.js models. */
export const CHECKPOINT_FORMAT = 'rnnkit-checkpoint';
/** Version of the `userDefinedMetadata.rnnkit` layout (1: the CLI's first layout, with no checksums). */
const LAYOUT_VERSION = 2;

/** Where a checkpoint goes or comes from: a TensorFlow.js IO handler or a URL string. */
export type CheckpointDestination = string | tf.io.IOHandler;
/**
 * `string`: `indexeddb://`, `localstorage://`, `http(s)://` URLs and, in Node with
 * `@rnnkit/training/node`, a folder, a `model.json` path or a `file://` URL. Browser `File`s: the
 * `.json` file and the weight files it names (optimizer files too, to resume).
 */
export type CheckpointSource = string | tf.io.IOHandler | ArrayLike<File>;

/** What `saveLanguageModel` stores. */
export interface LanguageModelCheckpoint {
  model: RecurrentLanguageModel;
  vocab: Vocab;
  config: LanguageModelConfig;
  /** Saved too, so training can continue exactly (Adam included). */
  optimizer?: tf.Optimizer;
  /** Any JSON the caller needs to resume (epoch, data-loader state, history...). */
  training?: unknown;
}

export interface SaveLanguageModelOptions {
  /**
   * Where the optimizer's state goes when the destination is an IO handler object. A string
   * destination derives it: the same folder (`optimizer.json`), or `<url>.optimizer`.
   */
  optimizerDestination?: CheckpointDestination;
}

export interface LoadLanguageModelOptions {
  /**
   * Restores the saved optimizer state into this optimizer (of the same class as the saved
   * one), exactly, Adam's running beta powers included; a function builds it from the saved
   * training record first. Without it the optimizer files are not read at all.
   */
  optimizer?: tf.Optimizer | ((training: unknown) => tf.Optimizer);
  /** Where the optimizer's state is when the source is an IO handler object. */
  optimizerSource?: CheckpointSource;
  /** What error messages call an IO handler object source (default "the checkpoint"). */
  name?: string;
}

export interface LoadedLanguageModel {
  /** Built from `config` with the saved weights; the caller disposes it. */
  model: RecurrentLanguageModel;
  vocab: Vocab;
  config: LanguageModelConfig;
  training?: unknown;
  /** `options.optimizer` (the one built, when it was a function). */
  optimizer?: tf.Optimizer;
  /** Whether `optimizer` got saved state (false: the checkpoint has none). */
  optimizerRestored: boolean;
  /** Where it was read from (for messages). */
  source: string;
}

/** A bad or unreadable checkpoint file; the message names the file and the problem. */
export class CheckpointError extends Error {
  constructor(
    /** The file (path or URL) at fault. */
    readonly file: string,
    message: string,
  ) {
    super(message);
    this.name = 'CheckpointError';
  }
}

const corrupt = (file: string, problem: string) => new CheckpointError(file, `Corrupt checkpoint: ${file} ${problem}`);

// ---------------------------------------------------------------------------------------------
// Checksums: SHA-256 through Web Crypto (crypto.subtle), in Node 20+ and every browser.

async function sha256(bytes: Uint8Array | ArrayBuffer): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new Error('Checkpoints need Web Crypto (crypto.subtle): Node 20+, or a browser page served over https or localhost.');
  const digest = new Uint8Array(await subtle.digest('SHA-256', bytes as BufferSource));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

type Spec = tf.io.WeightsManifestEntry;

/**
 * The checksum of what model.json says: rnnkit's metadata (minus the checksums) and the weights'
 * names, shapes and types, so an edited vocabulary or a renamed weight is caught like a flipped byte.
 */
function manifestDigest(meta: Record<string, unknown>, specs: Spec[]): Promise<string> {
  const { integrity: _, ...rest } = meta;
  const weights = specs.map(({ name, shape, dtype }) => ({ name, shape, dtype }));
  return sha256(new TextEncoder().encode(JSON.stringify({ rnnkit: rest, weights })));
}

interface Integrity {
  algorithm: 'SHA-256';
  /** Of the weight bytes (weights.bin). */
  weights: string;
  /** Of the metadata and weight specs (see manifestDigest). */
  manifest: string;
}

async function withIntegrity(meta: Record<string, unknown>, specs: Spec[], data: ArrayBuffer): Promise<Record<string, unknown>> {
  const integrity: Integrity = { algorithm: 'SHA-256', weights: await sha256(data), manifest: await manifestDigest(meta, specs) };
  return { ...meta, integrity };
}

// ---------------------------------------------------------------------------------------------
// Saving

function artifactsOf(specs: Spec[], data: ArrayBuffer, rnnkit: Record<string, unknown>): tf.io.ModelArtifacts {
  return {
    format: CHECKPOINT_FORMAT,
    generatedBy: `TensorFlow.js tfjs-core v${tf.version_core}`,
    convertedBy: null,
    modelTopology: null as unknown as object,
    weightSpecs: specs,
    weightData: data,
    userDefinedMetadata: { rnnkit },
  };
}

interface AdamInternals {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
}
// tf.train.adam keeps beta1^t and beta2^t as running products; its setWeights recomputes them as
// pow(beta, t + 1), which differs in the last bits. Saving the products makes resume bit-exact.
const adamInternals = (o: tf.Optimizer): AdamInternals | null =>
  o instanceof tf.AdamOptimizer && (o as unknown as AdamInternals).accBeta1 instanceof tf.Variable ? (o as unknown as AdamInternals) : null;

async function encodeModel(c: LanguageModelCheckpoint): Promise<tf.io.ModelArtifacts> {
  const config = checkLanguageModelConfig(c.config);
  if (!(c.vocab instanceof Vocab)) throw new TypeError('saveLanguageModel: vocab must be a Vocab.');
  if (c.vocab.size !== config.vocabSize)
    throw new Error(`saveLanguageModel: the vocabulary has ${c.vocab.size} tokens but config.vocabSize is ${config.vocabSize}.`);
  if (c.model.vocabSize !== config.vocabSize)
    throw new Error(`saveLanguageModel: the model's vocabSize is ${c.model.vocabSize} but config.vocabSize is ${config.vocabSize}.`);
  const { data, specs } = await tf.io.encodeWeights(c.model.namedVariables());
  const meta: Record<string, unknown> = { kind: 'language-model', layout: LAYOUT_VERSION, config, vocab: c.vocab.toJSON() };
  if (c.training !== undefined) meta.training = c.training;
  return artifactsOf(specs, data, await withIntegrity(meta, specs, data));
}

async function encodeOptimizer(optimizer: tf.Optimizer, modelWeights: string): Promise<tf.io.ModelArtifacts> {
  const weights = await optimizer.getWeights();
  const { data, specs } = await tf.io.encodeWeights(weights);
  const meta: Record<string, unknown> = { kind: 'optimizer', layout: LAYOUT_VERSION, optimizer: optimizer.getClassName(), modelWeights };
  const adam = adamInternals(optimizer);
  if (adam) meta.adamBetaPowers = [adam.accBeta1.dataSync()[0], adam.accBeta2.dataSync()[0]];
  return artifactsOf(specs, data, await withIntegrity(meta, specs, data));
}

/** One file of a checkpoint folder. */
export interface CheckpointFile {
  name: string;
  bytes: Uint8Array;
}

/** `model.json` and `weights.bin` (or `optimizer.json` and `optimizer.bin`): the files of a checkpoint folder. */
export function checkpointFiles(artifacts: tf.io.ModelArtifacts, stem: 'model' | 'optimizer'): CheckpointFile[] {
  const bin = stem === 'model' ? 'weights.bin' : 'optimizer.bin';
  const json = {
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy ?? null,
    modelTopology: artifacts.modelTopology ?? null,
    weightsManifest: [{ paths: [bin], weights: artifacts.weightSpecs ?? [] }],
    userDefinedMetadata: artifacts.userDefinedMetadata,
  };
  return [
    { name: bin, bytes: new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? new ArrayBuffer(0))) },
    { name: `${stem}.json`, bytes: new TextEncoder().encode(JSON.stringify(json)) },
  ];
}

/**
 * Where string paths go in this environment: `@rnnkit/training/node` installs a file system for
 * folders, `model.json` paths and `file://` URLs. Browsers have none.
 */
export interface CheckpointFileSystem {
  /** Writes the files as one complete folder at `path` (crash-safe: never a half-written folder). */
  writeFolder(path: string, files: CheckpointFile[]): Promise<void>;
  /** Opens a folder, a run folder holding `checkpoint/`, or a `.json` file. */
  open(path: string): Promise<{ reader: CheckpointFileReader; modelJson: string }>;
}

let fileSystem: CheckpointFileSystem | null = null;

/** Installs where string paths that are not URLs are saved and loaded (Node: `@rnnkit/training/node`). */
export function setCheckpointFileSystem(fs: CheckpointFileSystem | null): void {
  fileSystem = fs;
}

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;
const isFileLike = (s: string) => !SCHEME.test(s) || /^file:\/\//i.test(s);

function needFileSystem(path: string): CheckpointFileSystem {
  if (!fileSystem) {
    throw new Error(
      `${JSON.stringify(path)} is a file path, and this environment has no file system for checkpoints: in Node, import from '@rnnkit/training/node'; in a browser, use an indexeddb://, downloads:// or http(s):// URL, or File objects.`,
    );
  }
  return fileSystem;
}

function saveHandler(url: string): tf.io.IOHandler {
  const handlers = tf.io.getSaveHandlers(url);
  if (handlers.length === 0)
    throw new Error(`Nothing here saves to ${url}: use indexeddb://, localstorage://, downloads:// or an http(s):// URL (or a folder in Node).`);
  return handlers[0] as tf.io.IOHandler;
}

/** `indexeddb://name` -> `indexeddb://name.optimizer`; `downloads://name` -> `name.optimizer.json`. */
const optimizerUrl = (url: string) => `${url.replace(/\/+$/, '')}.optimizer`;

/**
 * Saves a language model, its vocabulary and its config (and optionally its optimizer's state
 * and the caller's training state) in the format of `rnnkit train`'s checkpoints: `model.json`
 * (a TensorFlow.js weights manifest with rnnkit's metadata and SHA-256 checksums) and
 * `weights.bin`, plus `optimizer.json`/`optimizer.bin` with an optimizer.
 *
 * `destination`: any TensorFlow.js IO handler, or a URL (`indexeddb://`, `localstorage://`,
 * `downloads://`, `http(s)://`); in Node with `@rnnkit/training/node`, a folder (written whole
 * under a temporary name, then renamed into place) or a `file://` URL.
 */
export async function saveLanguageModel(
  destination: CheckpointDestination,
  checkpoint: LanguageModelCheckpoint,
  options: SaveLanguageModelOptions = {},
): Promise<void> {
  const model = await encodeModel(checkpoint);
  const optimizer = checkpoint.optimizer ? await encodeOptimizer(checkpoint.optimizer, integrityOf(model).weights) : null;
  if (typeof destination === 'string' && isFileLike(destination)) {
    const files = [...checkpointFiles(model, 'model'), ...(optimizer ? checkpointFiles(optimizer, 'optimizer') : [])];
    // The weight files first, model.json last: a folder with a model.json is complete.
    files.sort((a, b) => Number(a.name === 'model.json') - Number(b.name === 'model.json'));
    await needFileSystem(destination).writeFolder(destination, files);
    return;
  }
  const handler = typeof destination === 'string' ? saveHandler(destination) : destination;
  let optimizerHandler: tf.io.IOHandler | null = null;
  if (optimizer) {
    const where = options.optimizerDestination ?? (typeof destination === 'string' ? optimizerUrl(destination) : undefined);
    if (where === undefined) throw new Error('saveLanguageModel: with an optimizer and an IO handler object, pass optimizerDestination too.');
    optimizerHandler = typeof where === 'string' ? saveHandler(where) : where;
  }
  if (!handler.save) throw new Error('saveLanguageModel: this IO handler cannot save (it has no save method).');
  // The optimizer first: a model whose optimizer state is missing still generates.
  if (optimizer && optimizerHandler) {
    if (!optimizerHandler.save) throw new Error('saveLanguageModel: the optimizer IO handler cannot save.');
    await optimizerHandler.save(optimizer);
  }
  await handler.save(model);
}

const integrityOf = (a: tf.io.ModelArtifacts) => (a.userDefinedMetadata as { rnnkit: { integrity: Integrity } }).rnnkit.integrity;

// ---------------------------------------------------------------------------------------------
// Reading files: a folder (Node), a URL (fetch) or browser File objects.

/** Reads the files of one checkpoint folder, by name relative to it. */
export interface CheckpointFileReader {
  /** How messages name a file of the checkpoint (its full path or URL). */
  describe(file: string): string;
  /**
   * The file's bytes, or undefined when it does not exist. Throws a `CheckpointError` naming
   * the file when it exists but cannot be read (permissions...).
   */
  read(file: string): Promise<Uint8Array | undefined>;
}

function urlReader(base: string): CheckpointFileReader {
  const resolve = (file: string) => new URL(file, base).href;
  return {
    describe: resolve,
    async read(file) {
      const url = resolve(file);
      let response: Response;
      try {
        response = await fetch(url);
      } catch (err) {
        throw new CheckpointError(url, `${url} is unreadable: the request failed (${(err as Error).message}).`);
      }
      if (response.status === 404) return undefined;
      if (!response.ok) throw new CheckpointError(url, `${url} is unreadable: HTTP ${response.status} ${response.statusText}.`);
      return new Uint8Array(await response.arrayBuffer());
    },
  };
}

function filesReader(files: ArrayLike<File>): { reader: CheckpointFileReader; modelJson: string } {
  const byName = new Map(Array.from(files, (f) => [f.name, f] as const));
  const jsons = [...byName.keys()].filter((n) => n.endsWith('.json') && !n.endsWith('optimizer.json'));
  if (jsons.length !== 1) {
    throw new CheckpointError(
      'the selected files',
      `Pick one model .json file and its weight file(s) (got ${jsons.length ? jsons.join(', ') : 'no .json file'}).`,
    );
  }
  return {
    modelJson: jsons[0] as string,
    reader: {
      describe: (file) => file,
      async read(file) {
        const f = byName.get(file);
        if (!f) return undefined;
        try {
          return new Uint8Array(await f.arrayBuffer());
        } catch (err) {
          throw new CheckpointError(file, `${file} is unreadable (${(err as Error).message}).`);
        }
      },
    },
  };
}

/** `model.json` -> `optimizer.json`; `name.json` (a `downloads://name`) -> `name.optimizer.json`. */
const optimizerJsonFor = (modelJson: string) => (modelJson === 'model.json' ? 'optimizer.json' : modelJson.replace(/\.json$/, '.optimizer.json'));

// A manifest may only name files beside it: no folders, no '..', no URLs, no absolute paths.
const SAFE_PATH = /^(?:\.\/)?([^/\\:]+)$/;

/** Reads `<json>` and the weight files its manifest names, as ModelArtifacts (validated). */
async function readArtifacts(reader: CheckpointFileReader, jsonFile: string): Promise<{ artifacts: tf.io.ModelArtifacts; weightsFile: string } | undefined> {
  const jsonName = reader.describe(jsonFile);
  const bytes = await reader.read(jsonFile);
  if (!bytes) return undefined;
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as Record<string, unknown>;
  } catch {
    throw corrupt(jsonName, 'is not valid JSON.');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw corrupt(jsonName, 'is not a JSON object.');
  if (json.format !== CHECKPOINT_FORMAT)
    throw corrupt(jsonName, `is not an rnnkit checkpoint (its format is ${JSON.stringify(json.format ?? null)}, not "${CHECKPOINT_FORMAT}").`);
  const manifest = json.weightsManifest;
  if (!Array.isArray(manifest) || manifest.length === 0) throw corrupt(jsonName, 'is not an rnnkit checkpoint (no weightsManifest).');
  const specs: Spec[] = [];
  const paths: string[] = [];
  for (const group of manifest as unknown[]) {
    const g = group as { paths?: unknown; weights?: unknown } | null;
    if (!g || !Array.isArray(g.paths) || !Array.isArray(g.weights)) throw corrupt(jsonName, 'has a weightsManifest entry without paths and weights.');
    for (const p of g.paths as unknown[]) {
      const m = typeof p === 'string' ? SAFE_PATH.exec(p) : null;
      if (!m || m[1] === '.' || m[1] === '..') throw corrupt(jsonName, `names the weight file ${JSON.stringify(p)}, which is not a file beside it.`);
      paths.push(m[1] as string);
    }
    specs.push(...(g.weights as Spec[]));
  }
  checkSpecs(specs, jsonName);
  const weightsFile = paths[0] ?? '';
  const chunks: Uint8Array[] = [];
  for (const p of paths) {
    const chunk = await reader.read(p);
    if (!chunk) throw corrupt(reader.describe(p), 'is missing.');
    chunks.push(chunk);
  }
  const total = chunks.reduce((n, c) => n + c.byteLength, 0);
  const data = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    data.set(c, at);
    at += c.byteLength;
  }
  const artifacts: tf.io.ModelArtifacts = {
    format: json.format as string,
    weightSpecs: specs,
    weightData: data.buffer,
    userDefinedMetadata: json.userDefinedMetadata as tf.io.ModelArtifacts['userDefinedMetadata'],
  };
  return { artifacts, weightsFile: reader.describe(weightsFile) };
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4 };

function checkSpecs(specs: unknown[], file: string): asserts specs is Spec[] {
  const seen = new Set<string>();
  for (const s of specs) {
    const spec = s as Partial<Spec> | null;
    if (!spec || typeof spec.name !== 'string') throw corrupt(file, 'has a weight without a name in its weightsManifest.');
    if (seen.has(spec.name)) throw corrupt(file, `lists the weight ${spec.name} twice.`);
    seen.add(spec.name);
    if (!Array.isArray(spec.shape) || !spec.shape.every((d) => Number.isInteger(d) && d >= 0 && d < 2 ** 31)) {
      throw corrupt(file, `gives the weight ${spec.name} a bad shape ${JSON.stringify(spec.shape)}.`);
    }
    if (spec.quantization !== undefined) throw corrupt(file, `stores the weight ${spec.name} quantized; rnnkit checkpoints hold plain float32 weights.`);
    if (typeof spec.dtype !== 'string' || !(spec.dtype in DTYPE_BYTES))
      throw corrupt(file, `gives the weight ${spec.name} the type ${JSON.stringify(spec.dtype)}; rnnkit checkpoints hold float32 and int32 only.`);
    for (const key of Object.keys(spec)) {
      if (!['name', 'shape', 'dtype'].includes(key)) throw corrupt(file, `gives the weight ${spec.name} an unknown field "${key}".`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Validating what was read (the same rules for every source)

type Meta = Record<string, unknown> & { integrity?: Integrity };

/** The old CLI layout (layout 1): config { model, impl, hidden, layers }, training state beside it. */
function upgradeLegacy(meta: Meta): Meta {
  if (meta.layout !== undefined) return meta;
  const { kind, config, vocab, ...training } = meta;
  const c = (config ?? {}) as Record<string, unknown>;
  const upgraded: LanguageModelConfig | Record<string, unknown> =
    'model' in c || 'impl' in c
      ? {
          cell: c.model,
          implementation: c.impl,
          numHiddens: c.hidden,
          numLayers: c.layers,
          bidirectional: c.bidirectional,
          vocabSize: c.vocabSize,
          seed: c.seed,
        }
      : c;
  return { kind, config: upgraded, vocab, training: Object.keys(training).length ? training : undefined };
}

async function checkIntegrity(art: tf.io.ModelArtifacts, meta: Meta, data: ArrayBuffer, files: { json: string; weights: string }): Promise<void> {
  const integrity = meta.integrity;
  if (meta.layout === undefined) {
    // Layout 1 (the CLI's first checkpoints) predates checksums; anything else without a layout is damaged.
    const config = meta.config as Record<string, unknown> | undefined;
    if (meta.kind === 'optimizer' || meta.integrity !== undefined || !config || !('model' in config))
      throw corrupt(files.json, 'has no layout version in its rnnkit metadata.');
    return;
  }
  if (integrity?.algorithm !== 'SHA-256' || typeof integrity.weights !== 'string' || typeof integrity.manifest !== 'string') {
    throw corrupt(files.json, 'has no SHA-256 checksums (userDefinedMetadata.rnnkit.integrity).');
  }
  if ((await manifestDigest(meta, art.weightSpecs ?? [])) !== integrity.manifest) {
    throw corrupt(files.json, 'does not match its recorded checksum: its metadata or weight list was changed or damaged.');
  }
  if ((await sha256(data)) !== integrity.weights)
    throw corrupt(files.weights, 'does not match the SHA-256 checksum recorded in its model.json: the weights are damaged.');
}

function checkSize(specs: Spec[], data: ArrayBuffer, files: { json: string; weights: string }): void {
  const expected = specs.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1) * (DTYPE_BYTES[w.dtype] ?? 4), 0);
  if (data.byteLength !== expected) throw corrupt(files.weights, `holds ${data.byteLength} bytes, the manifest needs ${expected}.`);
}

function decode(art: tf.io.ModelArtifacts, data: ArrayBuffer, files: { json: string; weights: string }): tf.NamedTensorMap {
  const specs = art.weightSpecs ?? [];
  checkSize(specs, data, files);
  // Checked before any tensor exists, so a bad file leaks nothing.
  let offset = 0;
  for (const w of specs) {
    const size = w.shape.reduce((a, b) => a * b, 1);
    if (w.dtype === 'float32') {
      const values = new Float32Array(data, offset, size);
      for (let i = 0; i < size; i++) {
        if (!Number.isFinite(values[i] as number)) throw corrupt(files.weights, `holds a non-finite value (${values[i]}) in the weight ${w.name}.`);
      }
    }
    offset += size * 4;
  }
  return tf.io.decodeWeights(data, specs);
}

function metaOf(art: tf.io.ModelArtifacts, file: string, kind: 'language-model' | 'optimizer'): Meta {
  if (art.format !== undefined && art.format !== CHECKPOINT_FORMAT)
    throw corrupt(file, `is not an rnnkit checkpoint (its format is ${JSON.stringify(art.format)}).`);
  const meta = (art.userDefinedMetadata as { rnnkit?: unknown } | undefined)?.rnnkit;
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) throw corrupt(file, 'has no rnnkit metadata (userDefinedMetadata.rnnkit).');
  const m = meta as Meta;
  if (kind === 'optimizer' ? m.kind !== 'optimizer' : m.kind !== undefined && m.kind !== 'language-model') {
    throw corrupt(file, `holds ${JSON.stringify(m.kind)}, not ${kind === 'optimizer' ? 'optimizer state' : 'a language model'}.`);
  }
  if (m.layout !== undefined && m.layout !== LAYOUT_VERSION)
    throw corrupt(file, `has layout ${JSON.stringify(m.layout)}; this rnnkit reads layout ${LAYOUT_VERSION}: update rnnkit.`);
  return m;
}

const weightData = (art: tf.io.ModelArtifacts) => tf.io.CompositeArrayBuffer.join(art.weightData ?? new ArrayBuffer(0));

async function buildModel(
  art: tf.io.ModelArtifacts,
  files: { json: string; weights: string },
): Promise<Omit<LoadedLanguageModel, 'optimizerRestored' | 'source'> & { weightsDigest?: string }> {
  const raw = metaOf(art, files.json, 'language-model');
  const data = weightData(art);
  checkSpecs((art.weightSpecs ?? []) as unknown[], files.json);
  checkSize(art.weightSpecs ?? [], data, files);
  await checkIntegrity(art, raw, data, files);
  const meta = upgradeLegacy(raw);
  let config: LanguageModelConfig;
  try {
    config = checkLanguageModelConfig(meta.config);
  } catch (err) {
    throw corrupt(files.json, `does not describe a language model: ${(err as Error).message}`);
  }
  let vocab: Vocab;
  try {
    vocab = Vocab.fromJSON(meta.vocab as VocabJSON);
  } catch (err) {
    throw corrupt(files.json, `has a vocabulary that does not load (${(err as Error).message}).`);
  }
  if (vocab.size !== config.vocabSize) throw corrupt(files.json, `has a vocabulary of ${vocab.size} tokens but config.vocabSize ${config.vocabSize}.`);
  const weights = decode(art, data, files);
  let model: RecurrentLanguageModel;
  try {
    model = createLanguageModel(config);
  } catch (err) {
    tf.dispose(Object.values(weights));
    throw corrupt(files.json, `does not describe a language model: ${(err as Error).message}`);
  }
  try {
    assignVariables(model.namedVariables(), weights);
  } catch (err) {
    model.dispose();
    throw corrupt(files.json, `does not fit its model (${(err as Error).message})`);
  } finally {
    tf.dispose(Object.values(weights));
  }
  return { model, vocab, config, training: meta.training, weightsDigest: raw.integrity?.weights };
}

async function restoreOptimizer(
  optimizer: tf.Optimizer,
  art: tf.io.ModelArtifacts,
  files: { json: string; weights: string },
  modelDigest: string | undefined,
): Promise<void> {
  // Layout 1 wrote optimizer files without metadata, beside a model.json without checksums.
  const legacy = modelDigest === undefined && (art.userDefinedMetadata as { rnnkit?: unknown } | undefined)?.rnnkit === undefined;
  const meta: Meta = legacy ? {} : metaOf(art, files.json, 'optimizer');
  const data = weightData(art);
  const specs = art.weightSpecs ?? [];
  checkSpecs(specs as unknown[], files.json);
  checkSize(specs, data, files);
  if (!legacy) await checkIntegrity(art, meta, data, files);
  if (!legacy && meta.modelWeights !== modelDigest) throw corrupt(files.json, 'belongs to other weights than its model.json (saved by another run or save).');
  if (meta.optimizer !== undefined && meta.optimizer !== optimizer.getClassName()) {
    throw corrupt(files.json, `holds ${String(meta.optimizer)} state; the optimizer given is ${optimizer.getClassName()}.`);
  }
  const adam = adamInternals(optimizer);
  const powers = meta.adamBetaPowers;
  if (adam && meta.layout !== undefined && !(Array.isArray(powers) && powers.length === 2 && powers.every((p) => typeof p === 'number' && p > 0 && p <= 1))) {
    throw corrupt(files.json, 'has no valid adamBetaPowers for its Adam state.');
  }
  const tensors = decode(art, data, files);
  try {
    await optimizer.setWeights(specs.map((s) => ({ name: s.name, tensor: tensors[s.name] as tf.Tensor })));
  } catch (err) {
    throw corrupt(files.json, `does not fit the optimizer (${(err as Error).message})`);
  } finally {
    tf.dispose(Object.values(tensors));
  }
  if (adam && Array.isArray(powers)) {
    tf.tidy(() => {
      adam.accBeta1.assign(tf.scalar(powers[0] as number));
      adam.accBeta2.assign(tf.scalar(powers[1] as number));
    });
  }
}

/**
 * Loads a language model saved with `saveLanguageModel` (or by `rnnkit train`), checking what it
 * reads: the format, the SHA-256 checksums of the weights and the metadata, weight files only
 * beside model.json, no quantization, finite weights, a vocabulary of config.vocabSize tokens and
 * weights that fit the model. Every refusal is a `CheckpointError` whose message names the file.
 *
 * `source`: a URL (`indexeddb://`, `localstorage://`, `http(s)://`), any TensorFlow.js IO
 * handler, browser `File`s (model .json and its weight file), or in Node with
 * `@rnnkit/training/node` a folder, a run folder holding `checkpoint/`, a `.json` file or a
 * `file://` URL. The optimizer files are read only when `options.optimizer` is given.
 */
export async function loadLanguageModel(source: CheckpointSource, options: LoadLanguageModelOptions = {}): Promise<LoadedLanguageModel> {
  if (typeof source === 'string' && source.trim() === '') throw new CheckpointError('', 'No checkpoint at "": the path is empty.');
  let files: { reader: CheckpointFileReader; modelJson: string } | null = null;
  let label: string;
  if (typeof source === 'string' && isFileLike(source)) {
    files = await needFileSystem(source).open(source);
    label = files.reader.describe(files.modelJson);
  } else if (typeof source === 'string' && /^https?:\/\//i.test(source)) {
    const url = new URL(source);
    const name = url.pathname.endsWith('.json') ? url.pathname.slice(url.pathname.lastIndexOf('/') + 1) : 'model.json';
    files = { reader: urlReader(url.pathname.endsWith('.json') ? url.href : `${url.href.replace(/\/?$/, '/')}`), modelJson: name };
    label = files.reader.describe(name);
  } else if (typeof source !== 'string' && !isIOHandler(source)) {
    files = filesReader(source);
    label = files.modelJson;
  } else {
    label = typeof source === 'string' ? source : (options.name ?? 'the checkpoint');
  }

  let loaded: Awaited<ReturnType<typeof buildModel>>;
  if (files) {
    const read = await readArtifacts(files.reader, files.modelJson);
    if (!read) throw new CheckpointError(label, `No checkpoint at ${label}: the file is missing.`);
    loaded = await buildModel(read.artifacts, { json: label, weights: read.weightsFile });
  } else {
    const handler = typeof source === 'string' ? loadHandler(source) : (source as tf.io.IOHandler);
    loaded = await buildModel(await loadArtifacts(handler, label), { json: label, weights: label });
  }

  let optimizerRestored = false;
  let optimizer: tf.Optimizer | undefined;
  try {
    if (options.optimizer) {
      optimizer = typeof options.optimizer === 'function' ? options.optimizer(loaded.training) : options.optimizer;
      optimizerRestored = await loadOptimizer(optimizer, source, files, options, loaded.weightsDigest);
    }
  } catch (err) {
    loaded.model.dispose();
    if (typeof options.optimizer === 'function') optimizer?.dispose();
    throw err;
  }
  const { weightsDigest: _, ...rest } = loaded;
  return { ...rest, optimizer, optimizerRestored, source: label };
}

async function loadOptimizer(
  optimizer: tf.Optimizer,
  source: CheckpointSource,
  files: { reader: CheckpointFileReader; modelJson: string } | null,
  options: LoadLanguageModelOptions,
  modelDigest: string | undefined,
): Promise<boolean> {
  if (options.optimizerSource !== undefined) {
    const o = options.optimizerSource;
    if (typeof o === 'string' && isFileLike(o)) {
      const f = await needFileSystem(o).open(o);
      return restoreFromFiles(optimizer, f.reader, f.modelJson, modelDigest);
    }
    if (typeof o === 'string' || isIOHandler(o)) {
      const label = typeof o === 'string' ? o : 'the optimizer state';
      const art = await loadArtifacts(typeof o === 'string' ? loadHandler(o) : o, label);
      await restoreOptimizer(optimizer, art, { json: label, weights: label }, modelDigest);
      return true;
    }
    const f = filesReader(o);
    return restoreFromFiles(optimizer, f.reader, f.modelJson, modelDigest);
  }
  if (files) return restoreFromFiles(optimizer, files.reader, optimizerJsonFor(files.modelJson), modelDigest);
  if (typeof source === 'string') {
    const url = optimizerUrl(source);
    let art: tf.io.ModelArtifacts;
    try {
      art = await loadArtifacts(loadHandler(url), url);
    } catch {
      return false; // no optimizer state saved there
    }
    await restoreOptimizer(optimizer, art, { json: url, weights: url }, modelDigest);
    return true;
  }
  throw new Error('loadLanguageModel: with an optimizer and an IO handler object, pass optimizerSource too.');
}

async function restoreFromFiles(optimizer: tf.Optimizer, reader: CheckpointFileReader, jsonFile: string, modelDigest: string | undefined): Promise<boolean> {
  const read = await readArtifacts(reader, jsonFile);
  if (!read) return false;
  await restoreOptimizer(optimizer, read.artifacts, { json: reader.describe(jsonFile), weights: read.weightsFile }, modelDigest);
  return true;
}

function isIOHandler(x: unknown): x is tf.io.IOHandler {
  return typeof x === 'object' && x !== null && (typeof (x as tf.io.IOHandler).load === 'function' || typeof (x as tf.io.IOHandler).save === 'function');
}

function loadHandler(url: string): tf.io.IOHandler {
  const handlers = tf.io.getLoadHandlers(url);
  if (handlers.length === 0)
    throw new CheckpointError(
      url,
      `No checkpoint at ${url}: nothing here loads that kind of URL (use indexeddb://, localstorage://, http(s):// or, in Node, a folder).`,
    );
  return handlers[0] as tf.io.IOHandler;
}

async function loadArtifacts(handler: tf.io.IOHandler, label: string): Promise<tf.io.ModelArtifacts> {
  if (!handler.load) throw new CheckpointError(label, `${label} cannot be loaded from (its IO handler has no load method).`);
  try {
    return await handler.load();
  } catch (err) {
    if (err instanceof CheckpointError) throw err;
    throw new CheckpointError(label, `No checkpoint at ${label}: ${(err as Error).message}`);
  }
}
