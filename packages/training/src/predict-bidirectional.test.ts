import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Vocab } from '@rnnkit/data';
import { RNNModel } from '@rnnkit/models';
import { useBackend } from '../../../test/backends.js';
import { argmax, generate, predict } from './index.js';

// d2l's predict_ch8 feeds the prefix one token at a time. A bidirectional model's backward
// direction reads a whole-prefix call differently, so predict must warm it up token by token.
describe('predict on a bidirectional model', () => {
  beforeAll(() => useBackend('cpu'));

  it("continues as d2l's predict_ch8 does, one token at a time", async () => {
    const vocab = new Vocab([...'the time traveller']);
    const model = new RNNModel({ vocabSize: vocab.size, cell: 'gru', numHiddens: 8, bidirectional: true, seed: 1 });
    const prefix = 'time trav';
    const ids = vocab.indicesOf([...prefix]);
    let state = model.beginState(1);
    let last: Float32Array = new Float32Array();
    const feed = (id: number) => {
      const out = model.call(tf.tensor2d([id], [1, 1], 'int32'), state);
      tf.dispose(state);
      state = out.state;
      last = out.logits.dataSync() as Float32Array;
      out.logits.dispose();
    };
    for (const id of ids) feed(id);
    const expected = [...ids];
    for (let i = 0; i < 12; i++) {
      expected.push(argmax(last));
      feed(expected[expected.length - 1]!);
    }
    tf.dispose(state);
    expect(predict(model, vocab, prefix, 12).text).toBe(vocab.tokensOf(expected).join(''));
    // generate() streams the same tokens.
    const stream = generate(model, vocab, prefix);
    const streamed: string[] = [];
    for await (const token of stream.take(12)) streamed.push(token);
    expect(streamed.join('')).toBe(vocab.tokensOf(expected.slice(ids.length)).join(''));
    // A whole-prefix warm-up leaves the backward direction in another state, so the check above can tell the two apart.
    const gap = tf.tidy(() => {
      const whole = model.call(tf.tensor2d([ids.slice(0, -1)], undefined, 'int32'), model.beginState(1)).state;
      let s = model.beginState(1);
      for (const id of ids.slice(0, -1)) s = model.call(tf.tensor2d([id], [1, 1], 'int32'), s).state;
      return tf.max(tf.abs(tf.sub(whole[1]!, s[1]!))).dataSync()[0]!;
    });
    expect(gap).toBeGreaterThan(1e-4);
    model.dispose();
  });
});
