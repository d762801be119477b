// Loading a checkpoint of any kind from any source, with every check of ./validation.ts.
import type * as tf from '@tensorflow/tfjs-core';
import type { RecurrentLanguageModel } from '@rnnkit/cells';
import type { Vocab } from '@rnnkit/data';
import type { LanguageModelConfig } from '@rnnkit/models';
import {
  CheckpointError,
  isFileLike,
  isIOHandler,
  needFileSystem,
  type CheckpointFileReader,
  type CheckpointKind,
  type CheckpointModel,
  type CheckpointSource,
  type LoadCheckpointOptions,
  type LoadedCheckpoint,
  type LoadedLanguageModel,
} from './format.js';
import { CHECKPOINT_KINDS, languageModelKind } from './kinds.js';
import { loadOptimizer } from './optimizer-state.js';
import { filesReader, loadArtifacts, loadHandler, readArtifacts, urlReader } from './readers.js';
import { buildCheckpoint, type BuiltCheckpoint } from './validation.js';

type Located = { reader: CheckpointFileReader; modelJson: string };

/** The files a source names (several for a folder that crashed saves left leftovers of, newest first), or null for an IO handler. */
async function locate(source: CheckpointSource, options: LoadCheckpointOptions): Promise<{ candidates: Located[] | null; label: string }> {
  if (typeof source === 'string' && source.trim() === '') throw new CheckpointError('', 'No checkpoint at "": the path is empty.', 'missing');
  if (typeof source === 'string' && isFileLike(source)) {
    const fs = needFileSystem(source);
    const candidates = fs.candidates ? await fs.candidates(source) : [await fs.open(source)];
    const first = candidates[0];
    if (!first) throw new CheckpointError(source, `No checkpoint at ${source}.`, 'missing');
    return { candidates, label: first.reader.describe(first.modelJson) };
  }
  if (typeof source === 'string' && /^https?:\/\//i.test(source)) {
    const url = new URL(source);
    const name = url.pathname.endsWith('.json') ? url.pathname.slice(url.pathname.lastIndexOf('/') + 1) : 'model.json';
    const files = { reader: urlReader(url.pathname.endsWith('.json') ? url.href : `${url.href.replace(/\/?$/, '/')}`), modelJson: name };
    return { candidates: [files], label: files.reader.describe(name) };
  }
  if (typeof source !== 'string' && !isIOHandler(source)) {
    const files = filesReader(source);
    return { candidates: [files], label: files.modelJson };
  }
  return { candidates: null, label: typeof source === 'string' ? source : (options.name ?? 'the checkpoint') };
}

/** Loads the model (and the optimizer, when asked) from one set of files or an IO handler. */
async function loadFrom(
  source: CheckpointSource,
  files: Located | null,
  label: string,
  kinds: readonly CheckpointKind[],
  options: LoadCheckpointOptions,
): Promise<LoadedCheckpoint> {
  let loaded: BuiltCheckpoint;
  if (files) {
    const read = await readArtifacts(files.reader, files.modelJson);
    if (!read) throw new CheckpointError(label, `No checkpoint at ${label}: the file is missing.`, 'missing');
    loaded = await buildCheckpoint(read.artifacts, kinds, { json: label, weights: read.weightsFile }, options);
  } else {
    const handler = typeof source === 'string' ? loadHandler(source) : (source as tf.io.IOHandler);
    loaded = await buildCheckpoint(await loadArtifacts(handler, label), kinds, { json: label, weights: label }, options);
  }
  let optimizerRestored = false;
  let optimizer: tf.Optimizer | undefined;
  try {
    if (options.optimizer) {
      optimizer = typeof options.optimizer === 'function' ? options.optimizer(loaded.training) : options.optimizer;
      if (optimizer) optimizerRestored = await loadOptimizer(optimizer, source, files, options, loaded.weightsDigest);
    }
  } catch (err) {
    loaded.model.dispose();
    if (typeof options.optimizer === 'function') optimizer?.dispose();
    throw err;
  }
  const { weightsDigest: _, ...rest } = loaded;
  return { ...rest, optimizer, optimizerRestored, source: label };
}

/** Problems that make an older leftover worth trying: this copy is damaged or cannot be read. */
const RECOVERABLE = new Set(['corrupt', 'missing', 'unreadable']);

async function load(source: CheckpointSource, kinds: readonly CheckpointKind[], options: LoadCheckpointOptions): Promise<LoadedCheckpoint> {
  const { candidates, label } = await locate(source, options);
  if (!candidates) return loadFrom(source, null, label, kinds, options);
  // The newest complete copy that passes every check: a crash may leave a damaged newer one.
  const skipped: string[] = [];
  let firstError: unknown;
  for (const files of candidates) {
    try {
      const loaded = await loadFrom(source, files, files.reader.describe(files.modelJson), kinds, options);
      return skipped.length > 0 ? { ...loaded, skipped } : loaded;
    } catch (err) {
      if (!(err instanceof CheckpointError) || !RECOVERABLE.has(err.problem) || candidates.length === 1) throw err;
      firstError ??= err;
      skipped.push(err.message);
    }
  }
  throw firstError;
}

/**
 * Loads a checkpoint of `kind` saved with `saveCheckpoint` (or by the `rnnkit` command), checking
 * what it reads: the format, the SHA-256 checksums of the weights and the metadata, weight files
 * only beside model.json, no quantization, finite weights, the config, the vocabularies (no empty
 * or repeated tokens, d2l's reserved tokens, single characters in character models, the order of
 * their counts, the size the model needs), the weight count before building, and weights in the
 * model's own order with its shapes. Every refusal is a `CheckpointError` whose message names the
 * file (its `problem` says why). A checkpoint of rnnkit's first layout, which has no checksums, is
 * refused unless `options.allowUnverified`.
 *
 * `source`: a URL (`indexeddb://`, `localstorage://`, `http(s)://`), any TensorFlow.js IO
 * handler, browser `File`s (model .json and its weight file), or in Node with
 * `@rnnkit/training/node` a folder, a run folder holding `checkpoint/`, a `.json` file or a
 * `file://` URL. The optimizer files are read only when `options.optimizer` is given.
 */
export async function loadCheckpoint<M extends CheckpointModel, C>(
  source: CheckpointSource,
  kind: CheckpointKind<M, C>,
  options: LoadCheckpointOptions = {},
): Promise<LoadedCheckpoint<M, C>> {
  return (await load(source, [kind as unknown as CheckpointKind], options)) as unknown as LoadedCheckpoint<M, C>;
}

/** `loadCheckpoint` for a checkpoint of any kind this rnnkit knows (`CHECKPOINT_KINDS`); `kind` in the result says which. */
export async function loadAnyCheckpoint(source: CheckpointSource, options: LoadCheckpointOptions = {}): Promise<LoadedCheckpoint> {
  return load(source, CHECKPOINT_KINDS, options);
}

/**
 * Loads a language model saved with `saveLanguageModel` (or by `rnnkit train`): `loadCheckpoint`
 * with `languageModelKind`, its vocabulary as `vocab`.
 */
export async function loadLanguageModel(source: CheckpointSource, options: LoadCheckpointOptions = {}): Promise<LoadedLanguageModel> {
  const { kind: _, vocabularies, ...rest } = await loadCheckpoint<RecurrentLanguageModel, LanguageModelConfig>(source, languageModelKind, options);
  return { ...rest, vocab: vocabularies.vocab as Vocab };
}
