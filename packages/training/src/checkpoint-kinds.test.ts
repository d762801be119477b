// Every checkpoint kind through one format: weight counts that match the models built, round trips
// through an IO handler (so in Node and in browsers alike), and the same refusals for each kind.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Vocab } from '@rnnkit/data';
import { EncoderDecoder, SeqClassifier, TimeSeriesRegressor, type CellKind, type LanguageModelConfig } from '@rnnkit/models';
import { useBackend } from '../../../test/backends.js';
import {
  CHECKPOINT_KINDS,
  CheckpointError,
  languageModelKind,
  loadAnyCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
  seqClassifierKind,
  timeSeriesRegressorKind,
  translationKind,
  type CheckpointKind,
  type CheckpointModel,
} from './index.js';

beforeAll(async () => {
  await useBackend('cpu');
});

const count = (m: CheckpointModel) => Object.values(m.namedVariables()).reduce((n, v) => n + v.size, 0);
const CELLS: CellKind[] = ['rnn', 'gru', 'lstm'];

/** Saves to memory; returns a loader of what was saved. */
async function inMemory<M extends CheckpointModel, C>(kind: CheckpointKind<M, C>, c: Parameters<typeof saveCheckpoint<M, C>>[2]) {
  let saved: tf.io.ModelArtifacts | undefined;
  await saveCheckpoint(
    tf.io.withSaveHandler(async (a) => {
      saved = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
    kind,
    c,
  );
  return saved as tf.io.ModelArtifacts;
}

const sameWeights = (a: CheckpointModel, b: CheckpointModel) =>
  Object.entries(a.namedVariables()).every(([name, v]) => tf.tidy(() => tf.all(tf.equal(v, b.namedVariables()[name] as tf.Variable)).dataSync()[0] === 1));

describe('weightCount (checked before a model is built) equals the weights of the model built', () => {
  it('for language models of every implementation, cell, depth and direction', () => {
    for (const implementation of ['scratch', 'fused', 'layers'] as const) {
      for (const cell of CELLS) {
        for (const numLayers of implementation === 'scratch' ? [1] : [1, 3]) {
          for (const bidirectional of implementation === 'fused' ? [false, true] : [false]) {
            const config: LanguageModelConfig = { cell, implementation, numHiddens: 5, numLayers, bidirectional, vocabSize: 7, seed: 0 };
            const model = languageModelKind.build(config);
            expect(languageModelKind.weightCount(config), JSON.stringify(config)).toBe(count(model));
            model.dispose();
          }
        }
      }
    }
  });

  it('for translation models, classifiers and regressors', () => {
    for (const cell of CELLS) {
      for (const numLayers of [1, 2, 3]) {
        const t = translationKind.checkConfig({ srcVocabSize: 9, tgtVocabSize: 11, embedSize: 4, numHiddens: 6, numLayers, cell });
        const model = translationKind.build(t);
        expect(translationKind.weightCount(t)).toBe(count(model));
        model.dispose();
      }
      const c = seqClassifierKind.checkConfig({ vocabSize: 9, embeddingSize: 3, numHiddens: 5, numClasses: 4, cell });
      const classifier = seqClassifierKind.build(c);
      expect(seqClassifierKind.weightCount(c)).toBe(count(classifier));
      classifier.dispose();
      const r = timeSeriesRegressorKind.checkConfig({ inputSize: 3, numHiddens: 5, cell });
      const regressor = timeSeriesRegressorKind.build(r);
      expect(timeSeriesRegressorKind.weightCount(r)).toBe(count(regressor));
      regressor.dispose();
    }
  });

  it('is closed-form: a config of 1e12 layers is counted at once, not walked', () => {
    const config: LanguageModelConfig = { cell: 'gru', implementation: 'fused', numHiddens: 8, numLayers: 1e12, bidirectional: false, vocabSize: 28, seed: 0 };
    expect(languageModelKind.weightCount(config)).toBeGreaterThan(1e12);
  });
});

describe('every kind saves and loads through the one format', () => {
  const src = new Vocab(['go', '.', 'hi', 'go'], { reservedTokens: ['<pad>', '<bos>', '<eos>'] });
  const tgt = new Vocab(['va', '!', 'salut', 'va'], { reservedTokens: ['<pad>', '<bos>', '<eos>'] });

  it('translation: the model, both vocabularies, config defaults and training record', async () => {
    const model = new EncoderDecoder({ srcVocabSize: src.size, tgtVocabSize: tgt.size, embedSize: 4, numHiddens: 6, seed: 3 });
    const config = translationKind.checkConfig({ srcVocabSize: src.size, tgtVocabSize: tgt.size, embedSize: 4, numHiddens: 6, seed: 3 });
    const art = await inMemory(translationKind, { model, config, vocabularies: { sourceVocab: src, targetVocab: tgt }, training: { epoch: 2 } });
    expect(Object.keys((art.userDefinedMetadata as { rnnkit: object }).rnnkit)).toEqual([
      'kind',
      'layout',
      'config',
      'sourceVocab',
      'targetVocab',
      'training',
      'integrity',
    ]);
    const tensors = tf.memory().numTensors;
    const loaded = await loadCheckpoint(tf.io.fromMemory(art), translationKind);
    expect(loaded.kind).toBe(translationKind);
    expect(loaded.config).toEqual({ ...config, numLayers: 2, cell: 'gru', dropout: 0, init: 'pytorch' });
    expect(loaded.vocabularies.sourceVocab?.equals(src)).toBe(true);
    expect(loaded.vocabularies.targetVocab?.equals(tgt)).toBe(true);
    expect(loaded.training).toEqual({ epoch: 2 });
    expect(sameWeights(loaded.model, model)).toBe(true);
    loaded.model.dispose();
    expect(tf.memory().numTensors).toBe(tensors);
    model.dispose();
  });

  it('sequence classifier (vocabulary optional) and time-series regressor (none)', async () => {
    const classifier = new SeqClassifier({ vocabSize: 4, embeddingSize: 10, numHiddens: 8, numClasses: 4, seed: 1 });
    const c = seqClassifierKind.checkConfig({ vocabSize: 4, embeddingSize: 10, numHiddens: 8, numClasses: 4, seed: 1, classes: ['e', 'h', 'l', 'o'] });
    const art = await inMemory(seqClassifierKind, { model: classifier, config: c });
    const loaded = await loadCheckpoint(tf.io.fromMemory(art), seqClassifierKind);
    expect(loaded.config.classes).toEqual(['e', 'h', 'l', 'o']);
    expect(loaded.vocabularies).toEqual({});
    expect(sameWeights(loaded.model, classifier)).toBe(true);
    const regressor = new TimeSeriesRegressor({ numHiddens: 6, seed: 2 });
    const r = timeSeriesRegressorKind.checkConfig({ numHiddens: 6, seed: 2 });
    const art2 = await inMemory(timeSeriesRegressorKind, { model: regressor, config: r });
    const any = await loadAnyCheckpoint(tf.io.fromMemory(art2));
    expect(any.kind).toBe(timeSeriesRegressorKind);
    expect(sameWeights(any.model, regressor)).toBe(true);
    // Another kind than the one asked for is named as such.
    const err = await loadCheckpoint(tf.io.fromMemory(art2), translationKind).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as CheckpointError).problem).toBe('wrong-kind');
    expect((err as Error).message).toMatch(/holds a time-series regressor, not a translation model/);
    for (const m of [classifier, loaded.model, regressor, any.model]) m.dispose();
  });

  it('a save refuses what a load would refuse: a config that does not describe the model, a bad vocabulary', async () => {
    const model = new TimeSeriesRegressor({ numHiddens: 6 });
    await expect(inMemory(timeSeriesRegressorKind, { model, config: { inputSize: 1, numHiddens: 7, cell: 'gru', seed: 0 } })).rejects.toThrow(
      /saveCheckpoint: the model has \d+ weights, but its config describes a time-series regressor of \d+/,
    );
    model.dispose();
    const t = new EncoderDecoder({ srcVocabSize: src.size, tgtVocabSize: tgt.size, embedSize: 4, numHiddens: 6 });
    const config = translationKind.checkConfig({ srcVocabSize: src.size, tgtVocabSize: tgt.size, embedSize: 4, numHiddens: 6 });
    const plain = new Vocab(['go', '.', 'hi', 'go', 'x', 'y', 'z']);
    await expect(inMemory(translationKind, { model: t, config, vocabularies: { sourceVocab: plain, targetVocab: tgt } })).rejects.toThrow(
      /saveCheckpoint: the checkpoint has "go" at index 1 of its sourceVocab, where the reserved token <pad> belongs/,
    );
    await expect(inMemory(translationKind, { model: t, config, vocabularies: { sourceVocab: src } })).rejects.toThrow(/needs its vocabulary "targetVocab"/);
    t.dispose();
  });

  it('lists each kind once, by a unique name', () => {
    expect(CHECKPOINT_KINDS.map((k) => k.name)).toEqual(['language-model', 'translation', 'sequence-classifier', 'time-series-regressor']);
  });
});
