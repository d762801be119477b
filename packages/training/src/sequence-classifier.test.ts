import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { classificationData, createRng, encodeTexts, selectPaddedRows, stratifiedSplit } from '@rnnkit/data';
import { SeqClassifier } from '@rnnkit/models';
import { useBackend } from '../../../test/backends.js';
import { balancedClassWeights, confusionMatrix, evaluateClassifier, TrainingDivergedError, trainSequenceClassifier } from './index.js';

beforeAll(() => useBackend('wasm'));

const logitsOf = (model: SeqClassifier, ids: number[][], validLen: number[]): number[][] => {
  const T = ids[0]!.length;
  const X = tf.tensor2d(ids.flat(), [ids.length, T], 'int32');
  const y = model.classify(X, Int32Array.from(validLen));
  const out = y.arraySync();
  tf.dispose([X, y]);
  return out;
};

describe('SeqClassifier.classify (many-to-one on padded rows)', () => {
  for (const pooling of ['last', 'mean'] as const) {
    for (const cell of ['rnn', 'gru', 'lstm'] as const) {
      it(`${cell}, ${pooling}: a padded row gives the logits of the same row unpadded (the padding changes nothing)`, () => {
        const model = new SeqClassifier({ vocabSize: 6, embeddingSize: 5, numHiddens: 7, numClasses: 3, cell, pooling, seed: 2 });
        const rows = [[2, 3, 4], [5, 4, 3, 2, 1, 2], [3]];
        const pad = 1;
        const padded = rows.map((r) => [...r, ...Array<number>(6 - r.length).fill(pad)]);
        const together = logitsOf(model, padded, [3, 6, 1]);
        rows.forEach((r, i) => {
          const alone = logitsOf(model, [r], [r.length])[0]!;
          for (const [j, v] of together[i]!.entries()) expect(v).toBeCloseTo(alone[j]!, 5);
        });
        // The path taken: with another pad id the padded result is the same; at full length it is not.
        const otherPad = logitsOf(
          model,
          rows.map((r) => [...r, ...Array<number>(6 - r.length).fill(5)]),
          [3, 6, 1],
        );
        for (const [i, row] of otherPad.entries()) for (const [j, v] of row.entries()) expect(v).toBeCloseTo(together[i]![j]!, 5);
        const fullLength = logitsOf(model, padded, [6, 6, 6]);
        expect(Math.abs(fullLength[0]![0]! - together[0]![0]!)).toBeGreaterThan(1e-6);
        model.dispose();
      });
    }
  }

  it('refuses valid lengths outside 1..steps and a row count that does not match', () => {
    const model = new SeqClassifier({ vocabSize: 4, embeddingSize: 2, numHiddens: 2, numClasses: 2 });
    const X = tf.zeros([2, 3], 'int32') as tf.Tensor2D;
    expect(() => model.classify(X, Int32Array.from([1, 4]))).toThrow(/row 1 has valid length 4, outside 1..3/);
    expect(() => model.classify(X, Int32Array.from([0, 1]))).toThrow(/row 0 has valid length 0/);
    expect(() => model.classify(X, Int32Array.from([1]))).toThrow(/2 rows but 1 valid lengths/);
    expect(() => new SeqClassifier({ vocabSize: 4, embeddingSize: 2, numHiddens: 2, numClasses: 2, pooling: 'max' as 'mean' })).toThrow(
      /Unknown pooling "max"/,
    );
    X.dispose();
    model.dispose();
  });
});

describe('class weights, confusion matrix', () => {
  it("balanced weights are n / (classes * count), as scikit-learn's", () => {
    expect(Array.from(balancedClassWeights([0, 0, 0, 1], 3))).toEqual([4 / 9, 4 / 3, 0]);
  });

  it('counts actual (rows) against predicted (columns)', () => {
    expect(confusionMatrix([0, 0, 1, 2, 2], [0, 1, 1, 2, 0], 3)).toEqual([
      [1, 1, 0],
      [0, 1, 0],
      [1, 0, 1],
    ]);
  });

  it("the weighted loss is PyTorch's CrossEntropyLoss(weight=w): sum(w[y] * loss) / sum(w[y])", () => {
    const model = new SeqClassifier({ vocabSize: 5, embeddingSize: 3, numHiddens: 4, numClasses: 2, cell: 'gru', seed: 4 });
    const X = { array: Int32Array.from([2, 3, 1, 4, 4, 4, 3, 1, 1]), validLen: Int32Array.from([2, 3, 1]), rows: 3, numSteps: 3 };
    const labels = Int32Array.from([0, 1, 1]);
    const w = [3, 0.5];
    const logits = logitsOf(model, [Array.from(X.array.slice(0, 3)), Array.from(X.array.slice(3, 6)), Array.from(X.array.slice(6))], Array.from(X.validLen));
    const ce = logits.map((l, i) => Math.log(l.reduce((a, v) => a + Math.exp(v), 0)) - l[labels[i]!]!);
    const expected = ce.reduce((a, c, i) => a + w[labels[i]!]! * c, 0) / labels.reduce((a, l) => a + w[l]!, 0);
    const unweighted = ce.reduce((a, c) => a + c, 0) / 3;
    // One full batch: the reported loss is the one before the update.
    const [epoch] = trainSequenceClassifier(model, { X, labels }, { epochs: 1, batchSize: 3, classWeights: w, lr: 1e-6 });
    expect(epoch!.loss).toBeCloseTo(expected, 5);
    expect(Math.abs(expected - unweighted)).toBeGreaterThan(1e-3);
    model.dispose();
  });
});

