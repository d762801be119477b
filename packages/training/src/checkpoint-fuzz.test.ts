// The language model's checkpoint fuzz (fixed seed): 160 damaged checkpoints, flipped bits,
// truncations, random edits, non-finite weights, paths outside the folder, another run's weights,
// the checksums stripped, weight specs reordered, and the consistent edits a re-signing writer or a
// stripped-checksum layout makes to the vocabulary (two tokens swapped, a duplicate, an empty
// token, a two-character token in a character model). Each either loads the original's exact
// outputs or is refused naming the file: 0 silent wrong, 0 unnamed, 0 hung.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Vocab } from '@rnnkit/data';
import { createLanguageModel, type LanguageModelConfig } from '@rnnkit/models';
import type { RecurrentLanguageModel } from '@rnnkit/cells';
import { useBackend } from '../../../test/backends.js';
import { COMMON_MUTATIONS as M, caseList, fuzzCheckpoints, hexOf, toLegacy, tokensOf, vocabularyMutations, type Mutation } from './checkpoint-fuzz-harness.js';
import { languageModelKind, makeOptimizer, predict, saveLanguageModel, textEncodingOf, trainStep } from './node.js';

const TEXT = 'the time traveller for so it will be convenient to speak of him was expounding a recondite matter to us';
const vocab = new Vocab(Array.from(TEXT));
const config: LanguageModelConfig = {
  cell: 'lstm',
  implementation: 'fused',
  numHiddens: 12,
  numLayers: 1,
  bidirectional: false,
  vocabSize: vocab.size,
  seed: 1,
};
let dir: string;

/** A few training steps, so that the weights and the outputs are not the initial ones. */
async function trained(path: string, seed: number): Promise<void> {
  const model = createLanguageModel({ ...config, seed });
  const optimizer = makeOptimizer('adam', 0.05);
  const ids = vocab.indicesOf(Array.from(TEXT));
  for (let i = 0; i < 10; i++) {
    const X = tf.tensor2d(ids.slice(0, 96), [4, 24], 'int32');
    const Y = tf.tensor2d(ids.slice(1, 97), [4, 24], 'int32');
    const state = model.beginState(4);
    const r = trainStep(model, X, Y, state, optimizer, 1);
    tf.dispose([X, Y, ...state, ...r.state]);
  }
  await saveLanguageModel(path, { model, vocab, config: { ...config, seed }, training: { epoch: 10 } });
  model.dispose();
  optimizer.dispose();
}

beforeAll(async () => {
  await useBackend('cpu');
  dir = mkdtempSync(join(tmpdir(), 'rnnkit-fuzz-lm-'));
  await trained(join(dir, 'original'), 1);
  await trained(join(dir, 'another'), 2);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const legacyLayout: Mutation = {
  name: "the CLI's first layout (checksums off), loaded without allowing it",
  apply(ctx) {
    const json = ctx.readJson();
    delete json.userDefinedMetadata.rnnkit.layout;
    delete json.userDefinedMetadata.rnnkit.integrity;
    toLegacy(json);
    ctx.writeJson(json);
    return 'first layout';
  },
};
const legacyWithAnotherRunsWeights: Mutation = {
  name: "the first layout with another run's weights.bin",
  apply(ctx) {
    legacyLayout.apply(ctx);
    M.anotherRunsWeights!.apply(ctx);
    return "first layout, another run's weights.bin";
  },
};

/** Another valid text encoding, checksums kept: how text becomes tokens, changed behind the checksums' back. */
const textEncodingEdited: Mutation = {
  name: 'config.text edited to another valid encoding (checksums kept)',
  apply(ctx) {
    const json = ctx.readJson();
    (json.userDefinedMetadata.rnnkit.config as Record<string, unknown>).text = { preprocess: 'raw', tokens: 'char', lineBreak: '\n' };
    ctx.writeJson(json);
    return 'config.text set to raw text with line breaks';
  },
};

describe('language-model checkpoints, fuzzed (seed 20261129)', () => {
  it('0 silent wrong outputs, 0 messages without a file name, 0 hangs in 160 cases', async () => {
    const tensors = tf.memory().numTensors;
    const { counts, problems } = await fuzzCheckpoints({
      kind: languageModelKind,
      original: join(dir, 'original'),
      another: join(dir, 'another'),
      workDir: dir,
      seed: 20261129,
      cases: caseList([
        [[M.flipWeights!], 30],
        [[M.flipJson!], 20],
        [[M.truncate!], 12],
        [[M.editJson!], 25],
        [[M.editJsonResigned!], 15],
        [
          [
            M.nonFinite!,
            M.pathOutside!,
            M.anotherRunsWeights!,
            M.stripChecksums!,
            M.reorderSpecsResigned!,
            legacyLayout,
            legacyWithAnotherRunsWeights,
            textEncodingEdited,
          ],
          28,
        ],
        [vocabularyMutations('vocab', { characters: true }), 30],
      ]),
      fingerprint: (l) => {
        const model = l.model as RecurrentLanguageModel;
        const logits = tf.tidy(() => {
          const ids = vocab.indicesOf(Array.from(TEXT.slice(0, 24)));
          return model.call(tf.tensor2d(ids, [1, ids.length], 'int32'), model.beginState(1)).logits.dataSync() as Float32Array;
        });
        // The text encoding too: it is how a prefix and a resumed run's corpus become tokens.
        const encoding = JSON.stringify(textEncodingOf({ config: l.config as LanguageModelConfig, training: l.training }));
        return `${predict(model, l.vocabularies.vocab!, 'time traveller ', 30).text}|${hexOf(logits)}|${tokensOf(l.vocabularies)}|${encoding}`;
      },
    });
    console.log(`checkpoint fuzz, language model (seed 20261129): ${JSON.stringify(counts)}`);
    expect(problems).toEqual([]);
    expect(counts).toMatchObject({ cases: 160, silentWrong: 0, unnamed: 0, hung: 0 });
    expect(tf.memory().numTensors).toBe(tensors);
  });
});
