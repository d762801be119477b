import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { TEST_BACKENDS, useBackend } from '../../../test/backends.js';
import { fixture, fixtureBytes, fixtureJson, flat, maxAbsDiff } from '../test/fixtures.js';
import {
  createTranslationModel,
  isTranslationStateDict,
  readSafetensors,
  translationFromTorch,
  translationToTorch,
  translationVocabFromJson,
} from './index.js';

// d2l 9.7's EncoderDecoder(Seq2SeqEncoder, Seq2SeqDecoder) from PyTorch safetensors onto rnnkit's
// EncoderDecoder: the teacher-forced logits, the decoder's final state and predict_seq2seq's greedy ids.
const fx = fixture('encoder_decoder');
const file = 'encoder_decoder.safetensors';

for (const backend of TEST_BACKENDS) {
  describe(`d2l's encoder-decoder from safetensors on ${backend}`, () => {
    beforeAll(() => useBackend(backend));

    it('gives PyTorch logits, state and greedy translations', () => {
      const { src, tgt } = translationVocabFromJson(fixtureJson('encoder_decoder.vocab.json'), 'encoder_decoder.vocab.json');
      const state = readSafetensors(fixtureBytes(file), file).tensors;
      expect(isTranslationStateDict(state)).toBe(true);
      const weights = translationFromTorch(state, { file, srcVocabSize: src.size, tgtVocabSize: tgt.size });
      expect(weights.options).toEqual({ srcVocabSize: 10, tgtVocabSize: 12, embedSize: 4, numHiddens: 8, numLayers: 2, cell: 'gru' });
      const before = tf.memory().numTensors;
      const model = createTranslationModel(weights);
      const X = tf.tensor2d(fx.X, undefined, 'int32');
      const decX = tf.tensor2d(fx.dec_X!, undefined, 'int32');
      const { logits, hidden } = tf.tidy(() => {
        const out = model.decode(decX, model.encode(X));
        return { logits: out.logits, hidden: out.state.hidden };
      });
      expect(maxAbsDiff(logits.dataSync(), flat(fx.logits))).toBeLessThanOrEqual(1e-5);
      expect(
        maxAbsDiff(
          hidden.flatMap((layer) => Array.from(layer[0]!.dataSync())),
          flat(fx.state),
        ),
      ).toBeLessThanOrEqual(1e-5);
      const sources = tf.tensor2d(fx.sources!, undefined, 'int32');
      expect(model.greedyDecode(sources, fx.bos!, fx.eos!, 6)).toEqual(fx.greedy);
      // And back: the same names, shapes and values as PyTorch's state dict.
      const back = translationToTorch(model);
      expect(Object.keys(back).sort()).toEqual(Object.keys(state).sort());
      for (const [k, t] of Object.entries(state)) {
        expect(back[k]!.shape, k).toEqual(t.shape);
        expect(maxAbsDiff(back[k]!.data, t.data), k).toBe(0);
      }
      tf.dispose([X, decX, sources, logits, hidden]);
      model.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });
  });
}

describe('translation state dicts that do not fit', () => {
  const state = () => readSafetensors(fixtureBytes(file), file).tensors;
  it('names the file and the tensor', () => {
    const s = state();
    delete s['decoder.dense.bias'];
    expect(() => translationFromTorch(s, { file })).toThrow(/^encoder_decoder\.safetensors: has no tensor "decoder\.dense\.bias"/);
    expect(() => translationFromTorch(state(), { file, tgtVocabSize: 11 })).toThrow(/target embedding of 12 tokens, but the target vocabulary has 11/);
    const extra = state();
    extra['decoder.rnn.weight_ih_l2'] = extra['decoder.rnn.weight_ih_l1']!;
    expect(() => translationFromTorch(extra, { file })).toThrow(/different shapes|has a tensor "decoder\.rnn\.weight_ih_l2"/);
  });
});

describe('an incomplete encoder-decoder state dict', () => {
  it('is seen as one and refused naming the tensor it lacks, not as "not d2l\'s RNNModel"', () => {
    const state = readSafetensors(fixtureBytes(file), file).tensors;
    const partial = Object.fromEntries(Object.entries(state).filter(([name]) => name.startsWith('encoder.')));
    expect(isTranslationStateDict(partial)).toBe(true);
    expect(() => translationFromTorch(partial, { file: 'half.safetensors' })).toThrow(
      /^half\.safetensors: has no 2-D tensor "decoder\.embedding\.weight", which d2l's Seq2SeqEncoder\/Seq2SeqDecoder have\.$/,
    );
    expect(isTranslationStateDict({ 'rnn.weight_ih_l0': state['encoder.rnn.weight_ih_l0']! })).toBe(false);
  });
});
