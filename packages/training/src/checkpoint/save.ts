// Saving: a folder (Node, written whole then renamed into place) or any TensorFlow.js IO handler.
import * as tf from '@tensorflow/tfjs-core';
import { Vocab } from '@rnnkit/data';
import { checkLanguageModelConfig } from '@rnnkit/models';
import {
  LAYOUT_VERSION,
  artifactsOf,
  isFileLike,
  needFileSystem,
  type CheckpointDestination,
  type CheckpointFile,
  type LanguageModelCheckpoint,
  type SaveLanguageModelOptions,
} from './format.js';
import { integrityOf, withIntegrity } from './integrity.js';
import { encodeOptimizer, optimizerUrl } from './optimizer-state.js';

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

function saveHandler(url: string): tf.io.IOHandler {
  const handlers = tf.io.getSaveHandlers(url);
  if (handlers.length === 0)
    throw new Error(`Nothing here saves to ${url}: use indexeddb://, localstorage://, downloads:// or an http(s):// URL (or a folder in Node).`);
  return handlers[0] as tf.io.IOHandler;
}

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
