import { describe, expect, it } from 'vitest';
import { createRng } from './rng.js';
import { SeqDataLoader, seqDataIterRandom, seqDataIterSequential, type SeqBatch } from './seqdata.js';

const corpusOf = (n: number): Int32Array => Int32Array.from({ length: n }, (_, i) => i);
const row = (m: Int32Array, r: number, steps: number): number[] => [...m.subarray(r * steps, (r + 1) * steps)];

describe('minibatch iterators', () => {
  it('Y is X shifted by one, for both iterators', () => {
    const corpus = corpusOf(1000);
    for (const iter of [seqDataIterRandom, seqDataIterSequential]) {
      for (const { X, Y, batchSize, numSteps } of iter(corpus, 4, 7, createRng(0))) {
        for (let r = 0; r < batchSize; r++) {
          const x = row(X, r, numSteps);
          expect(row(Y, r, numSteps)).toEqual(x.map((v) => v + 1));
          // Rows are contiguous text.
          expect(x).toEqual(x.map((_, i) => (x[0] as number) + i));
        }
      }
    }
  });

  it('sequential: row i of minibatch k+1 continues row i of minibatch k', () => {
    const batches = [...seqDataIterSequential(corpusOf(500), 3, 5, createRng(2))];
    expect(batches.length).toBeGreaterThan(2);
    for (let k = 0; k + 1 < batches.length; k++) {
      const a = batches[k] as SeqBatch;
      const b = batches[k + 1] as SeqBatch;
      for (let r = 0; r < 3; r++) expect(b.X[r * 5]).toBe((a.X[r * 5 + 4] as number) + 1);
    }
  });

  it('random: subsequences are disjoint, start at offset + multiples of numSteps, and cover all but a short tail', () => {
    const n = 1000;
    const steps = 7;
    const batch = 4;
    const starts: number[] = [];
    for (const { X } of seqDataIterRandom(corpusOf(n), batch, steps, createRng(5))) {
      for (let r = 0; r < batch; r++) starts.push(X[r * steps] as number);
    }
    const offset = Math.min(...starts) % steps;
    expect(new Set(starts).size).toBe(starts.length);
    for (const s of starts) expect((s - offset) % steps).toBe(0);
    const numSubseqs = Math.floor((n - offset - 1) / steps);
    expect(starts.length).toBe(Math.floor(numSubseqs / batch) * batch);
    // Shuffled, not in text order.
    expect(starts).not.toEqual([...starts].sort((a, b) => a - b));
  });

  it('counts batches for several lengths like d2l', () => {
    for (const [n, b, s] of [
      [100, 2, 5],
      [1000, 32, 5],
      [10000, 32, 35],
      [357, 3, 11],
    ] as const) {
      const loaderR = new SeqDataLoader(corpusOf(n), { batchSize: b, numSteps: s, useRandomIter: true, seed: 1 });
      const loaderS = new SeqDataLoader(corpusOf(n), { batchSize: b, numSteps: s, seed: 1 });
      for (let epoch = 0; epoch < 4; epoch++) {
        const r = [...loaderR];
        const seqBatches = [...loaderS];
        const offR = Math.min(...r.map((x) => Math.min(...x.X))) % s;
        expect(r.length).toBe(Math.floor(Math.floor((n - offR - 1) / s) / b));
        const first = seqBatches[0] as SeqBatch;
        const offS = first.X[0] as number;
        expect(seqBatches.length).toBe(Math.floor(Math.floor((n - offS - 1) / b) / s));
        expect(seqBatches.length).toBe(loaderS.batchesAtOffset(offS));
        expect(r.length).toBe(loaderR.batchesAtOffset(offR));
      }
    }
  });

  it('draws a fresh offset in [0, numSteps-1] each epoch, and is deterministic per seed', () => {
    const loader = new SeqDataLoader(corpusOf(2000), { batchSize: 4, numSteps: 10, seed: 9 });
    const offsets = Array.from({ length: 40 }, () => ([...loader][0] as SeqBatch).X[0] as number);
    expect(Math.min(...offsets)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...offsets)).toBeLessThanOrEqual(9);
    expect(new Set(offsets).size).toBeGreaterThan(3);
    const again = new SeqDataLoader(corpusOf(2000), { batchSize: 4, numSteps: 10, seed: 9 });
    expect(Array.from({ length: 40 }, () => ([...again][0] as SeqBatch).X[0])).toEqual(offsets);
    const other = new SeqDataLoader(corpusOf(2000), { batchSize: 4, numSteps: 10, seed: 10 });
    expect(Array.from({ length: 40 }, () => ([...other][0] as SeqBatch).X[0])).not.toEqual(offsets);
  });

  it('random iteration with one seed gives the same batches', () => {
    const a = new SeqDataLoader(corpusOf(3000), { batchSize: 8, numSteps: 9, useRandomIter: true, seed: 'x' });
    const b = new SeqDataLoader(corpusOf(3000), { batchSize: 8, numSteps: 9, useRandomIter: true, seed: 'x' });
    expect([...a].map((x) => [...x.X])).toEqual([...b].map((x) => [...x.X]));
  });

  it('resumes from a saved state with the same epochs', () => {
    const a = new SeqDataLoader(corpusOf(3000), { batchSize: 8, numSteps: 9, useRandomIter: true, seed: 3 });
    [...a];
    const state = JSON.parse(JSON.stringify(a.getState()));
    const next = [...a].map((x) => [...x.X]);
    const b = new SeqDataLoader(corpusOf(3000), { batchSize: 8, numSteps: 9, useRandomIter: true, seed: 3 });
    b.setState(state);
    expect([...b].map((x) => [...x.X])).toEqual(next);
  });

  it('rejects bad sizes with clear errors', () => {
    const c = corpusOf(100);
    expect(() => new SeqDataLoader(c, { batchSize: 0, numSteps: 5 })).toThrow(/batchSize must be a whole number >= 1, got 0/);
    expect(() => new SeqDataLoader(c, { batchSize: -2, numSteps: 5 })).toThrow(/batchSize/);
    expect(() => new SeqDataLoader(c, { batchSize: 2, numSteps: 0 })).toThrow(/numSteps must be/);
    expect(() => new SeqDataLoader(c, { batchSize: 2, numSteps: 150 })).toThrow(/numSteps \(150\) is longer than the corpus \(100 tokens\)/);
    expect(() => new SeqDataLoader(c, { batchSize: 20, numSteps: 10 })).toThrow(/no full minibatch of 20 x 10: it needs at least 210 tokens/);
    expect(() => [...seqDataIterRandom(c, 1.5, 2, createRng(0))]).toThrow(/batchSize/);
  });
});
