/// <reference types="vite/client" />
import * as ort from 'onnxruntime-web/wasm';
import ortWasm from 'onnxruntime-web/ort-wasm-simd-threaded.wasm?url';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLanguageModel, type LanguageModelConfig } from '@rnnkit/models';
import { useBackend } from '../../../test/backends.js';
import { weightsOfModel } from './index.js';
import { onnxToWeights, weightsToOnnx } from './onnx.js';

// rnnkit's ONNX exports in onnxruntime-web (its wasm build, in Chromium): the logits of rnnkit's
// model within 1e-5, for each cell, stacked and bidirectional, on every implementation.
const CONFIGS: LanguageModelConfig[] = [
  { cell: 'gru', implementation: 'fused', numHiddens: 8, numLayers: 2, bidirectional: false, vocabSize: 11, seed: 1 },
  { cell: 'lstm', implementation: 'fused', numHiddens: 8, numLayers: 1, bidirectional: true, vocabSize: 11, seed: 2 },
  { cell: 'rnn', implementation: 'layers', numHiddens: 12, numLayers: 2, bidirectional: false, vocabSize: 11, seed: 3 },
  { cell: 'gru', implementation: 'scratch', numHiddens: 8, numLayers: 1, bidirectional: false, vocabSize: 11, seed: 4 },
];

describe('ONNX exports in onnxruntime-web', () => {
  beforeAll(async () => {
    await useBackend('wasm');
    ort.env.wasm.wasmPaths = { wasm: ortWasm };
    ort.env.wasm.numThreads = 1;
  });

  it.each(CONFIGS)('$cell on $implementation ($numLayers layers, bidirectional $bidirectional): the logits of rnnkit within 1e-5', async (config) => {
    const model = createLanguageModel(config);
    const w = weightsOfModel(model, config);
    const bytes = weightsToOnnx(w);
    // The file reads back as the same model too.
    expect(onnxToWeights(bytes, { file: 'export.onnx' }).weights.units.length).toBe(config.numLayers * (config.bidirectional ? 2 : 1));
    const tokens = [
      [1, 2, 3, 4, 5, 6],
      [10, 9, 8, 0, 7, 7],
    ];
    const [B, T, V] = [2, 6, config.vocabSize];
    const units = config.numLayers * (config.bidirectional ? 2 : 1);
    const mine = tf.tidy(() => {
      const { logits } = model.call(tf.tensor2d(tokens, undefined, 'int32'), model.beginState(B));
      return tf.transpose(tf.reshape(logits, [T, B, V]), [1, 0, 2]).dataSync() as Float32Array;
    });
    model.dispose();
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
    const zeros = new Float32Array(units * B * config.numHiddens);
    const feeds: Record<string, ort.Tensor> = {
      tokens: new ort.Tensor('int64', BigInt64Array.from(tokens.flat().map(BigInt)), [B, T]),
      h0: new ort.Tensor('float32', zeros, [units, B, config.numHiddens]),
    };
    if (config.cell === 'lstm') feeds.c0 = new ort.Tensor('float32', zeros, [units, B, config.numHiddens]);
    const out = await session.run(feeds);
    await session.release();
    expect(out.logits!.dims).toEqual([B, T, V]);
    const theirs = out.logits!.data as Float32Array;
    let worst = 0;
    for (let i = 0; i < mine.length; i++) worst = Math.max(worst, Math.abs(mine[i]! - theirs[i]!));
    expect(worst).toBeLessThanOrEqual(1e-5);
  });
});
