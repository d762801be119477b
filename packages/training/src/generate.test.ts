import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { corpusFromText, createRng, textEncoding } from '@rnnkit/data';
import { createLanguageModel } from '@rnnkit/models';
import { useBackend } from '../../../test/backends.js';
import { generate, predict } from './index.js';

const TEXT = 'The Time Traveller (for so it will be convenient to speak of him)\nwas expounding a recondite matter to us.\n'.repeat(4);

describe('generate: streaming tokens that keep their place', () => {
  beforeAll(() => useBackend('cpu'));

  it.each([
    ['d2l characters', textEncoding()],
    ['raw characters', textEncoding({ preprocess: 'raw' })],
    ['words', textEncoding({ tokens: 'word' })],
    ['raw words', textEncoding({ preprocess: 'raw', tokens: 'word' })],
  ])('%s: the stream gives the tokens of predict, across a break', async (_, text) => {
    const { vocab } = corpusFromText(TEXT, text);
    for (const cell of ['gru', 'lstm'] as const) {
      const model = createLanguageModel({ cell, implementation: 'fused', numHiddens: 16, numLayers: 2, bidirectional: false, vocabSize: vocab.size, seed: 3 });
      const expected = predict(model, vocab, 'The Time', 12, { text });
      const before = tf.memory().numTensors;
      const stream = generate(model, vocab, 'The Time', { text });
      const got: string[] = [];
      for await (const token of stream) {
        got.push(token);
        if (got.length === 5) break; // stop...
      }
      for await (const token of stream.take(7)) got.push(token); // ...and go on later
      expect(got).toEqual(expected.tokens);
      expect(stream.text).toBe(expected.text);
      expect(stream.prefix).toBe(expected.prefix);
      expect(tf.memory().numTensors).toBe(before); // nothing held between tokens
      model.dispose();
    }
  });

  it('samples as predict does with the same seed; a length ends the stream', async () => {
    const { vocab, encoding } = corpusFromText(TEXT);
    const model = createLanguageModel({
      cell: 'rnn',
      implementation: 'fused',
      numHiddens: 8,
      numLayers: 1,
      bidirectional: false,
      vocabSize: vocab.size,
      seed: 1,
    });
    const options = { mode: 'sample', temperature: 1.5, text: encoding } as const;
    const expected = predict(model, vocab, 'time', 20, { ...options, rng: createRng(4) });
    const stream = generate(model, vocab, 'time', { ...options, rng: createRng(4), length: 20 });
    const got: string[] = [];
    for await (const token of stream) got.push(token);
    expect(got.join('')).toBe(expected.tokens.join(''));
    expect(vocab.has(await stream.next())).toBe(true); // still goes on when asked
    expect(stream.tokens).toHaveLength(21);
    expect(() => generate(model, vocab, '!!!')).toThrow(/has no tokens left after preprocessing/);
    expect(() => generate(model, vocab, 'time', { length: -1 })).toThrow(/length must be a whole number >= 0/);
    model.dispose();
  });

  it('words come back joined with spaces, line breaks without', () => {
    const text = textEncoding({ preprocess: 'raw', tokens: 'word' });
    const { vocab } = corpusFromText(TEXT, text);
    const model = createLanguageModel({
      cell: 'gru',
      implementation: 'fused',
      numHiddens: 8,
      numLayers: 1,
      bidirectional: false,
      vocabSize: vocab.size,
      seed: 2,
    });
    const out = predict(model, vocab, 'The Time\nwas', 6, { text });
    expect(out.text.startsWith('The Time\nwas')).toBe(true);
    expect(out.text).not.toMatch(/ \n|\n /);
    expect(out.tokens.every((t) => vocab.has(t))).toBe(true);
    model.dispose();
  });
});
