// Optimizer state: saved beside the model's weights, restored exactly (Adam's running beta powers included).
import * as tf from '@tensorflow/tfjs-core';
import {
  LAYOUT_VERSION,
  artifactsOf,
  corrupt,
  isFileLike,
  isIOHandler,
  needFileSystem,
  type CheckpointFileReader,
  type CheckpointSource,
  type LoadCheckpointOptions,
} from './format.js';
import { checkIntegrity, withIntegrity, type Meta } from './integrity.js';
import { filesReader, loadArtifacts, loadHandler, readArtifacts } from './readers.js';
import { adamInternals } from '../optim.js';
import { checkSize, checkSpecs, decode, metaOf, weightData } from './validation.js';

// tf.train.adam keeps beta1^t and beta2^t as running products; its setWeights recomputes them as
// pow(beta, t + 1), which differs in the last bits. Saving the products makes resume bit-exact.

export async function encodeOptimizer(optimizer: tf.Optimizer, modelWeights: string): Promise<tf.io.ModelArtifacts> {
  const weights = await optimizer.getWeights();
  const { data, specs } = await tf.io.encodeWeights(weights);
  const meta: Record<string, unknown> = { kind: 'optimizer', layout: LAYOUT_VERSION, optimizer: optimizer.getClassName(), modelWeights };
  const adam = adamInternals(optimizer);
  if (adam) meta.adamBetaPowers = [adam.accBeta1.dataSync()[0], adam.accBeta2.dataSync()[0]];
  return artifactsOf(specs, data, await withIntegrity(meta, specs, data));
}

/** `indexeddb://name` -> `indexeddb://name.optimizer`; `downloads://name` -> `name.optimizer.json`. */
export const optimizerUrl = (url: string) => `${url.replace(/\/+$/, '')}.optimizer`;

/** `model.json` -> `optimizer.json`; `name.json` (a `downloads://name`) -> `name.optimizer.json`. */
export const optimizerJsonFor = (modelJson: string) => (modelJson === 'model.json' ? 'optimizer.json' : modelJson.replace(/\.json$/, '.optimizer.json'));

export async function restoreOptimizer(
  optimizer: tf.Optimizer,
  art: tf.io.ModelArtifacts,
  files: { json: string; weights: string },
  modelDigest: string | null,
): Promise<void> {
  // Layout 1 wrote optimizer files without metadata, beside a model.json without checksums.
  const legacy = modelDigest === null && (art.userDefinedMetadata as { rnnkit?: unknown } | undefined)?.rnnkit === undefined;
  const meta: Meta = legacy ? {} : metaOf(art, files.json);
  if (!legacy && meta.kind !== 'optimizer') throw corrupt(files.json, `holds ${JSON.stringify(meta.kind ?? null)}, not optimizer state.`);
  if (!legacy && meta.layout === undefined) throw corrupt(files.json, 'has no layout version in its rnnkit metadata.');
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

export async function loadOptimizer(
  optimizer: tf.Optimizer,
  source: CheckpointSource,
  files: { reader: CheckpointFileReader; modelJson: string } | null,
  options: LoadCheckpointOptions,
  modelDigest: string | null,
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
  throw new Error('loadCheckpoint: with an optimizer and an IO handler object, pass optimizerSource too.');
}

export async function restoreFromFiles(optimizer: tf.Optimizer, reader: CheckpointFileReader, jsonFile: string, modelDigest: string | null): Promise<boolean> {
  const read = await readArtifacts(reader, jsonFile);
  if (!read) return false;
  await restoreOptimizer(optimizer, read.artifacts, { json: reader.describe(jsonFile), weights: read.weightsFile }, modelDigest);
  return true;
}
