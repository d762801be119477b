import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncoderDecoder, createLanguageModel, type LanguageModelConfig } from '@rnnkit/models';
import { useBackend } from '../../../test/backends.js';
import { translationToTorch, translationWeightsOfModel, weightsOfModel, weightsToTorch, writeSafetensors } from './index.js';
import { translationWeightsToOnnx, weightsToOnnx } from './onnx.js';

// The round trip rnnkit -> safetensors -> PyTorch: rnnkit's exports of fresh models (every
// implementation, stacked, bidirectional, d2l's scratch GRU, an encoder-decoder) are loaded by
// test/fixtures/parity/interop.py --check-export into d2l's PyTorch models with
// load_state_dict(strict=True), whose logits must be rnnkit's (1e-5); its ONNX exports pass
// onnx.checker. Needs Debian's python3-torch and python3-onnx (.ci/run installs them).
const PYTHON = '/usr/bin/python3';
const script = fileURLToPath(new URL('../../../test/fixtures/parity/interop.py', import.meta.url));
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch, onnx'], { encoding: 'utf8' }).status === 0;
const inCI = Boolean(globalThis.process?.env.CI);

const LM_CONFIGS: Record<string, LanguageModelConfig> = {
  fused_gru_2layer: { cell: 'gru', implementation: 'fused', numHiddens: 8, numLayers: 2, bidirectional: false, vocabSize: 10, seed: 1 },
  fused_lstm_bidirectional: { cell: 'lstm', implementation: 'fused', numHiddens: 8, numLayers: 1, bidirectional: true, vocabSize: 10, seed: 2 },
  fused_rnn: { cell: 'rnn', implementation: 'fused', numHiddens: 12, numLayers: 1, bidirectional: false, vocabSize: 10, seed: 3 },
  layers_lstm_2layer: { cell: 'lstm', implementation: 'layers', numHiddens: 8, numLayers: 2, bidirectional: false, vocabSize: 10, seed: 4 },
  scratch_gru: { cell: 'gru', implementation: 'scratch', numHiddens: 8, numLayers: 1, bidirectional: false, vocabSize: 10, seed: 5 },
};

let dir: string;
beforeAll(async () => {
  await useBackend('cpu');
  dir = mkdtempSync(join(tmpdir(), 'rnnkit-roundtrip-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('rnnkit -> safetensors -> PyTorch (load_state_dict strict) -> the same logits', () => {
  it.skipIf(!hasTorch && !inCI)('the generator checks every export in PyTorch and onnx.checker', () => {
    expect(hasTorch, `${PYTHON} has no torch and onnx: apt-get install -y python3-torch python3-onnx`).toBe(true);
    const X = [
      [1, 2, 3, 4, 5, 6],
      [9, 8, 0, 7, 7, 1],
    ];
    const [B, T] = [2, 6];
    for (const [name, config] of Object.entries(LM_CONFIGS)) {
      const model = createLanguageModel(config);
      const w = weightsOfModel(model, config);
      const units = config.numLayers * (config.bidirectional ? 2 : 1);
      const parts = config.cell === 'lstm' ? 2 : 1;
      // A non-zero initial state, PyTorch's layout ([layers * directions, batch, hidden] each; the scratch model's (batch, hidden)).
      const state0 = Array.from({ length: parts }, (_, p) =>
        Array.from({ length: units }, (_, u) =>
          Array.from({ length: B }, (_, b) => Array.from({ length: config.numHiddens }, (_, h) => Math.sin(1 + p + u * 3 + b * 5 + h * 7) * 0.5)),
        ),
      );
      const logits = tf.tidy(() => {
        const state = state0.flatMap((part) => part.map((unit) => tf.tensor2d(unit)));
        return Array.from(model.call(tf.tensor2d(X, undefined, 'int32'), state).logits.dataSync());
      });
      model.dispose();
      const scratch = config.implementation === 'scratch';
      writeFileSync(join(dir, `${name}.safetensors`), writeSafetensors(weightsToTorch(w, scratch ? 'scratch' : undefined)));
      writeFileSync(join(dir, `${name}.onnx`), weightsToOnnx(w));
      const sizes = {
        vocab: config.vocabSize,
        hidden: config.numHiddens,
        layers: config.numLayers,
        directions: config.bidirectional ? 2 : 1,
        batch: B,
        steps: T,
      };
      writeFileSync(
        join(dir, `${name}.json`),
        JSON.stringify({
          kind: scratch ? 'scratch' : 'concise',
          cell: config.cell,
          sizes,
          X,
          state0: scratch ? state0.map((p) => p[0]) : state0,
          logits: chunk(logits, config.vocabSize),
        }),
      );
    }
    const seq = new EncoderDecoder({ srcVocabSize: 9, tgtVocabSize: 11, embedSize: 4, numHiddens: 8, numLayers: 2, seed: 6 });
    const src = [
      [4, 5, 3, 1, 1],
      [6, 7, 8, 5, 3],
    ];
    const tgt = [
      [2, 4, 5, 9],
      [2, 10, 6, 3],
    ];
    const logits = tf.tidy(() => Array.from(seq.call(tf.tensor2d(src, undefined, 'int32'), tf.tensor2d(tgt, undefined, 'int32')).dataSync()));
    writeFileSync(join(dir, 'encoder_decoder.safetensors'), writeSafetensors(translationToTorch(seq)));
    writeFileSync(join(dir, 'encoder_decoder.onnx'), translationWeightsToOnnx(translationWeightsOfModel(seq)));
    seq.dispose();
    writeFileSync(
      join(dir, 'encoder_decoder.json'),
      JSON.stringify({
        kind: 'translation',
        cell: 'gru',
        sizes: { src_vocab: 9, tgt_vocab: 11, embed: 4, hidden: 8, layers: 2 },
        X: src,
        dec_X: tgt,
        logits: chunk(logits, 11 * 4).map((row) => chunk(row, 11)),
      }),
    );
    const r = spawnSync(PYTHON, [script, '--check-export', dir], { encoding: 'utf8', timeout: 240_000 });
    console.log(r.stdout);
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/^6 passed, 0 failed$/m);
    expect(r.stdout.match(/load_state_dict\(strict=True\) ok/g)).toHaveLength(6);
    expect(r.stdout.match(/onnx\.checker ok/g)).toHaveLength(6);
  });
});

function chunk(values: number[], size: number): number[][] {
  return Array.from({ length: values.length / size }, (_, i) => values.slice(i * size, (i + 1) * size));
}
