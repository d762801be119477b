import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test/backends.js';
import { EncoderDecoder } from './index.js';

// d2l 9.6-9.8 on the encoder-decoder: dropout between stacked layers, Xavier init, beam search.
// (PyTorch parity and training: packages/training/src/translation.test.ts.)

describe('dropout between stacked recurrent layers', () => {
  beforeAll(() => useBackend('cpu'));
  const sizes = { srcVocabSize: 9, tgtVocabSize: 8, embedSize: 5, numHiddens: 6 };
  const src = () =>
    tf.tensor2d(
      [
        [4, 5, 6, 3],
        [7, 3, 1, 1],
      ],
      undefined,
      'int32',
    );
  const tgt = () =>
    tf.tensor2d(
      [
        [2, 4, 5],
        [2, 6, 7],
      ],
      undefined,
      'int32',
    );
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
      const input = tf.tensor2d(
        sequences.map((seq) => [bos, ...seq.slice(0, -1), ...new Array<number>(maxLength - seq.length).fill(0)]),
        undefined,
        'int32',
      );
      return tf
        .reshape(tf.logSoftmax(model.call(tf.tile(src, [sequences.length, 1]) as tf.Tensor2D, input)), [sequences.length, maxLength, V])
        .arraySync() as number[][][];
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

  /**
   * d2l 9.8's wording: every output without <eos> of 1 to maxLength tokens (each a hypothesis cut
   * before its first <eos>), scored by teacher forcing without <eos>'s probability, L its length.
   */
  function exhaustivePrefixes(model: EncoderDecoder, src: tf.Tensor2D) {
    const sequences: number[][] = [];
    const grow = (prefix: number[]) => {
      for (let v = 0; v < V; v++) {
        if (v === eos) continue;
        const seq = [...prefix, v];
        sequences.push(seq);
        if (seq.length < maxLength) grow(seq);
      }
    };
    grow([]);
    const lp = tf.tidy(() => {
      const input = tf.tensor2d(
        sequences.map((seq) => [bos, ...seq.slice(0, -1), ...new Array<number>(maxLength - seq.length).fill(0)]),
        undefined,
        'int32',
      );
      return tf
        .reshape(tf.logSoftmax(model.call(tf.tile(src, [sequences.length, 1]) as tf.Tensor2D, input)), [sequences.length, maxLength, V])
        .arraySync() as number[][][];
    });
    return (alpha: number) =>
      sequences.map((seq, i) => {
        const logProb = seq.reduce((sum, token, t) => sum + lp[i]![t]![token]!, 0);
        return { tokens: seq, logProb, score: logProb / Math.pow(seq.length, alpha) };
      });
  }

  it("d2l's literal rule (candidates: 'prefixes') finds its own exhaustive optimum with a beam that holds every hypothesis, and differs from rnnkit's", () => {
    let rulesDiffer = 0;
    let narrowMisses = 0;
    for (let seed = 0; seed < 8; seed++) {
      const model = new EncoderDecoder({ srcVocabSize: 6, tgtVocabSize: V, embedSize: 3, numHiddens: 4, numLayers: 2, seed, init: 'xavier' });
      const src = tf.tensor2d([[4, 5, 3, 1]], undefined, 'int32');
      const scored = exhaustivePrefixes(model, src);
      for (const alpha of [0.75, 0]) {
        const all = scored(alpha);
        expect(all).toHaveLength(4 + 16 + 64);
        const best = all.reduce((a, h) => (h.score > a.score ? h : a));
        const before = tf.memory().numTensors;
        const [found] = model.beamSearch(src, bos, eos, maxLength, { beamSize: V ** maxLength, alpha, candidates: 'prefixes' });
        expect(tf.memory().numTensors).toBe(before);
        expect(found!.tokens).toEqual(best.tokens);
        expect(found!.score).toBeCloseTo(best.score, 5);
        const [finished] = model.beamSearch(src, bos, eos, maxLength, { beamSize: V ** maxLength, alpha });
        if (finished!.tokens.join() !== found!.tokens.join()) rulesDiffer++;
        // A narrow beam returns a real prefix with its true score, never better than the optimum.
        for (const beamSize of [1, 2, 3]) {
          const [h] = model.beamSearch(src, bos, eos, maxLength, { beamSize, alpha, candidates: 'prefixes' });
          if (h!.tokens.length === 0) {
            // Every kept hypothesis began with <eos>: the only prefix is the empty one.
            expect(h!.score).toBe(Number.NEGATIVE_INFINITY);
            narrowMisses++;
            continue;
          }
          const same = all.find((c) => c.tokens.join() === h!.tokens.join())!;
          expect(h!.logProb).toBeCloseTo(same.logProb, 5);
          expect(h!.score).toBeLessThanOrEqual(best.score + 1e-6);
          if (h!.tokens.join() !== best.tokens.join()) narrowMisses++;
        }
      }
      src.dispose();
      model.dispose();
    }
    expect(rulesDiffer).toBeGreaterThan(0); // the option changes the result: the two rules are not the same search
    expect(narrowMisses).toBeGreaterThan(0);
  });

  it('refuses an unknown candidates rule', () => {
    const model = new EncoderDecoder({ srcVocabSize: 6, tgtVocabSize: V, embedSize: 3, numHiddens: 4, seed: 0 });
    const src = tf.tensor2d([[4, 5, 3, 1]], undefined, 'int32');
    // @ts-expect-error: not a rule
    expect(() => model.beamSearch(src, bos, eos, maxLength, { beamSize: 2, candidates: 'all' })).toThrow(/candidates is "all": use 'finished'/);
    src.dispose();
    model.dispose();
  });

  it('beam 1 equals greedy decoding row by row on a batch', () => {
    const model = new EncoderDecoder({ srcVocabSize: 9, tgtVocabSize: 12, embedSize: 4, numHiddens: 8, seed: 5 });
    const src = tf.tensor2d(
      [
        [4, 5, 6, 3],
        [7, 3, 1, 1],
        [8, 8, 3, 1],
      ],
      undefined,
      'int32',
    );
    expect(model.beamDecode(src, bos, eos, 6, { beamSize: 1 })).toEqual(model.greedyDecode(src, bos, eos, 6));
    expect(() => model.beamSearch(src, bos, eos, 6, { beamSize: 0 })).toThrow(/beamSize/);
    src.dispose();
    model.dispose();
  });
});
