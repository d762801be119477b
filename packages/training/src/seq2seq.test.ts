import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Vocab, buildArrayNmt, buildArrayNmtTokens, nmtSpecialIds, nmtVocab, reversePairs } from '@rnnkit/data';
import { EncoderDecoder } from '@rnnkit/models';
import { useBackend } from '../../../test/backends.js';
import { evaluateSeq2Seq, maskedSoftmaxCELoss, trainSeq2Seq, type Seq2SeqModelLike } from './index.js';

describe('EncoderDecoder (d2l Seq2SeqEncoder/Decoder)', () => {
  beforeAll(() => useBackend('wasm'));
  const vocab = new Vocab([...'abcdef'], { reservedTokens: ['<pad>', '<bos>', '<eos>'] });
  const [pad, bos, eos] = ['<pad>', '<bos>', '<eos>'].map((t) => vocab.indexOf(t)) as [number, number, number];
  const encode = (pairs: { source: string; target: string }[], numSteps: number) => ({
    src: buildArrayNmt(
      pairs.map((p) => vocab.indicesOf([...p.source])),
      numSteps,
      { pad, side: 'left' },
    ),
    tgt: buildArrayNmt(
      pairs.map((p) => vocab.indicesOf([...p.target])),
      numSteps,
      { pad, eos },
    ),
  });

  it('shapes: logits (batch*steps, vocab); greedy decoding stops at <eos> or maxLength', () => {
    const model = new EncoderDecoder({ srcVocabSize: vocab.size, tgtVocabSize: vocab.size, embedSize: 4, numHiddens: 6, numLayers: 2 });
    const src = tf.tensor2d(
      [
        [1, 4, 5],
        [4, 5, 6],
      ],
      undefined,
      'int32',
    );
    const before = tf.memory().numTensors;
    const logits = model.call(
      src,
      tf.tensor2d(
        [
          [2, 4],
          [2, 5],
        ],
        undefined,
        'int32',
      ),
    );
    expect(logits.shape).toEqual([4, vocab.size]);
    logits.dispose();
    const out = model.greedyDecode(src, bos, eos, 7);
    expect(out).toHaveLength(2);
    for (const row of out) expect(row.length).toBeLessThanOrEqual(7);
    expect(tf.memory().numTensors).toBe(before + 1); // only the target input above
    model.dispose();
  });

  // The loss the training loop differentiates: the head and the masked loss as one op against
  // call() and the separate ops, for d2l's sum over rows of the masked mean over num_steps.
  it('loss (head and masked loss fused) equals call() then maskedSoftmaxCELoss: value and every gradient', () => {
    const model = new EncoderDecoder({ srcVocabSize: vocab.size, tgtVocabSize: vocab.size, embedSize: 8, numHiddens: 8, numLayers: 2, seed: 3 });
    const B = 4;
    const T = 5;
    const src = tf.tensor2d(
      Int32Array.from({ length: B * 3 }, (_, i) => 3 + (i % 5)),
      [B, 3],
      'int32',
    );
    const tgtIn = tf.tensor2d(
      Int32Array.from({ length: B * T }, (_, i) => (i % T === 0 ? bos : 3 + ((i * 7) % 5))),
      [B, T],
      'int32',
    );
    const labels = Int32Array.from({ length: B * T }, (_, i) => 3 + ((i * 3) % 6));
    const mask = Float32Array.from({ length: B * T }, (_, i) => (i % T < 2 + (Math.floor(i / T) % 3) ? 1 : 0));
    const before = tf.memory().numTensors;
    const vars = model.trainableVariables;
    const fused = tf.variableGrads(
      () =>
        model.loss(
          src,
          tgtIn,
          labels,
          mask.map((m) => m / T),
        ),
      vars,
    );
    const separate = tf.variableGrads(() => {
      const labelsT = tf.tensor1d(labels, 'int32');
      const maskT = tf.tensor1d(mask);
      return tf.sum(maskedSoftmaxCELoss(model.call(src, tgtIn), labelsT, maskT, T)) as tf.Scalar;
    }, vars);
    const a = fused.value.dataSync()[0] as number;
    const b = separate.value.dataSync()[0] as number;
    expect(Math.abs(a - b)).toBeLessThan(1e-5 * Math.abs(b));
    for (const v of vars) {
      const ga = Array.from((fused.grads[v.name] as tf.Tensor).dataSync());
      const gb = Array.from((separate.grads[v.name] as tf.Tensor).dataSync());
      const worst = Math.max(...ga.map((x, i) => Math.abs(x - (gb[i] as number)) / (1e-3 + Math.abs(gb[i] as number))));
      expect(worst).toBeLessThan(1e-4);
    }
    tf.dispose([fused.value, separate.value, ...Object.values(fused.grads), ...Object.values(separate.grads)]);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => model.loss(src, tgtIn, labels.subarray(1), mask)).toThrow(/4 x 5 target steps but 19 labels and 20 weights/);
    tf.dispose([src, tgtIn]);
    model.dispose();
  });

  it('learns to reverse short strings (held-out exact match) with a masked loss, without leaking', () => {
    const numSteps = 5;
    const train = encode(reversePairs({ count: 1500, minLength: 2, maxLength: 4, alphabet: 'abcdef', seed: 1 }), numSteps);
    const testPairs = reversePairs({ count: 200, minLength: 2, maxLength: 4, alphabet: 'abcdef', seed: 2 });
    const test = encode(testPairs, numSteps);
    const model = new EncoderDecoder({ srcVocabSize: vocab.size, tgtVocabSize: vocab.size, embedSize: 16, numHiddens: 64, numLayers: 1, seed: 0 });
    const before = tf.memory().numTensors;
    const history = trainSeq2Seq(model, train, { epochs: 12, lr: 0.01, batchSize: 32, bos, seed: 0 });
    expect(tf.memory().numTensors).toBe(before);
    expect(history.at(-1)!.loss).toBeLessThan(history[0]!.loss / 4);
    const ev = evaluateSeq2Seq(
      model,
      test.src,
      testPairs.map((p) => [...p.target]),
      { tgtVocab: vocab, bos, eos, maxLength: numSteps + 1 },
    );
    expect(tf.memory().numTensors).toBe(before);
    expect(ev.exactMatch).toBeGreaterThan(0.9);
    expect(ev.bleu).toBeGreaterThan(0.9);
    model.dispose();
  }, 120_000);
});