describe('trainSequenceClassifier', () => {
  // The label is the last real character of a random a/b/c string of 1-8 characters, padded to 8:
  // only the hidden state of the last real step knows it.
  const rng = createRng(11);
  const texts = Array.from({ length: 240 }, () => Array.from({ length: rng.int(1, 8) }, () => 'abc'[rng.int(0, 2)]).join(''));
  const data = classificationData(
    texts,
    texts.map((t) => `ends-${t.at(-1)}`),
    { tokens: 'char', numSteps: 8 },
  );

  it('learns a label that only the last real step holds, in minibatches, with validation each epoch, leaking nothing', () => {
    const { train, validation } = stratifiedSplit(data.labels, 0.25, 0);
    const part = (rows: number[]) => ({ X: selectPaddedRows(data.X, rows), labels: Int32Array.from(rows, (r) => data.labels[r]!) });
    const model = new SeqClassifier({ vocabSize: data.vocab.size, embeddingSize: 8, numHiddens: 16, numClasses: 3, cell: 'gru', seed: 0 });
    const before = tf.memory().numTensors;
    const seen: number[] = [];
    const history = trainSequenceClassifier(model, part(train), {
      epochs: 12,
      lr: 0.05,
      batchSize: 16,
      validation: part(validation),
      classWeights: balancedClassWeights(data.labels, 3),
      onEpochEnd: (e) => seen.push(e.epoch),
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    const last = history.at(-1)!;
    expect(last.loss).toBeLessThan(history[0]!.loss);
    expect(last.validation!.accuracy).toBeGreaterThan(0.95);
    expect(last.validation!.confusion.flat().reduce((a, b) => a + b, 0)).toBe(validation.length);
    const again = evaluateClassifier(model, part(validation), { numClasses: 3, batchSize: 7 });
    expect(again.accuracy).toBe(last.validation!.accuracy);
    expect(again.confusion).toEqual(last.validation!.confusion);
    // New texts through the same vocabulary.
    const X = encodeTexts(['abcab', 'cc'], data.vocab, 'char', 8);
    const p = model.predictProbabilities(tf.tensor2d(X.array, [2, 8], 'int32'), X.validLen);
    expect(p.map((row) => data.classes[row.indexOf(Math.max(...row))])).toEqual(['ends-b', 'ends-c']);
    model.dispose();
  }, 60_000);

  it('stops with a clear error when the loss is no longer finite, and checks its inputs', () => {
    const model = new SeqClassifier({ vocabSize: data.vocab.size, embeddingSize: 2, numHiddens: 2, numClasses: 3 });
    const all = { X: data.X, labels: data.labels };
    expect(() => trainSequenceClassifier(model, all, { epochs: 1, classWeights: [1, Number.NaN, 1] })).toThrow(/classWeights must be finite/);
    expect(() => trainSequenceClassifier(model, { X: data.X, labels: data.labels.slice(1) }, { epochs: 1 })).toThrow(/240 sequences but 239 labels/);
    expect(() => trainSequenceClassifier(model, all, { epochs: 0 })).toThrow(/epochs must be a whole number >= 1/);
    expect(() => trainSequenceClassifier(model, all, { epochs: 1, classWeights: [1, 1] })).toThrow(/label 2 is outside the 2 classes/);
    // A weight that is no longer a number (as an exploding run ends): a clear error, not NaN metrics.
    tf.tidy(() => model.head.b.assign(tf.fill(model.head.b.shape, Number.NaN)));
    let err: unknown;
    try {
      trainSequenceClassifier(model, all, { epochs: 2, theta: null });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TrainingDivergedError);
    expect(err).toBeInstanceOf(RangeError);
    expect(err).toMatchObject({ name: 'TrainingDivergedError', epoch: 1, loss: Number.NaN });
    expect((err as Error).message).toBe('The loss became NaN in epoch 1: training diverged; lower the learning rate.');
    model.dispose();
  });
});
