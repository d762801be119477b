// Saving: a folder (Node, written whole then renamed into place) or any TensorFlow.js IO handler.
import * as tf from '@tensorflow/tfjs-core';
import { Vocab } from '@rnnkit/data';
import type { RecurrentLanguageModel } from '@rnnkit/cells';
import type { LanguageModelConfig } from '@rnnkit/models';
import {
  LAYOUT_VERSION,
  artifactsOf,
  isFileLike,
  needFileSystem,
  type Checkpoint,
  type CheckpointDestination,
  type CheckpointFile,
  type CheckpointKind,
  type CheckpointModel,
  type LanguageModelCheckpoint,
  type SaveCheckpointOptions,
} from './format.js';
import { integrityOf, withIntegrity } from './integrity.js';
import { languageModelKind } from './kinds.js';
import { encodeOptimizer, optimizerUrl } from './optimizer-state.js';
import { checkVocabulary } from './validation.js';

/** The metadata keys every kind has; a vocabulary may not take one of these names. */
const META_KEYS = new Set(['kind', 'layout', 'config', 'training', 'integrity']);

async function encodeModel<M extends CheckpointModel, C>(kind: CheckpointKind<M, C>, c: Checkpoint<M, C>, caller: string): Promise<tf.io.ModelArtifacts> {
  let config: C;
  try {
    config = kind.checkConfig(c.config);
  } catch (err) {
    throw new Error(`${caller}: ${(err as Error).message}`);
  }
  const meta: Record<string, unknown> = { kind: kind.name, layout: LAYOUT_VERSION, config };
  const given = c.vocabularies ?? {};
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(kind.vocabularies, key)) {
      throw new Error(`${caller}: ${kind.description} has no vocabulary "${key}" (it has ${Object.keys(kind.vocabularies).join(', ') || 'none'}).`);
    }
  }
  for (const [key, rule] of Object.entries(kind.vocabularies)) {
    if (META_KEYS.has(key)) throw new Error(`${caller}: the vocabulary name "${key}" is taken by the checkpoint's metadata.`);
    const vocab = given[key];
    if (vocab === undefined) {
      if (rule.optional) continue;
      throw new Error(`${caller}: ${kind.description} needs its vocabulary "${key}".`);
    }
    if (!(vocab instanceof Vocab)) throw new TypeError(`${caller}: vocabulary "${key}" must be a Vocab.`);
    // The same checks a load makes: a checkpoint that saves is one that loads.
    meta[key] = vocab.toJSON();
    checkVocabulary(meta[key], rule, config, key, (problem) => new Error(`${caller}: the checkpoint ${problem}`));
  }
  const variables = c.model.namedVariables();
  const count = Object.values(variables).reduce((n, v) => n + v.size, 0);
  const expected = kind.weightCount(config);
  if (count !== expected) {
    throw new Error(
      `${caller}: the model has ${count} weights, but its config describes ${kind.description} of ${expected}: save the config the model was built from.`,
    );
  }
  const { data, specs } = await tf.io.encodeWeights(variables);
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
 * Saves a model of any checkpoint kind (`languageModelKind`, `translationKind`,
 * `seqClassifierKind`, `timeSeriesRegressorKind`, or your own record), its config, its
 * vocabularies and optionally its optimizer's state and your training state, in rnnkit's checkpoint
 * format: `model.json` (a TensorFlow.js weights manifest with rnnkit's metadata and SHA-256
 * checksums) and `weights.bin`, plus `optimizer.json`/`optimizer.bin` with an optimizer. The config
 * and vocabularies pass the checks a load makes, so what saves loads.
 *
 * `destination`: any TensorFlow.js IO handler, or a URL (`indexeddb://`, `localstorage://`,
 * `downloads://`, `http(s)://`); in Node with `@rnnkit/training/node`, a folder (written whole
 * under a temporary name, then renamed into place) or a `file://` URL.
 */
export async function saveCheckpoint<M extends CheckpointModel, C>(
  destination: CheckpointDestination,
  kind: CheckpointKind<M, C>,
  checkpoint: Checkpoint<M, C>,
  options: SaveCheckpointOptions = {},
): Promise<void> {
  await writeCheckpoint(destination, await encodeModel(kind, checkpoint, 'saveCheckpoint'), checkpoint.optimizer, options, 'saveCheckpoint');
}

/**
 * Saves a language model, its vocabulary and its config (and optionally its optimizer's state
 * and the caller's training state) in the format of `rnnkit train`'s checkpoints:
 * `saveCheckpoint` with `languageModelKind` and the vocabulary `vocab`.
 */
export async function saveLanguageModel(
  destination: CheckpointDestination,
  checkpoint: LanguageModelCheckpoint,
  options: SaveCheckpointOptions = {},
): Promise<void> {
  const { vocab, ...rest } = checkpoint;
  const c: Checkpoint<RecurrentLanguageModel, LanguageModelConfig> = { ...rest, vocabularies: { vocab } };
  await writeCheckpoint(destination, await encodeModel(languageModelKind, c, 'saveLanguageModel'), checkpoint.optimizer, options, 'saveLanguageModel');
}

async function writeCheckpoint(
  destination: CheckpointDestination,
  model: tf.io.ModelArtifacts,
  optimizerToSave: tf.Optimizer | undefined,
  options: SaveCheckpointOptions,
  caller: string,
): Promise<void> {
  const optimizer = optimizerToSave ? await encodeOptimizer(optimizerToSave, integrityOf(model).weights) : null;
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
    if (where === undefined) throw new Error(`${caller}: with an optimizer and an IO handler object, pass optimizerDestination too.`);
    optimizerHandler = typeof where === 'string' ? saveHandler(where) : where;
  }
  if (!handler.save) throw new Error(`${caller}: this IO handler cannot save (it has no save method).`);
  // The optimizer first: a model whose optimizer state is missing still generates.
  if (optimizer && optimizerHandler) {
    if (!optimizerHandler.save) throw new Error(`${caller}: the optimizer IO handler cannot save.`);
    await optimizerHandler.save(optimizer);
  }
  await handler.save(model);
}
