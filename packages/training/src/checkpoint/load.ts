// Loading a language model from any source, with every check of ./validation.ts.
import type * as tf from '@tensorflow/tfjs-core';
import {
  CheckpointError,
  isFileLike,
  isIOHandler,
  needFileSystem,
  type CheckpointFileReader,
  type CheckpointSource,
  type LoadLanguageModelOptions,
  type LoadedLanguageModel,
} from './format.js';
import { loadOptimizer } from './optimizer-state.js';
import { filesReader, loadArtifacts, loadHandler, readArtifacts, urlReader } from './readers.js';
import { buildModel } from './validation.js';

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
