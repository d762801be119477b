// Bad arguments fail early with a message naming the argument, not deep inside TensorFlow.js.
import { describe, expect, it } from 'vitest';
import { createRng } from './rng.js';
import { SeqDataLoader } from './seqdata.js';
import { loadDataTimeMachine } from './timemachine-node.js';
import { Vocab } from './vocab.js';

describe('argument checks', () => {
  it('loadDataTimeMachine() with no options names the options it needs', async () => {
    // @ts-expect-error: the call a JavaScript user can make
    await expect(loadDataTimeMachine()).rejects.toThrow(
      /loadDataTimeMachine needs an options object: loadDataTimeMachine\(\{ batchSize: 32, numSteps: 35 \}\); got undefined/,
    );
    // @ts-expect-error: batchSize missing, checked before any text is read
    await expect(loadDataTimeMachine({ numSteps: 35, source: { path: '/nonexistent' } })).rejects.toThrow(
      /batchSize must be a whole number >= 1, got undefined/,
    );
    // @ts-expect-error: no options
    expect(() => new SeqDataLoader(new Int32Array(100))).toThrow(/SeqDataLoader needs an options object/);
  });

  it('new Vocab(null) names the tokens argument', () => {
    // @ts-expect-error: null tokens
    expect(() => new Vocab(null)).toThrow(/Vocab needs an array of tokens .* got null/);
    // @ts-expect-error: a number
    expect(() => new Vocab(5)).toThrow(/Vocab needs an array of tokens .* got number/);
    expect(new Vocab().size).toBe(1);
  });

  it('a seed that is NaN, infinite, null or an object is refused', () => {
    for (const [seed, got] of [
      [Number.NaN, 'NaN'],
      [Infinity, 'Infinity'],
      [null, 'null'],
      [{}, 'object'],
      [true, 'boolean'],
    ] as const) {
      // @ts-expect-error: bad seeds
      expect(() => createRng(seed)).toThrow(new RegExp(`seed must be a finite number or a string, got ${got}`));
    }
    expect(createRng(0).next()).toBe(createRng('0').next());
    expect(() => new SeqDataLoader(new Int32Array(100), { batchSize: 2, numSteps: 5, seed: Number.NaN })).toThrow(/seed must be a finite number/);
  });
});
