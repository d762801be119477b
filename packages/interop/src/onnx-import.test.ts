import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test/backends.js';
import { ONNX_CASES, fixture, fixtureBytes, flat, maxAbsDiff, rnnkitState } from '../test/fixtures.js';
import { createModelFromWeights, implementationsFor, readSafetensors, weightsFromTorch, type RecurrentWeights } from './index.js';
import { onnxToWeights, weightsToOnnx } from './onnx.js';

const expectSameWeights = (a: RecurrentWeights, b: RecurrentWeights, tol: number) => {
  expect([a.cell, a.resetAfter, a.vocabSize, a.numHiddens, a.numLayers, a.numDirections]).toEqual([
    b.cell,
    b.resetAfter,
    b.vocabSize,
    b.numHiddens,
    b.numLayers,
    b.numDirections,
  ]);
  a.units.forEach((u, i) => {
    for (const k of ['W_ih', 'W_hh', 'b_ih', 'b_hh'] as const) expect(maxAbsDiff(u[k], b.units[i]![k]), `unit ${i} ${k}`).toBeLessThanOrEqual(tol);
  });
  expect(maxAbsDiff(a.W_out, b.W_out)).toBeLessThanOrEqual(tol);
  expect(maxAbsDiff(a.b_out, b.b_out)).toBeLessThanOrEqual(tol);
};

describe('ONNX import', () => {
  beforeAll(() => useBackend('cpu'));

  it.each(ONNX_CASES)("%s: torch.onnx.export's graph of d2l's RNNModel gives the safetensors' weights, and PyTorch's logits", (name) => {
    const fx = fixture(name);
    const { weights, inputs, outputs } = onnxToWeights(fixtureBytes(`${name}.onnx`), { file: `${name}.onnx`, vocabSize: 14 });
    expect(inputs).toEqual(fx.cell === 'lstm' ? { tokens: 'tokens', h0: 'h0', c0: 'c0' } : { tokens: 'tokens', h0: 'h0' });
    expect(outputs).toEqual(fx.cell === 'lstm' ? { logits: 'logits', hn: 'hn', cn: 'cn' } : { logits: 'logits', hn: 'hn' });
    const torch = weightsFromTorch(readSafetensors(fixtureBytes(`${name}.safetensors`), name).tensors);
    expectSameWeights(weights, torch, 0);
    for (const implementation of implementationsFor(weights)) {
      const { model } = createModelFromWeights(weights, implementation);
      const logits = tf.tidy(() => model.call(tf.tensor2d(fx.X, undefined, 'int32'), rnnkitState(fx)).logits.dataSync());
      expect(maxAbsDiff(logits, flat(fx.logits)), implementation).toBeLessThanOrEqual(1e-5);
      model.dispose();
    }
  });

  it.each([...ONNX_CASES, 'scratch_gru'])('%s: an rnnkit export reads back as the same weights', (name) => {
    const torch = weightsFromTorch(readSafetensors(fixtureBytes(`${name}.safetensors`), name).tensors);
    const { weights } = onnxToWeights(weightsToOnnx(torch), { file: 'x.onnx' });
    expectSameWeights(weights, torch, 0);
  });
});
