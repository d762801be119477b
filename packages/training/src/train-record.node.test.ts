// Node only: the random edits come from the checkpoint fuzz harness, which reads files with node:fs.
import { describe, expect, it } from 'vitest';
import { createRng } from '@rnnkit/data';
import { editJson } from './checkpoint-fuzz-harness.js';
import { checkTrainCheckpointMeta, trainCheckpointMetaProblem, type TrainCheckpointMeta } from './train-record.js';

/** A record as `rnnkit train --workers 1 --val-fraction 0.1` writes it after two epochs. */
function record(): TrainCheckpointMeta {
  return {
    rnnkit: '0.1.0',
    training: { epochs: 10, lr: 1, optimizer: 'sgd', batchSize: 32, numSteps: 35, randomIter: false, maxTokens: 10000, valFraction: 0.1, patience: 3 },
    corpusFile: { path: '/data/own.txt', sha256: 'a'.repeat(64), bytes: 1234 },
    epoch: 2,
    loaderState: { s: [1, 2, 3, 4] } as unknown as TrainCheckpointMeta['loaderState'],
    history: [
      { epoch: 1, perplexity: 20.5, tokensPerSecond: 40000, seconds: 1.2, validationPerplexity: 21 },
      { epoch: 2, perplexity: 15.1, tokensPerSecond: 41000, seconds: 1.1, validationPerplexity: 17 },
    ],
    best: { epoch: 2, validationPerplexity: 17 },
    workers: 1,
  };
}

describe('the training record of a language-model checkpoint', () => {
  it('accepts what rnnkit train writes, with and without workers', () => {
    expect(trainCheckpointMetaProblem(record())).toBeNull();
    const { workers: _, ...withoutWorkers } = record();
    expect(trainCheckpointMetaProblem(withoutWorkers)).toBeNull();
    expect(trainCheckpointMetaProblem({ ...record(), workers: 0 })).toBeNull();
  });

  it.each([-1, 1.5, '2', null, Number.NaN, true])('refuses workers %s, naming the field', (workers) => {
    expect(trainCheckpointMetaProblem({ ...record(), workers })).toBe(`workers is ${JSON.stringify(workers)}, not a whole number >= 0`);
    expect(() => checkTrainCheckpointMeta({ ...record(), workers }, 'runs/x/checkpoint')).toThrow(
      /^runs\/x\/checkpoint holds no rnnkit train state that can be resumed \(workers is/,
    );
  });

  it('gives a problem or accepts, never throws, for 500 random edits (seed 20261207)', () => {
    const rng = createRng(20261207);
    let refused = 0;
    for (let i = 0; i < 500; i++) {
      const edited = JSON.parse(JSON.stringify(record())) as Parameters<typeof editJson>[0];
      editJson(edited, rng);
      const problem = trainCheckpointMetaProblem(edited);
      if (problem !== null) {
        refused++;
        expect(typeof problem).toBe('string');
      }
    }
    // Most edits break a checked field; some (a nudged rnnkit version, a history value) are allowed.
    expect(refused).toBeGreaterThan(100);
  });
});
