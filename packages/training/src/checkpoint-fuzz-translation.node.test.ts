// The translation model's checkpoint fuzz (fixed seed): 160 damaged checkpoints of d2l's GRU
// encoder-decoder with its two vocabularies. Besides what every kind gets: the vocabularies
// swapped, a reserved token moved, the old translate layout without checksums (alone and with
// another run's weights), another kind's name. Each either loads the original's exact outputs or
// is refused naming the file: 0 silent wrong, 0 unnamed, 0 hung.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataNmt } from '@rnnkit/data';
import { EncoderDecoder } from '@rnnkit/models';
import { useBackend } from '../../../test/backends.js';
import {
  COMMON_MUTATIONS as M,
  caseList,
  fuzzCheckpoints,
  hexOf,
  toLegacy,
  tokensOf,
  vocabularyMutations,
  type Mutation,
  resignedEdit as resigned,
} from './checkpoint-fuzz-harness.js';
import { saveCheckpoint, translationKind } from './node.js';

const data = loadDataNmt({ numSteps: 6, numExamples: 60 });
const config = translationKind.checkConfig({
  srcVocabSize: data.srcVocab.size,
  tgtVocabSize: data.tgtVocab.size,
  embedSize: 4,
  numHiddens: 6,
  numLayers: 2,
  seed: 1,
});
let dir: string;

async function saved(path: string, seed: number): Promise<void> {
  const model = new EncoderDecoder({ ...config, seed });
  await saveCheckpoint(path, translationKind, {
    model,
    config: { ...config, seed },
    vocabularies: { sourceVocab: data.srcVocab, targetVocab: data.tgtVocab },
    training: { rnnkit: 'test', numSteps: 6, numExamples: 60, epoch: 3 },
  });
  model.dispose();
}

beforeAll(async () => {
  await useBackend('cpu');
  dir = mkdtempSync(join(tmpdir(), 'rnnkit-fuzz-translation-'));
  await saved(join(dir, 'original'), 1);
  await saved(join(dir, 'another'), 2);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const oldLayout: Mutation = {
  name: "rnnkit translate's first layout (no checksums)",
  apply(ctx) {
    const json = ctx.readJson();
    delete json.userDefinedMetadata.rnnkit.layout;
    delete json.userDefinedMetadata.rnnkit.integrity;
    toLegacy(json);
    ctx.writeJson(json);
    return 'first translate layout';
  },
};
const TARGETED: Mutation[] = [
  resigned('source and target vocabularies swapped, re-signed', (m) => {
    [m.sourceVocab, m.targetVocab] = [m.targetVocab, m.sourceVocab];
  }),
  resigned('the target vocabulary given for both, re-signed', (m) => {
    m.sourceVocab = m.targetVocab;
  }),
  resigned('config sizes swapped with the vocabularies, re-signed', (m) => {
    const c = m.config as Record<string, number>;
    [c.srcVocabSize, c.tgtVocabSize] = [c.tgtVocabSize!, c.srcVocabSize!];
    [m.sourceVocab, m.targetVocab] = [m.targetVocab, m.sourceVocab];
  }),
  resigned('<bos> and <eos> swapped, re-signed', (m) => {
    const v = m.targetVocab as { idxToToken: string[] };
    [v.idxToToken[2], v.idxToToken[3]] = [v.idxToToken[3]!, v.idxToToken[2]!];
  }),
  resigned('kind "language-model", re-signed', (m) => {
    m.kind = 'language-model';
  }),
  resigned('one more layer in the config, re-signed', (m) => {
    (m.config as Record<string, number>).numLayers = 3;
  }),
  resigned('cell lstm in the config, re-signed', (m) => {
    (m.config as Record<string, string>).cell = 'lstm';
  }),
  oldLayout,
  {
    name: "first layout with another run's weights.bin",
    apply(ctx) {
      oldLayout.apply(ctx);
      M.anotherRunsWeights!.apply(ctx);
      return "first translate layout, another run's weights.bin";
    },
  },
];

describe('translation checkpoints, fuzzed (seed 20261130)', () => {
  it('0 silent wrong outputs, 0 messages without a file name, 0 hangs in 160 cases', async () => {
    const tensors = tf.memory().numTensors;
    const src = tf.tensor2d(data.src.array.subarray(0, 4 * 6), [4, 6], 'int32');
    const tgt = tf.tensor2d(data.tgt.array.subarray(0, 4 * 6), [4, 6], 'int32');
    const { counts, problems } = await fuzzCheckpoints({
      kind: translationKind,
      original: join(dir, 'original'),
      another: join(dir, 'another'),
      workDir: dir,
      seed: 20261130,
      cases: caseList([
        [[M.flipWeights!], 30],
        [[M.flipJson!], 20],
        [[M.truncate!], 12],
        [[M.editJson!], 22],
        [[M.editJsonResigned!], 15],
        [[M.nonFinite!, M.pathOutside!, M.anotherRunsWeights!, M.stripChecksums!, M.reorderSpecsResigned!], 15],
        [TARGETED, 18],
        [[...vocabularyMutations('sourceVocab', { characters: false }), ...vocabularyMutations('targetVocab', { characters: false })], 28],
      ]),
      fingerprint: (l) => {
        const logits = tf.tidy(() => l.model.decode(tgt, l.model.encode(src)).logits.dataSync() as Float32Array);
        return `${hexOf(logits)}|${tokensOf(l.vocabularies)}`;
      },
    });
    tf.dispose([src, tgt]);
    console.log(`checkpoint fuzz, translation (seed 20261130): ${JSON.stringify(counts)}`);
    expect(problems).toEqual([]);
    expect(counts).toMatchObject({ cases: 160, silentWrong: 0, unnamed: 0, hung: 0 });
    expect(tf.memory().numTensors).toBe(tensors);
  });
});
