import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { predict } from '@rnnkit/training';
import { TEST_BACKENDS, useBackend } from '../../../test/backends.js';
import { LANGUAGE_MODEL_CASES, fixture, fixtureBytes, fixtureJson, flat, maxAbsDiff, rnnkitState } from '../test/fixtures.js';
import {
  createModelFromWeights,
  implementationsFor,
  parseVocabJson,
  readSafetensors,
  vocabFromTokens,
  weightsFromTorch,
  weightsOfModel,
  weightsToTorch,
  writeSafetensors,
} from './index.js';

// d2l's PyTorch models (test/fixtures/interop, written by test/fixtures/parity/interop.py) imported
// from safetensors onto every rnnkit implementation that computes them: PyTorch's logits and state
// on a fixed batch within 1e-5, and predict_ch8's greedy continuation character for character.
for (const backend of TEST_BACKENDS) {
  describe(`PyTorch safetensors -> rnnkit on ${backend}`, () => {
    beforeAll(() => useBackend(backend));

    describe.each(LANGUAGE_MODEL_CASES)('%s', (name) => {
      const fx = fixture(name);
      const vocab = vocabFromTokens(fixtureJson<string[]>(`${name}.vocab.json`), `${name}.vocab.json`);
      const weights = weightsFromTorch(readSafetensors(fixtureBytes(`${name}.safetensors`), `${name}.safetensors`).tensors, {
        file: `${name}.safetensors`,
        vocabSize: vocab.size,
      });
      const fits = implementationsFor(weights);

      it('is read as the model it is', () => {
        expect(weights.cell).toBe(fx.cell);
        expect([weights.numLayers, weights.numDirections, weights.numHiddens, weights.vocabSize]).toEqual([
          fx.sizes.layers,
          fx.sizes.directions,
          fx.sizes.hidden,
          fx.sizes.vocab,
        ]);
        // PyTorch's nn.GRU runs on fused only; d2l's scratch GRU on scratch and layers; RNN and LSTM on every implementation that has their shape.
        const expected =
          fx.kind === 'scratch'
            ? ['scratch', 'layers']
            : fx.cell === 'gru'
              ? ['fused']
              : fx.sizes.layers === 1
                ? ['scratch', 'fused', 'layers']
                : ['fused', 'layers'];
        expect(fits).toEqual(expected);
      });

      it.each(fits)('on %s: logits, state and the greedy continuation match PyTorch', (implementation) => {
        const before = tf.memory().numTensors;
        const { model, config } = createModelFromWeights(weights, implementation);
        expect(config.implementation).toBe(implementation);
        const X = tf.tensor2d(fx.X, undefined, 'int32');
        const state0 = rnnkitState(fx);
        // (The scratch model's call leaves its one-hot inputs to the caller's tidy.)
        const { logits, state } = tf.tidy(() => model.call(X, state0));
        expect(logits.shape).toEqual([fx.sizes.steps! * fx.sizes.batch!, fx.sizes.vocab]);
        expect(maxAbsDiff(logits.dataSync(), flat(fx.logits))).toBeLessThanOrEqual(1e-5);
        const states = state.flatMap((s) => Array.from(s.dataSync()));
        expect(maxAbsDiff(states, flat(fx.state))).toBeLessThanOrEqual(1e-5);
        expect(predict(model, vocab, fx.prefix!, fx.num_preds!).text).toBe(fx.greedy);
        tf.dispose([X, logits, ...state0, ...state]);
        model.dispose();
        expect(tf.memory().numTensors).toBe(before);
      });

      it('exports back to the same state dict (names, shapes and values)', () => {
        const original = readSafetensors(fixtureBytes(`${name}.safetensors`), name).tensors;
        for (const implementation of fits) {
          const { model, config } = createModelFromWeights(weights, implementation);
          const exported = weightsToTorch(weightsOfModel(model, config), fx.kind === 'scratch' ? 'scratch' : 'concise');
          model.dispose();
          expect(Object.keys(exported).sort()).toEqual(Object.keys(original).sort());
          for (const [k, t] of Object.entries(original)) {
            expect(exported[k]!.shape, k).toEqual(t.shape);
            // tf.layers keeps one bias (b_ih + b_hh), the scratch model one per gate: the sum is exact to rounding.
            const tol = implementation === 'fused' || !k.startsWith('rnn.bias') ? 0 : 1e-6;
            expect(
              maxAbsDiff(exported[k]!.data, k.startsWith('rnn.bias') && tol ? sumBiases(original, k) : t.data),
              `${implementation} ${k}`,
            ).toBeLessThanOrEqual(tol);
          }
          // And the file round-trips byte-exactly through writeSafetensors/readSafetensors.
          const again = readSafetensors(writeSafetensors(exported), 'written').tensors;
          for (const [k, t] of Object.entries(exported)) expect(Array.from(again[k]!.data)).toEqual(Array.from(t.data));
        }
      });
    });
  });
}

/** Where the bias is merged: bias_ih gets b_ih + b_hh and bias_hh zeros. */
function sumBiases(state: Record<string, { data: Float32Array }>, name: string): Float32Array {
  const ih = state[name.replace('bias_hh', 'bias_ih')]!.data;
  const hh = state[name.replace('bias_ih', 'bias_hh')]!.data;
  return name.includes('bias_hh') ? new Float32Array(hh.length) : Float32Array.from(ih, (v, i) => v + hh[i]!);
}

describe('vocab.json', () => {
  it("reads d2l's idx_to_token and refuses what is not one, naming the file", () => {
    expect(parseVocabJson('["<unk>", "a", "b"]').size).toBe(3);
    expect(() => parseVocabJson('{"a": 1}', 'v.json')).toThrow(/^v\.json: is not a JSON array/);
    expect(() => parseVocabJson('["<unk>", "a", "a"]', 'v.json')).toThrow(/v\.json: holds the token "a" twice/);
    expect(() => parseVocabJson('["a", "<unk>"]', 'v.json')).toThrow(/v\.json: starts with "a"/);
    expect(() => parseVocabJson('["<unk>", 3]', 'v.json')).toThrow(/v\.json: holds 3 at index 1/);
    expect(() => parseVocabJson('["<unk>"', 'v.json')).toThrow(/v\.json: is not valid JSON/);
  });
});
