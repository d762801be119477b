import * as ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { EncoderDecoder, createLanguageModel, type LanguageModelConfig } from '@rnnkit/models';
import { useBackend } from '../../../test/backends.js';
import { LANGUAGE_MODEL_CASES, fixture, fixtureBytes, flat, maxAbsDiff } from '../test/fixtures.js';
import {
  createModelFromWeights,
  implementationsFor,
  readSafetensors,
  translationFromTorch,
  translationWeightsOfModel,
  weightsFromTorch,
  weightsOfModel,
  type RecurrentWeights,
} from './index.js';
import { translationWeightsToOnnx, weightsToOnnx } from './onnx.js';

/** Runs an exported model in ONNX Runtime (CPU): logits [batch, steps, vocab] and the final states. */
export async function runOnnx(bytes: Uint8Array, tokens: number[][], h0: Float32Array, c0: Float32Array | null, dims: number[]) {
  const session = await ort.InferenceSession.create(bytes);
  const [B, T] = [tokens.length, tokens[0]!.length];
  const feeds: Record<string, ort.Tensor> = {
    tokens: new ort.Tensor('int64', BigInt64Array.from(tokens.flat().map(BigInt)), [B, T]),
    h0: new ort.Tensor('float32', h0, dims),
  };
  if (c0) feeds.c0 = new ort.Tensor('float32', c0, dims);
  const out = await session.run(feeds);
  await session.release();
  return { logits: out.logits!, hn: out.hn!, cn: out.cn };
}

/** rnnkit's logits in the export's layout ([batch, steps, vocab]) and final state ([layers * directions, batch, hidden] each). */
function rnnkitRun(w: RecurrentWeights, implementation: LanguageModelConfig['implementation'], tokens: number[][], stateParts: Float32Array[]) {
  const { model } = createModelFromWeights(w, implementation);
  const [B, T] = [tokens.length, tokens[0]!.length];
  const units = w.numLayers * w.numDirections;
  const H = w.numHiddens;
  const result = tf.tidy(() => {
    const state = stateParts.flatMap((part) => Array.from({ length: units }, (_, u) => tf.tensor2d(part.subarray(u * B * H, (u + 1) * B * H), [B, H])));
    const out = model.call(tf.tensor2d(tokens, undefined, 'int32'), state);
    const logits = tf.transpose(tf.reshape(out.logits, [T, B, w.vocabSize]), [1, 0, 2]);
    return { logits: logits.dataSync() as Float32Array, state: out.state.map((s) => s.dataSync() as Float32Array) };
  });
  model.dispose();
  return result;
}

