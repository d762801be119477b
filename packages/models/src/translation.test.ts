import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { assignVariables } from '@rnnkit/cells';
import { loadDataNmt, nmtSpecialIds } from '@rnnkit/data';
import { evaluateSeq2Seq, maskedSoftmaxCELoss, predictSeq2Seq, sequenceMask, teacherForcingInput, trainSeq2Seq } from '@rnnkit/training';
import { TEST_BACKENDS, expectClose, tensorsOf, useBackend, type Nested } from '../../../test/backends.js';
import { EncoderDecoder, fromTorchNames } from './index.js';

// d2l 9.6-9.8 on the encoder-decoder: PyTorch parity, dropout between layers, beam search.

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
      const model = new EncoderDecoder({ srcVocabSize: s.src_vocab!, tgtVocabSize: s.tgt_vocab!, embedSize: s.embed!, numHiddens: s.hidden!, numLayers: s.num_layers! });
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
      const { value, grads } = tf.variableGrads(() => tf.sum(maskedSoftmaxCELoss(model.call(X, decInT), labels, mask, s.tgt_steps!)) as tf.Scalar, model.trainableVariables);
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

describe('dropout between stacked recurrent layers', () => {
  beforeAll(() => useBackend('cpu'));
  const sizes = { srcVocabSize: 9, tgtVocabSize: 8, embedSize: 5, numHiddens: 6 };
  const src = () => tf.tensor2d([[4, 5, 6, 3], [7, 3, 1, 1]], undefined, 'int32');
  const tgt = () => tf.tensor2d([[2, 4, 5], [2, 6, 7]], undefined, 'int32');
  const logitsOf = (model: EncoderDecoder, training: boolean) => {
    const [s, t] = [src(), tgt()];
    const logits = model.call(s, t, { training });
    const out = Array.from(logits.dataSync());
    tf.dispose([s, t, logits]);
    return out;
  };

  it('is on in training, off in prediction, and repeats with the seed', () => {
    const a = new EncoderDecoder({ ...sizes, dropout: 0.5, seed: 7 });
    const b = new EncoderDecoder({ ...sizes, dropout: 0.5, seed: 7 });
    const none = new EncoderDecoder({ ...sizes, dropout: 0, seed: 7 });
    const evalA = logitsOf(a, false);
    expect(evalA).toEqual(logitsOf(none, false)); // same weights; no dropout when predicting
    expect(logitsOf(none, true)).toEqual(evalA); // rate 0 changes nothing
    const before = tf.memory().numTensors;
    const trainA = [logitsOf(a, true), logitsOf(a, true)];
    expect(tf.memory().numTensors).toBe(before);
    expect(trainA[0]).not.toEqual(evalA);
    expect(trainA[1]).not.toEqual(trainA[0]); // fresh masks each pass
    expect([logitsOf(b, true), logitsOf(b, true)]).toEqual(trainA); // the same seed draws the same masks
    expect(logitsOf(a, false)).toEqual(evalA);
    for (const m of [a, b, none]) m.dispose();
  });

  it('acts on the outputs of every layer but the last (none with one layer)', () => {
    const one = new EncoderDecoder({ ...sizes, numLayers: 1, dropout: 0.5, seed: 1 });
    expect(logitsOf(one, true)).toEqual(logitsOf(one, false));
    one.dispose();
    expect(() => new EncoderDecoder({ ...sizes, dropout: 1 })).toThrow(/dropout must be in \[0, 1\)/);
  });

  it("d2l's Xavier init changes the recurrent and output weights only, within Xavier's bound", () => {
    const plain = new EncoderDecoder({ ...sizes, seed: 3 });
    const xavier = new EncoderDecoder({ ...sizes, seed: 3, init: 'xavier' });
    const p = plain.namedVariables();
    const x = xavier.namedVariables();
    for (const name of Object.keys(p)) {
      const same = tf.all(tf.equal(p[name]!, x[name]!)).dataSync()[0] === 1;
      expect(same, name).toBe(!/W_ih|W_hh|W_out/.test(name));
    }
    const w = x['decoder.W_ih_l0']!; // (embed + hidden, 3 * hidden)
    const bound = Math.sqrt(6 / (w.shape[0]! + w.shape[1]!));
    expect(tf.max(tf.abs(w)).dataSync()[0]).toBeLessThanOrEqual(bound);
    expect(() => new EncoderDecoder({ ...sizes, init: 'he' as 'xavier' })).toThrow(/Unknown init/);
    plain.dispose();
    xavier.dispose();
  });
});

