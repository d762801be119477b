// Bad constructor arguments fail early, in the constructor, with a message naming the argument.
import { describe, expect, it } from 'vitest';
import { RNNModel } from './rnn-model.js';
import { SeqClassifier } from './classifier.js';
import { TimeSeriesRegressor } from './timeseries.js';
import { EncoderDecoder } from './seq2seq.js';

describe('constructor argument checks', () => {
  it('a model built without options says which options it needs', () => {
    // @ts-expect-error: no options
    expect(() => new RNNModel()).toThrow(/RNNModel needs an options object: new RNNModel\(\{ vocabSize: 28, cell: 'gru', numHiddens: 256 \}\); got undefined/);
    // @ts-expect-error: no options
    expect(() => new SeqClassifier()).toThrow(/SeqClassifier needs an options object/);
    // @ts-expect-error: no options
    expect(() => new TimeSeriesRegressor(null)).toThrow(/TimeSeriesRegressor needs an options object.*got null/);
    // @ts-expect-error: no options
    expect(() => new EncoderDecoder()).toThrow(/EncoderDecoder needs an options object/);
  });

  it("cell: 'toString' (an Object.prototype name) is an unknown cell", () => {
    for (const cell of ['toString', 'constructor', '__proto__', 'tcn']) {
      // @ts-expect-error: not a cell kind
      expect(() => new RNNModel({ vocabSize: 5, cell, numHiddens: 4 })).toThrow(new RegExp(`Unknown cell "${cell}": use rnn, gru or lstm`));
    }
  });

  it('a NaN or object seed is refused', () => {
    expect(() => new RNNModel({ vocabSize: 5, cell: 'gru', numHiddens: 4, seed: Number.NaN })).toThrow(/seed must be a finite number or a string, got NaN/);
    // @ts-expect-error: an object seed
    expect(() => new RNNModel({ vocabSize: 5, cell: 'gru', numHiddens: 4, seed: {} })).toThrow(/seed must be a finite number or a string, got object/);
  });
});
