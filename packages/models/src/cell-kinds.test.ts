import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { useBackend } from '../../../test/backends.js';
import { CELL_KINDS, GATES, cellKindsInWords, isCellKind } from './cell-kinds.js';
import { RECURRENCES } from './fused/kinds.js';
import { createLanguageModel, checkLanguageModelConfig } from './language-model.js';

describe('the one list of cell kinds', () => {
  it('lists rnn, gru and lstm with their gates in PyTorch order, and each kind has a recurrence record with those gates', () => {
    expect(CELL_KINDS).toEqual(['rnn', 'gru', 'lstm']);
    expect(GATES).toEqual({ rnn: 1, gru: 3, lstm: 4 });
    for (const kind of CELL_KINDS) expect(RECURRENCES[kind].gates).toBe(GATES[kind]);
    expect(RECURRENCES['gru-reset-before'].gates).toBe(GATES.gru);
    expect(Object.isFrozen(CELL_KINDS)).toBe(true);
  });

  it('isCellKind accepts exactly the listed names (not Object.prototype names, not other cases)', () => {
    for (const kind of CELL_KINDS) expect(isCellKind(kind)).toBe(true);
    for (const other of ['GRU', 'tcn', 'toString', '__proto__', 'constructor', '', 3, null, undefined]) expect(isCellKind(other)).toBe(false);
  });

  it('messages list the kinds in words, quoted or not', () => {
    expect(cellKindsInWords()).toBe('rnn, gru or lstm');
    expect(cellKindsInWords('"')).toBe('"rnn", "gru" or "lstm"');
    expect(() => checkLanguageModelConfig({ cell: 'tcn' })).toThrow('config.cell is "tcn": use "rnn", "gru" or "lstm".');
  });

  it('every kind builds in every implementation', async () => {
    await useBackend('cpu');
    const before = tf.memory().numTensors;
    for (const cell of CELL_KINDS) {
      for (const implementation of ['scratch', 'fused', 'layers'] as const) {
        const model = createLanguageModel({ cell, implementation, numHiddens: 4, numLayers: 1, bidirectional: false, vocabSize: 5, seed: 0 });
        expect(model.trainableVariables.length).toBeGreaterThan(0);
        model.dispose();
      }
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});