describe('beam search (d2l 9.8)', () => {
  beforeAll(() => useBackend('cpu'));
  const [bos, eos] = [2, 3];
  const V = 5; // <unk> <pad> <bos> <eos> and one word
  const maxLength = 3;

  /** Every output of at most maxLength tokens (ending in <eos>, or maxLength long), scored by teacher forcing. */
  function exhaustive(model: EncoderDecoder, src: tf.Tensor2D) {
    const sequences: number[][] = [];
    const grow = (prefix: number[]) => {
      for (let v = 0; v < V; v++) {
        const seq = [...prefix, v];
        if (v === eos || seq.length === maxLength) sequences.push(seq);
        else grow(seq);
      }
    };
    grow([]);
    // One batch: row i is <bos> + sequence i (padded); the decoder is causal, so padding after a step does not change it.
    const lp = tf.tidy(() => {
      const input = tf.tensor2d(sequences.map((seq) => [bos, ...seq.slice(0, -1), ...new Array<number>(maxLength - seq.length).fill(0)]), undefined, 'int32');
      return tf.reshape(tf.logSoftmax(model.call(tf.tile(src, [sequences.length, 1]) as tf.Tensor2D, input)), [sequences.length, maxLength, V]).arraySync() as number[][][];
    });
    return (alpha: number) =>
      sequences.map((seq, i) => {
        const logProb = seq.reduce((sum, token, t) => sum + lp[i]![t]![token]!, 0);
        return { tokens: seq.at(-1) === eos ? seq.slice(0, -1) : seq, logProb, score: logProb / Math.pow(seq.length, alpha) };
      });
  }

  it('finds the exhaustive search optimum when the beam holds every hypothesis, and beam 1 is greedy', () => {
    let differs = 0;
    for (let seed = 0; seed < 8; seed++) {
      const model = new EncoderDecoder({ srcVocabSize: 6, tgtVocabSize: V, embedSize: 3, numHiddens: 4, numLayers: 2, seed, init: 'xavier' });
      const src = tf.tensor2d([[4, 5, 3, 1]], undefined, 'int32');
      const scored = exhaustive(model, src);
      for (const alpha of [0.75, 0]) {
        const all = scored(alpha);
        expect(all).toHaveLength(1 + 4 + 16 + 64);
        const best = all.reduce((a, h) => (h.score > a.score ? h : a));
        const before = tf.memory().numTensors;
        const [found] = model.beamSearch(src, bos, eos, maxLength, { beamSize: 4 * 4 * V, alpha });
        expect(tf.memory().numTensors).toBe(before);
        expect(found!.tokens).toEqual(best.tokens);
        expect(found!.score).toBeCloseTo(best.score, 5);
        // A narrow beam returns a real candidate with its true score, never better than the optimum.
        for (const beamSize of [1, 2, 3]) {
          const [h] = model.beamSearch(src, bos, eos, maxLength, { beamSize, alpha });
          const same = all.find((c) => c.tokens.join() === h!.tokens.join())!; // tokens fix the candidate: < maxLength ones ended in <eos>
          expect(h!.logProb).toBeCloseTo(same.logProb, 5);
          expect(h!.score).toBeLessThanOrEqual(best.score + 1e-6);
          if (h!.tokens.join() !== best.tokens.join()) differs++;
        }
      }
      expect(model.beamDecode(src, bos, eos, maxLength, { beamSize: 1 })).toEqual(model.greedyDecode(src, bos, eos, maxLength));
      src.dispose();
      model.dispose();
    }
    expect(differs).toBeGreaterThan(0); // the narrow beams do miss the optimum sometimes: the check above is not vacuous
  });

  it('beam 1 equals greedy decoding row by row on a batch', () => {
    const model = new EncoderDecoder({ srcVocabSize: 9, tgtVocabSize: 12, embedSize: 4, numHiddens: 8, seed: 5 });
    const src = tf.tensor2d([[4, 5, 6, 3], [7, 3, 1, 1], [8, 8, 3, 1]], undefined, 'int32');
    expect(model.beamDecode(src, bos, eos, 6, { beamSize: 1 })).toEqual(model.greedyDecode(src, bos, eos, 6));
    expect(() => model.beamSearch(src, bos, eos, 6, { beamSize: 0 })).toThrow(/beamSize/);
    src.dispose();
    model.dispose();
  });
});

describe('d2l 9.7 training and predict_seq2seq on the shipped English-French lines', () => {
  beforeAll(() => useBackend('wasm'));

  it("trains with d2l's loss, translates with <unk> shown, greedy or beam; no tensor leaks", () => {
    const data = loadDataNmt({ numSteps: 10, numExamples: 100 });
    const { bos, eos } = nmtSpecialIds(data.tgtVocab);
    const model = new EncoderDecoder({ srcVocabSize: data.srcVocab.size, tgtVocabSize: data.tgtVocab.size, embedSize: 32, numHiddens: 32, dropout: 0.1, init: 'xavier', seed: 0 });
    const before = tf.memory().numTensors;
    const history = trainSeq2Seq(model, data, { epochs: 30, lr: 0.005, batchSize: 64, bos, loss: 'd2l', seed: 0 });
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
    const targets = data.target.map((t) => data.tgtVocab.indicesOf(t));
    const ev1 = evaluateSeq2Seq(model, data.src, targets, { bos, eos, maxLength: 10 });
    const ev3 = evaluateSeq2Seq(model, data.src, targets, { bos, eos, maxLength: 10, beamSize: 3 });
    expect(ev1.bleu).toBeGreaterThan(0.2);
    expect(ev3.predictions).toHaveLength(data.src.rows);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  }, 120_000);
});
