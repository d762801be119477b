// Every model kind, trained a little, saved and loaded through the checkpoint format, predicts
// exactly what it predicted before the save.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { classificationData, loadDataNmt, nmtSpecialIds, timeSeriesData, type Vocab } from '@rnnkit/data';
import { type EncoderDecoder, SeqClassifier, TimeSeriesRegressor } from '@rnnkit/models';
import { useBackend } from '../../../test/backends.js';
import {
  loadCheckpoint,
  predictSeq2Seq,
  saveCheckpoint,
  seqClassifierKind,
  timeSeriesRegressorKind,
  trainRegressor,
  trainSeq2Seq,
  trainSequenceClassifier,
  translationKind,
  type CheckpointKind,
  type CheckpointModel,
} from './index.js';

beforeAll(() => useBackend('wasm'));

/** Saves to memory and loads back, as a folder or a URL would. */
async function roundTrip<M extends CheckpointModel, C>(kind: CheckpointKind<M, C>, c: Parameters<typeof saveCheckpoint<M, C>>[2]) {
  let saved: tf.io.ModelArtifacts | undefined;
  await saveCheckpoint(
    tf.io.withSaveHandler(async (a) => {
      saved = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
    kind,
    c,
  );
  return loadCheckpoint(tf.io.fromMemory(saved as tf.io.ModelArtifacts), kind);
}

describe('save, load, predict the same', () => {
  it('sequence classifier (mean pooling, word tokens): the same probabilities, the pooling and classes kept', async () => {
    const texts = ['good film', 'bad film', 'very good', 'very bad', 'good good', 'bad bad bad'];
    const data = classificationData(texts, ['pos', 'neg', 'pos', 'neg', 'pos', 'neg'], { tokens: 'word', numSteps: 3 });
    const config = seqClassifierKind.checkConfig({
      vocabSize: data.vocab.size,
      embeddingSize: 4,
      numHiddens: 5,
      numClasses: 2,
      cell: 'lstm',
      pooling: 'mean',
      seed: 1,
      tokens: 'word',
      classes: data.classes,
    });
    const model = seqClassifierKind.build(config);
    trainSequenceClassifier(model, { X: data.X, labels: data.labels }, { epochs: 2, batchSize: 4 });
    const X = tf.tensor2d(data.X.array, [data.X.rows, 3], 'int32');
    const before = model.predictProbabilities(X, data.X.validLen);
    const loaded = await roundTrip(seqClassifierKind, { model, config, vocabularies: { vocab: data.vocab }, training: { numSteps: 3 } });
    expect(loaded.model).toBeInstanceOf(SeqClassifier);
    expect(loaded.model.options.pooling).toBe('mean');
    expect(loaded.config.classes).toEqual(['neg', 'pos']);
    expect((loaded.vocabularies.vocab as Vocab).equals(data.vocab)).toBe(true);
    expect(loaded.model.predictProbabilities(X, data.X.validLen)).toEqual(before);
    tf.dispose([X]);
    model.dispose();
    loaded.model.dispose();
  });

  it('time-series regressor: the same forecasts', async () => {
    const { series } = timeSeriesData(
      Array.from({ length: 60 }, (_, t) => Math.sin(t / 3)),
      { tau: 5 },
    );
    const config = timeSeriesRegressorKind.checkConfig({ numHiddens: 6, seed: 2 });
    const model = timeSeriesRegressorKind.build(config);
    trainRegressor(model, series.split().train, 5, { epochs: 2 });
    const before = model.predictWindows(series.features, 5);
    const loaded = await roundTrip(timeSeriesRegressorKind, { model, config, training: { tau: 5 } });
    expect(loaded.model).toBeInstanceOf(TimeSeriesRegressor);
    expect(Array.from(loaded.model.predictWindows(series.features, 5))).toEqual(Array.from(before));
    model.dispose();
    loaded.model.dispose();
  });

  it('encoder-decoder: the same translations, greedy and beam', async () => {
    const data = loadDataNmt({ numSteps: 6, numExamples: 40 });
    const config = translationKind.checkConfig({ srcVocabSize: data.srcVocab.size, tgtVocabSize: data.tgtVocab.size, embedSize: 8, numHiddens: 8, seed: 0 });
    const model = translationKind.build(config);
    trainSeq2Seq(model, data, { epochs: 2, lr: 0.01, batchSize: 16, bos: nmtSpecialIds(data.tgtVocab).bos });
    const translate = (m: EncoderDecoder, beamSize: number) =>
      ['go .', 'i lost .', 'hi .'].map((s) => predictSeq2Seq(m, s, data.srcVocab, data.tgtVocab, 6, { beamSize }).text);
    const before = [translate(model, 1), translate(model, 2)];
    const loaded = await roundTrip(translationKind, { model, config, vocabularies: { sourceVocab: data.srcVocab, targetVocab: data.tgtVocab } });
    expect([translate(loaded.model, 1), translate(loaded.model, 2)]).toEqual(before);
    model.dispose();
    loaded.model.dispose();
  }, 60_000);
});
