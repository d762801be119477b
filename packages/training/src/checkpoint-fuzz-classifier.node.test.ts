// The sequence classifier's and the time-series regressor's checkpoint fuzz (fixed seeds): 160
// damaged checkpoints each. Besides what every kind gets: the classifier's class names repeated
// or of the wrong count, another pooling, one class more, its word vocabulary edited; the
// regressor's input size, cell or hidden size changed. Each either loads the original's exact
// outputs or is refused naming the file: 0 silent wrong, 0 unnamed, 0 hung.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classificationData, noisySine } from '@rnnkit/data';
import { SeqClassifier, TimeSeriesRegressor } from '@rnnkit/models';
import { useBackend } from '../../../test/backends.js';
import {
  COMMON_MUTATIONS as M,
  caseList,
  fuzzCheckpoints,
  hexOf,
  tokensOf,
  vocabularyMutations,
  type Mutation,
  resignedEdit as resigned,
} from './checkpoint-fuzz-harness.js';
import { saveCheckpoint, seqClassifierKind, timeSeriesRegressorKind } from './node.js';

const texts = ['a fine day', 'a bad day', 'fine fine weather', 'bad weather again', 'what a day', 'the day was fine', 'so bad', 'fine again'];
const labels = ['good', 'bad', 'good', 'bad', 'good', 'good', 'bad', 'good'];
const data = classificationData(texts, labels, { tokens: 'word', numSteps: 5 });
const classifierConfig = seqClassifierKind.checkConfig({
  vocabSize: data.vocab.size,
  embeddingSize: 4,
  numHiddens: 6,
  numClasses: data.classes.length,
  cell: 'gru',
  seed: 1,
  tokens: 'word',
  classes: data.classes,
});
const regressorConfig = timeSeriesRegressorKind.checkConfig({ numHiddens: 6, seed: 1 });
let dir: string;

beforeAll(async () => {
  await useBackend('cpu');
  dir = mkdtempSync(join(tmpdir(), 'rnnkit-fuzz-cls-'));
  for (const [name, seed] of [
    ['original', 1],
    ['another', 2],
  ] as const) {
    const c = new SeqClassifier({ ...classifierConfig, seed });
    await saveCheckpoint(join(dir, 'classifier', name), seqClassifierKind, {
      model: c,
      config: { ...classifierConfig, seed },
      vocabularies: { vocab: data.vocab },
    });
    c.dispose();
    const r = new TimeSeriesRegressor({ ...regressorConfig, seed });
    await saveCheckpoint(join(dir, 'regressor', name), timeSeriesRegressorKind, { model: r, config: { ...regressorConfig, seed }, training: { epoch: 1 } });
    r.dispose();
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = (m: Record<string, unknown>) => m.config as Record<string, unknown>;
const COMMON: [Mutation[], number][] = [
  [[M.flipWeights!], 30],
  [[M.flipJson!], 20],
  [[M.truncate!], 12],
  [[M.editJson!], 25],
  [[M.editJsonResigned!], 18],
  [[M.nonFinite!, M.pathOutside!, M.anotherRunsWeights!, M.stripChecksums!, M.reorderSpecsResigned!], 20],
];

describe('sequence-classifier checkpoints, fuzzed (seed 20261201)', () => {
  it('0 silent wrong outputs, 0 messages without a file name, 0 hangs in 160 cases', async () => {
    const tensors = tf.memory().numTensors;
    const X = tf.tensor2d(data.X.array, [data.X.rows, data.X.numSteps], 'int32');
    const targeted: Mutation[] = [
      resigned('a class name repeated, re-signed', (m) => {
        const c = config(m).classes as string[];
        c[1] = c[0]!;
      }),
      resigned('one class name less, re-signed', (m) => {
        (config(m).classes as string[]).pop();
      }),
      resigned('pooling "max", re-signed', (m) => {
        config(m).pooling = 'max';
      }),
      resigned('one class more, re-signed', (m) => {
        config(m).numClasses = (config(m).numClasses as number) + 1;
      }),
      resigned('tokens "char" for a word vocabulary, re-signed', (m) => {
        config(m).tokens = 'char';
      }),
      resigned('the vocabulary without <pad>, re-signed', (m) => {
        const v = m.vocab as { idxToToken: string[] };
        v.idxToToken.splice(1, 1);
      }),
    ];
    const { counts, problems } = await fuzzCheckpoints({
      kind: seqClassifierKind,
      original: join(dir, 'classifier', 'original'),
      another: join(dir, 'classifier', 'another'),
      workDir: join(dir, 'classifier'),
      seed: 20261201,
      cases: caseList([...COMMON, [targeted, 15], [vocabularyMutations('vocab', { characters: false }), 20]]),
      fingerprint: (l) => {
        const logits = tf.tidy(() => l.model.classify(X, data.X.validLen).dataSync() as Float32Array);
        return `${hexOf(logits)}|${tokensOf(l.vocabularies)}`;
      },
    });
    X.dispose();
    console.log(`checkpoint fuzz, sequence classifier (seed 20261201): ${JSON.stringify(counts)}`);
    expect(problems).toEqual([]);
    expect(counts).toMatchObject({ cases: 160, silentWrong: 0, unnamed: 0, hung: 0 });
    expect(tf.memory().numTensors).toBe(tensors);
  });
});

describe('time-series-regressor checkpoints, fuzzed (seed 20261202)', () => {
  it('0 silent wrong outputs, 0 messages without a file name, 0 hangs in 160 cases', async () => {
    const tensors = tf.memory().numTensors;
    const windows = noisySine({ tau: 4, seed: 0 }).features.subarray(0, 4 * 16);
    const targeted: Mutation[] = [
      resigned('inputSize 2, re-signed', (m) => {
        config(m).inputSize = 2;
      }),
      resigned('cell lstm, re-signed', (m) => {
        config(m).cell = 'lstm';
      }),
      resigned('one hidden unit more, re-signed', (m) => {
        config(m).numHiddens = (config(m).numHiddens as number) + 1;
      }),
      resigned('a vocabulary added, re-signed', (m) => {
        m.vocab = { format: 'rnnkit-vocab', version: 1, idxToToken: ['<unk>'], tokenFreqs: [] };
      }),
      resigned('kind "sequence-classifier", re-signed', (m) => {
        m.kind = 'sequence-classifier';
      }),
    ];
    const { counts, problems } = await fuzzCheckpoints({
      kind: timeSeriesRegressorKind,
      original: join(dir, 'regressor', 'original'),
      another: join(dir, 'regressor', 'another'),
      workDir: join(dir, 'regressor'),
      seed: 20261202,
      cases: caseList([...COMMON, [targeted, 35]]),
      fingerprint: (l) => hexOf(l.model.predictWindows(windows, 4)),
    });
    console.log(`checkpoint fuzz, time-series regressor (seed 20261202): ${JSON.stringify(counts)}`);
    expect(problems).toEqual([]);
    expect(counts).toMatchObject({ cases: 160, silentWrong: 0, unnamed: 0, hung: 0 });
    expect(tf.memory().numTensors).toBe(tensors);
  });
});
