import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { assignVariables } from '@rnnkit/cells';
import { loadDataNmt, nmtSpecialIds } from '@rnnkit/data';
import { EncoderDecoder, fromTorchNames } from '@rnnkit/models';
import { TEST_BACKENDS, expectClose, tensorsOf, useBackend, type Nested } from '../../../test/backends.js';
import { evaluateSeq2Seq, maskedSoftmaxCELoss, predictSeq2Seq, sequenceMask, teacherForcingInput, trainSeq2Seq } from './index.js';

// d2l 9.6-9.7 on the encoder-decoder: PyTorch parity (forward, MaskedSoftmaxCELoss, gradients),
// training with d2l's loss and predict_seq2seq. Dropout and beam search: models/src/encoder-decoder.test.ts.

interface EncoderDecoderFixture {
  sizes: Record<string, number>;
  params: Record<string, Nested>;
  X: number[][];
  Y: number[][];
  Y_valid_len: number[];
  dec_input: number[][];
  logits: Nested;
  loss_per_row: number[];
  loss_sum: number;
  grads: Record<string, Nested>;
}
const fixture = JSON.parse(readFileSync(new URL('../../../test/fixtures/parity/encoder_decoder_gru.json', import.meta.url), 'utf8')) as EncoderDecoderFixture;

/** PyTorch's `encoder.rnn.weight_ih_l0`, `decoder.dense.weight`, ... as `EncoderDecoder.namedVariables()` names. */
function torchToEncoderDecoder(entries: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const part of ['encoder', 'decoder']) {
    const mine = Object.fromEntries(
      Object.entries(entries)
        .filter(([k]) => k.startsWith(`${part}.`))
        .map(([k, v]) => [k.slice(part.length + 1).replace(/^dense\./, 'linear.'), v]),
    );
    for (const [k, v] of Object.entries(fromTorchNames(mine))) out[`${part}.${k}`] = v;
  }
  return out;
}

for (const backend of TEST_BACKENDS) {
  describe(`EncoderDecoder against d2l's PyTorch Seq2SeqEncoder/Decoder on ${backend}`, () => {
    beforeAll(() => useBackend(backend));

    it('one teacher-forced forward pass, MaskedSoftmaxCELoss and its gradients match', () => {
      const s = fixture.sizes;
      const model = new EncoderDecoder({
        srcVocabSize: s.src_vocab!,
        tgtVocabSize: s.tgt_vocab!,
        embedSize: s.embed!,
        numHiddens: s.hidden!,
        numLayers: s.num_layers!,
      });
      const vars = model.namedVariables();
      const params = torchToEncoderDecoder(tensorsOf(fixture.params));
      expect(Object.keys(params).sort()).toEqual(Object.keys(vars).sort());
      assignVariables(vars, params);
      const X = tf.tensor2d(fixture.X, undefined, 'int32');
      const Y = { array: Int32Array.from(fixture.Y.flat()), validLen: Int32Array.from(fixture.Y_valid_len), rows: s.batch!, numSteps: s.tgt_steps! };
      const decIn = teacherForcingInput(Y, s.bos!);
      expect(Array.from(decIn)).toEqual(fixture.dec_input.flat());
      const decInT = tf.tensor2d(decIn, [s.batch!, s.tgt_steps!], 'int32');
      const labels = tf.tensor1d(Y.array, 'int32');
      const mask = tf.tensor1d(sequenceMask(Y.validLen, Y.numSteps));
      const logits = model.call(X, decInT);
      expectClose(tf.reshape(logits, [s.batch!, s.tgt_steps!, s.tgt_vocab!]), fixture.logits, 'logits');
      const perRow = maskedSoftmaxCELoss(logits, labels, mask, s.tgt_steps!);
      expectClose(perRow, fixture.loss_per_row, 'loss per row');
      const before = tf.memory().numTensors;
      const { value, grads } = tf.variableGrads(
        () => tf.sum(maskedSoftmaxCELoss(model.call(X, decInT), labels, mask, s.tgt_steps!)) as tf.Scalar,
        model.trainableVariables,
      );
      expect(tf.memory().numTensors).toBe(before + 1 + Object.keys(grads).length);
      expectClose(value, fixture.loss_sum, 'loss sum');
      value.dispose();
      const want = torchToEncoderDecoder(tensorsOf(fixture.grads));
      for (const [name, v] of Object.entries(vars)) expectClose(grads[v.name]!, want[name]!.arraySync() as Nested, `d ${name}`, { atol: 1e-7 });
      tf.dispose([...Object.values(grads), ...Object.values(want)]);
      tf.dispose([X, decInT, labels, mask, logits, perRow, ...Object.values(params)]);
      model.dispose();
    });
  });
}

describe('d2l 9.7 training and predict_seq2seq on the shipped English-French lines', () => {
  beforeAll(() => useBackend('wasm'));

  it("trains with d2l's loss, translates with <unk> shown, greedy or beam; no tensor leaks", () => {
    const data = loadDataNmt({ numSteps: 10, numExamples: 100 });
    const { bos, eos } = nmtSpecialIds(data.tgtVocab);
    const model = new EncoderDecoder({
      srcVocabSize: data.srcVocab.size,
      tgtVocabSize: data.tgtVocab.size,
      embedSize: 32,
      numHiddens: 32,
      dropout: 0.1,
      init: 'xavier',
      seed: 0,
    });
    const before = tf.memory().numTensors;
    const history = trainSeq2Seq(model, data, { epochs: 90, lr: 0.005, batchSize: 64, bos, loss: 'd2l', seed: 0 });
    expect(tf.memory().numTensors).toBe(before);
    expect(history.at(-1)!.loss).toBeLessThan(history[0]!.loss / 2);
    const greedy = predictSeq2Seq(model, 'Go zorglub!', data.srcVocab, data.tgtVocab, 10);
    expect(greedy.source).toEqual(['go', '<unk>', '!']);
    expect(greedy.unknown).toEqual(['zorglub']);
    expect(greedy.text).toBe(greedy.tokens.join(' '));
    expect(greedy.tokens.length).toBeLessThanOrEqual(10);
    expect(predictSeq2Seq(model, 'Go zorglub!', data.srcVocab, data.tgtVocab, 10, { beamSize: 1 })).toEqual(greedy);
    const beam = predictSeq2Seq(model, 'go .', data.srcVocab, data.tgtVocab, 10, { beamSize: 3 });
    expect(beam.tokens.every((t) => data.tgtVocab.has(t) && t !== '<eos>')).toBe(true);
    const ev1 = evaluateSeq2Seq(model, data.src, data.target, { tgtVocab: data.tgtVocab, bos, eos, maxLength: 10 });
    const ev3 = evaluateSeq2Seq(model, data.src, data.target, { tgtVocab: data.tgtVocab, bos, eos, maxLength: 10, beamSize: 3 });
    // BLEU on words (0.125 here after 90 epochs; 30 epochs give "<unk> !" for every line, which scores 0).
    expect(ev1.bleu).toBeGreaterThan(0.08);
    expect(ev1.exactMatch).toBeGreaterThan(0.03);
    expect(ev3.predictions).toHaveLength(data.src.rows);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  }, 120_000);
});
