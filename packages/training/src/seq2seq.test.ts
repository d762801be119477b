import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Vocab, buildArrayNmt, reversePairs } from '@rnnkit/data';
import { EncoderDecoder } from '@rnnkit/models';
import { useBackend } from '../../../test/backends.js';
import { evaluateSeq2Seq, trainSeq2Seq } from './index.js';

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
      testPairs.map((p) => vocab.indicesOf([...p.target])),
      { bos, eos, maxLength: numSteps + 1 },
    );
    expect(tf.memory().numTensors).toBe(before);
    expect(ev.exactMatch).toBeGreaterThan(0.9);
    expect(ev.bleu).toBeGreaterThan(0.9);
    model.dispose();
  }, 120_000);
});