describe('evaluateSeq2Seq scores words, as d2l bleu(pred_seq, label_seq, k=2)', () => {
  beforeAll(() => useBackend('cpu'));
  // "zorglub" and "plop" occur once, so they are outside a min_freq 2 vocabulary: their id is <unk>'s.
  const source = [
    ['go', '.'],
    ['go', '.'],
    ['hi', '.'],
    ['hi', '.'],
  ];
  const target = [
    ['va', 'zorglub', '!'],
    ['va', '!'],
    ['salut', 'plop', '.'],
    ['salut', '.'],
  ];
  const tgtVocab = nmtVocab(target);
  const srcVocab = nmtVocab(source);
  const { bos, eos } = nmtSpecialIds(tgtVocab);
  const src = buildArrayNmtTokens(source, srcVocab, 6);
  /** A model that outputs `rows` whatever the input (its decoder is never run). */
  const fixedOutput = (rows: (readonly string[])[]): Seq2SeqModelLike & { decoded: number } => {
    const model = {
      decoded: 0,
      trainableVariables: [],
      call: () => {
        throw new Error('not trained here');
      },
      greedyDecode: (x: tf.Tensor2D) => {
        model.decoded += x.shape[0];
        return rows.slice(0, x.shape[0]).map((r) => tgtVocab.indicesOf(r));
      },
    };
    return model;
  };

  it('a model that outputs only <unk> scores 0, though the references hold words outside the vocabulary (<unk> by id)', () => {
    expect(tgtVocab.indexOf('zorglub')).toBe(tgtVocab.unk);
    expect(tgtVocab.indexOf('plop')).toBe(tgtVocab.unk);
    const model = fixedOutput(target.map((r) => r.map(() => '<unk>')));
    const ev = evaluateSeq2Seq(model, src, target, { tgtVocab, bos, eos, maxLength: 6 });
    expect(model.decoded).toBe(4);
    expect(ev.predictions[0]).toEqual([tgtVocab.unk, tgtVocab.unk, tgtVocab.unk]);
    expect(ev.bleu).toBe(0);
    expect(ev.exactMatch).toBe(0);
  });

  it('an <unk> output for an unknown word matches nothing, the words around it do; outputs equal to the references score 1', () => {
    // The references as the vocabulary spells them: the unknown words become <unk>.
    const spelled = [
      ['va', '<unk>', '!'],
      ['va', '!'],
      ['salut', '<unk>', '.'],
      ['salut', '.'],
    ];
    const ev = evaluateSeq2Seq(fixedOutput(spelled), src, target, { tgtVocab, bos, eos, maxLength: 6 });
    // Rows 1 and 3: p1 = 2/3, p2 = 0/2 -> 0; rows 2 and 4 are exact.
    expect(ev.bleu).toBe(0.5);
    expect(ev.exactMatch).toBe(0.5);
    const known = evaluateSeq2Seq(fixedOutput(target.map((r) => r.filter((w) => tgtVocab.has(w)))), src, [target[1]!, target[1]!, target[3]!, target[3]!], {
      tgtVocab,
      bos,
      eos,
      maxLength: 6,
    });
    expect(known.bleu).toBe(1);
    expect(known.exactMatch).toBe(1);
  });

  it('refuses references that do not match the rows', () => {
    expect(() => evaluateSeq2Seq(fixedOutput(target), src, target.slice(1), { tgtVocab, bos, eos, maxLength: 6 })).toThrow(/3 references for 4 source rows/);
  });
});