describe('ONNX export in ONNX Runtime (onnxruntime-node)', () => {
  beforeAll(() => useBackend('cpu'));

  it.each(LANGUAGE_MODEL_CASES)("%s: ONNX Runtime's logits and state are PyTorch's and rnnkit's (1e-5)", async (name) => {
    const fx = fixture(name);
    const w = weightsFromTorch(readSafetensors(fixtureBytes(`${name}.safetensors`), name).tensors);
    const onnx = weightsToOnnx(w);
    const H = w.numHiddens;
    const B = fx.X.length;
    const units = w.numLayers * w.numDirections;
    const dims = [units, B, H];
    // PyTorch's initial state: [layers * directions, batch, hidden] each; the scratch model's (batch, hidden).
    const parts = (fx.state0 ?? []).map((s) => Float32Array.from(flat(s)));
    const ran = await runOnnx(onnx, fx.X, parts[0]!, parts[1] ?? null, dims);
    expect(ran.logits.dims).toEqual([B, fx.X[0]!.length, w.vocabSize]);
    // PyTorch's logits are (steps * batch, vocab), time-major.
    const T = fx.X[0]!.length;
    const torchBTV = new Float32Array(B * T * w.vocabSize);
    const torch = flat(fx.logits);
    for (let t = 0; t < T; t++)
      for (let b = 0; b < B; b++) for (let v = 0; v < w.vocabSize; v++) torchBTV[(b * T + t) * w.vocabSize + v] = torch[(t * B + b) * w.vocabSize + v]!;
    expect(maxAbsDiff(ran.logits.data as Float32Array, torchBTV)).toBeLessThanOrEqual(1e-5);
    const torchState = flat(fx.state);
    const ortState = [...(ran.hn.data as Float32Array), ...((ran.cn?.data as Float32Array | undefined) ?? [])];
    expect(maxAbsDiff(ortState, torchState)).toBeLessThanOrEqual(1e-5);
    for (const implementation of implementationsFor(w)) {
      const mine = rnnkitRun(w, implementation, fx.X, parts);
      expect(maxAbsDiff(ran.logits.data as Float32Array, mine.logits), implementation).toBeLessThanOrEqual(1e-5);
    }
  });

  it('an rnnkit model of every implementation exports and runs the same (a fresh LSTM, 2 layers, on tf.layers)', async () => {
    const config: LanguageModelConfig = { cell: 'lstm', implementation: 'layers', numHiddens: 12, numLayers: 2, bidirectional: false, vocabSize: 9, seed: 4 };
    const model = createLanguageModel(config);
    const w = weightsOfModel(model, config);
    model.dispose();
    const tokens = [
      [1, 2, 3, 4, 5, 6, 7],
      [8, 0, 1, 1, 2, 3, 5],
    ];
    const zeros = new Float32Array(2 * 2 * 12);
    const ran = await runOnnx(weightsToOnnx(w), tokens, zeros, zeros, [2, 2, 12]);
    const mine = rnnkitRun(w, 'layers', tokens, [zeros, zeros]);
    expect(maxAbsDiff(ran.logits.data as Float32Array, mine.logits)).toBeLessThanOrEqual(1e-5);
  });

  it("d2l's encoder-decoder (teacher-forced): ONNX Runtime gives PyTorch's logits and final state", async () => {
    const fx = fixture('encoder_decoder');
    const t = translationFromTorch(readSafetensors(fixtureBytes('encoder_decoder.safetensors'), 'encoder_decoder').tensors);
    const session = await ort.InferenceSession.create(translationWeightsToOnnx(t));
    const int64 = (rows: number[][]) => new ort.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0]!.length]);
    const out = await session.run({ src: int64(fx.X), tgt: int64(fx.dec_X!) });
    await session.release();
    expect(out.logits!.dims).toEqual([fx.X.length, fx.dec_X![0]!.length, t.options.tgtVocabSize]);
    expect(maxAbsDiff(out.logits!.data as Float32Array, flat(fx.logits))).toBeLessThanOrEqual(1e-5);
    expect(maxAbsDiff(out.hn!.data as Float32Array, flat(fx.state))).toBeLessThanOrEqual(1e-5);
  });

  it("an rnnkit encoder-decoder with LSTM cells: ONNX Runtime gives rnnkit's logits", async () => {
    const model = new EncoderDecoder({ srcVocabSize: 9, tgtVocabSize: 7, embedSize: 5, numHiddens: 8, numLayers: 2, cell: 'lstm', seed: 3 });
    const src = [
      [1, 2, 3, 4],
      [8, 7, 6, 5],
    ];
    const tgt = [
      [2, 4, 5],
      [2, 6, 1],
    ];
    const mine = tf.tidy(() => model.call(tf.tensor2d(src, undefined, 'int32'), tf.tensor2d(tgt, undefined, 'int32')).dataSync() as Float32Array);
    const onnx = translationWeightsToOnnx(translationWeightsOfModel(model));
    model.dispose();
    const session = await ort.InferenceSession.create(onnx);
    const int64 = (rows: number[][]) => new ort.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0]!.length]);
    const out = await session.run({ src: int64(src), tgt: int64(tgt) });
    await session.release();
    expect(out.cn!.dims).toEqual([2, 2, 8]);
    expect(maxAbsDiff(out.logits!.data as Float32Array, mine)).toBeLessThanOrEqual(1e-5);
  });
});
