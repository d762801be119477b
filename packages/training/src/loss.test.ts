import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test/backends.js';
import { crossEntropyLoss, maskedSoftmaxCELoss, mseLoss } from './loss.js';
import { sequenceMask, teacherForcingInput } from './seq2seq.js';

describe('losses', () => {
  beforeAll(() => useBackend('wasm'));

  it('the masked cross-entropy is the mean over the kept rows only', () => {
    const logits = tf.tensor2d([
      [2, 0, 0],
      [0, 3, 0],
      [0, 0, 9],
      [1, 1, 1],
    ]);
    const labels = tf.tensor1d([0, 1, 0, 2], 'int32');
    const kept = crossEntropyLoss(
      tf.tensor2d([
        [2, 0, 0],
        [0, 3, 0],
      ]),
      tf.tensor1d([0, 1], 'int32'),
    ).dataSync()[0]!;
    const masked = crossEntropyLoss(logits, labels, tf.tensor1d([1, 1, 0, 0])).dataSync()[0]!;
    expect(masked).toBeCloseTo(kept, 6);
    expect(crossEntropyLoss(logits, labels).dataSync()[0]).toBeGreaterThan(masked);
    expect(() => crossEntropyLoss(logits, tf.tensor1d([0], 'int32'))).toThrow(/4 rows of logits but 1 labels/);
  });

  it("maskedSoftmaxCELoss is d2l's: each row's unmasked token losses summed, over num_steps", () => {
    const logits = tf.tensor2d([
      [2, 0, 0],
      [0, 3, 0],
      [0, 0, 9],
      [1, 1, 1],
      [0, 1, 0],
      [5, 0, 0],
    ]);
    const labels = tf.tensor1d([0, 1, 0, 2, 1, 0], 'int32');
    const perToken = (row: number[], label: number) => Math.log(row.reduce((a, x) => a + Math.exp(x), 0)) - row[label]!;
    const rows = maskedSoftmaxCELoss(logits, labels, tf.tensor1d([1, 1, 0, 1, 0, 0]), 3);
    expect(rows.shape).toEqual([2]);
    const got = Array.from(rows.dataSync());
    expect(got[0]).toBeCloseTo((perToken([2, 0, 0], 0) + perToken([0, 3, 0], 1)) / 3, 6);
    expect(got[1]).toBeCloseTo(perToken([1, 1, 1], 2) / 3, 6);
    expect(() => maskedSoftmaxCELoss(logits, labels, tf.tensor1d([1, 1, 1, 1, 1, 1]), 4)).toThrow(/whole rows of 4 steps/);
  });

  it('mseLoss is the mean squared difference', () => {
    expect(mseLoss(tf.tensor2d([[1], [3]]), tf.tensor1d([0, 1])).dataSync()[0]).toBeCloseTo((1 + 4) / 2, 6);
  });

  it('teacher forcing shifts the targets right behind <bos>; the mask covers valid tokens', () => {
    const tgt = { array: Int32Array.from([5, 6, 3, 1, 7, 8, 9, 3]), validLen: Int32Array.from([3, 4]), rows: 2, numSteps: 4 };
    expect(Array.from(teacherForcingInput(tgt, 2))).toEqual([2, 5, 6, 3, 2, 7, 8, 9]);
    expect(Array.from(sequenceMask(tgt.validLen, 4))).toEqual([1, 1, 1, 0, 1, 1, 1, 1]);
  });
});
