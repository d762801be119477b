// The loader's rules on what a browser hands it (File objects, IO handlers, IndexedDB when there
// is one): no Node built-ins here, so the same file runs in Node and in Chromium.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Vocab } from '@rnnkit/data';
import { createLanguageModel, type LanguageModelConfig } from '@rnnkit/models';
import { useBackend } from '../../../test/backends.js';
import { CheckpointError, checkpointFiles, loadLanguageModel, predict, saveLanguageModel } from './index.js';

const TEXT = 'the time traveller for so it will be convenient to speak of him';
const vocab = new Vocab(Array.from(TEXT));
const config: LanguageModelConfig = { cell: 'gru', implementation: 'fused', numHiddens: 8, numLayers: 1, bidirectional: false, vocabSize: vocab.size, seed: 2 };

let artifacts: tf.io.ModelArtifacts;
let text: string;
beforeAll(async () => {
  await useBackend('cpu');
  const model = createLanguageModel(config);
  text = predict(model, vocab, 'time ', 20).text;
  const keep = tf.io.withSaveHandler(async (a) => {
    artifacts = a;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  });
  await saveLanguageModel(keep, { model, vocab, config });
  model.dispose();
});

type ModelJson = { weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[]; userDefinedMetadata: { rnnkit: Record<string, unknown> } };
const hex = async (bytes: Uint8Array) =>
  Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as BufferSource)), (b) => b.toString(16).padStart(2, '0')).join('');

/** The checkpoint as File objects (model.json, weights.bin), after `edit`; `resign` recomputes the checksums (a forger's files). */
async function files(edit: (json: ModelJson, bin: Uint8Array) => void = () => {}, resign = false): Promise<File[]> {
  const [bin, json] = checkpointFiles(artifacts, 'model');
  const parsed = JSON.parse(new TextDecoder().decode(json!.bytes)) as ModelJson;
  const bytes = bin!.bytes.slice();
  edit(parsed, bytes);
  if (resign) {
    const { integrity, ...rest } = parsed.userDefinedMetadata.rnnkit as { integrity: { weights: string; manifest: string } };
    const weights = parsed.weightsManifest.flatMap((g) => g.weights).map(({ name, shape, dtype }) => ({ name, shape, dtype }));
    integrity.manifest = await hex(new TextEncoder().encode(JSON.stringify({ rnnkit: rest, weights })));
    integrity.weights = await hex(bytes);
  }
  return [new File([JSON.stringify(parsed)], 'model.json'), new File([bytes], 'weights.bin')];
}

async function refused(source: Parameters<typeof loadLanguageModel>[0]): Promise<string> {
  const tensors = tf.memory().numTensors;
  const err = await loadLanguageModel(source).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CheckpointError);
  expect(tf.memory().numTensors).toBe(tensors);
  return (err as Error).message;
}

describe('loading from File objects and IO handlers: the same rules as from a folder', () => {
  it('loads intact files and gives the same continuation', async () => {
    const loaded = await loadLanguageModel(await files());
    expect(predict(loaded.model, loaded.vocab, 'time ', 20).text).toBe(text);
    loaded.model.dispose();
  });

  it('refuses non-finite weights, quantization, a vocabulary of the wrong size, paths outside, flipped bytes, edited metadata', async () => {
    const nan = await files((_, bin) => (new Float32Array(bin.buffer)[1] = Number.NaN), true);
    expect(await refused(nan)).toMatch(/^Corrupt checkpoint: weights\.bin holds a non-finite value \(NaN\)/);
    const quantized = await files(
      (j) => ((j.weightsManifest[0]!.weights[0] as { quantization?: unknown }).quantization = { dtype: 'uint8', min: 0, scale: 1 }),
      true,
    );
    expect(await refused(quantized)).toMatch(/^Corrupt checkpoint: model\.json stores the weight .* quantized/);
    const vocabSize = await files((j) => {
      const v = j.userDefinedMetadata.rnnkit.vocab as { idxToToken: string[]; tokenFreqs: [string, number][] };
      v.idxToToken.push('#');
      v.tokenFreqs.push(['#', 1]);
    }, true);
    expect(await refused(vocabSize)).toMatch(/^Corrupt checkpoint: model\.json has a vocabulary of \d+ tokens but config\.vocabSize \d+/);
    const outside = await files((j) => (j.weightsManifest[0]!.paths = ['../../../../../etc/hostname']));
    expect(await refused(outside)).toMatch(
      /^Corrupt checkpoint: model\.json names the weight file "\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/etc\/hostname", which is not a file beside it/,
    );
    const flipped = await files((_, bin) => (bin[bin.length - 2]! ^= 4));
    expect(await refused(flipped)).toMatch(/^Corrupt checkpoint: weights\.bin does not match the SHA-256 checksum/);
    const edited = await files((j) => ((j.userDefinedMetadata.rnnkit.config as { seed: number }).seed = 3));
    expect(await refused(edited)).toMatch(/^Corrupt checkpoint: model\.json does not match its recorded checksum/);
    const [json] = await files();
    // Chosen files with one left out are not damage: say which files to choose together.
    expect(await refused([json!])).toBe(
      'weights.bin was not among the chosen files: choose model.json and weights.bin together (and optimizer.json with optimizer.bin, to go on training).',
    );
  });

  it('refuses the same damage arriving as ModelArtifacts (an IO handler: IndexedDB, fromMemory)', async () => {
    const bytes = new Uint8Array(artifacts.weightData as ArrayBuffer).slice();
    bytes[5]! ^= 1;
    expect(await refused(tf.io.fromMemory({ ...artifacts, weightData: bytes.buffer }))).toMatch(
      /^Corrupt checkpoint: the checkpoint does not match the SHA-256 checksum/,
    );
    const quantized = {
      ...artifacts,
      weightSpecs: artifacts.weightSpecs!.map((s, i) => (i === 0 ? { ...s, quantization: { dtype: 'uint8' as const, min: 0, scale: 1 } } : s)),
    };
    expect(await refused(tf.io.fromMemory(quantized))).toMatch(/stores the weight .* quantized/);
  });

  it.skipIf(typeof indexedDB === 'undefined')('saves to and loads from IndexedDB', async () => {
    const model = createLanguageModel(config);
    await saveLanguageModel('indexeddb://rnnkit-rules-test', { model, vocab, config, optimizer: tf.train.adam(0.01), training: { epoch: 1 } });
    model.dispose();
    const loaded = await loadLanguageModel('indexeddb://rnnkit-rules-test', { optimizer: () => tf.train.adam(0.01) });
    expect(loaded.optimizerRestored).toBe(true);
    expect(predict(loaded.model, loaded.vocab, 'time ', 20).text).toBe(text);
    loaded.model.dispose();
    loaded.optimizer!.dispose();
    await tf.io.removeModel('indexeddb://rnnkit-rules-test');
    await tf.io.removeModel('indexeddb://rnnkit-rules-test.optimizer');
  });
});
