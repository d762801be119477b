import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';

let dir: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = mkdtempSync(join(tmpdir(), 'rnnkit-ckpt-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('checkpoints', () => {
  it('round-trip weights, optimizer state and metadata in TensorFlow.js weight files', async () => {
    const W = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
    const b = tf.tensor1d([0.5, -0.5]);
    const it0 = tf.scalar(7);
    const ckpt = join(dir, 'a', 'checkpoint');
    await saveCheckpoint(ckpt, { metadata: { epoch: 3, note: 'x' }, weights: { W, b }, optimizerWeights: [{ name: 'iter', tensor: it0 }] });
    const loaded = await loadCheckpoint<{ epoch: number }>(join(dir, 'a'));
    expect(loaded.metadata.epoch).toBe(3);
    expect(loaded.weights.W!.arraySync()).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(loaded.weights.b!.arraySync()).toEqual([0.5, -0.5]);
    expect(loaded.optimizerWeights.map((w) => [w.name, w.tensor.arraySync()])).toEqual([['iter', 7]]);
    // What a browser does with fetched files: the manifest and the bin decode with tf.io alone.
    const manifest = JSON.parse(readFileSync(join(ckpt, 'model.json'), 'utf8'));
    const bin = readFileSync(join(ckpt, manifest.weightsManifest[0].paths[0]));
    const decoded = tf.io.decodeWeights(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength), manifest.weightsManifest[0].weights);
    expect(decoded.W!.arraySync()).toEqual([[1, 2, 3], [4, 5, 6]]);
  });

  it('replaces an older checkpoint by renames, leaving no temporary folders', async () => {
    const ckpt = join(dir, 'b', 'checkpoint');
    for (const epoch of [1, 2]) {
      await saveCheckpoint(ckpt, { metadata: { epoch }, weights: { W: tf.fill([2], epoch) }, optimizerWeights: [] });
    }
    expect((await loadCheckpoint<{ epoch: number }>(ckpt)).metadata.epoch).toBe(2);
    expect(readdirSync(join(dir, 'b'))).toEqual(['checkpoint']);
  });

  it('names what is wrong with a broken checkpoint', async () => {
    const ckpt = join(dir, 'c');
    await saveCheckpoint(ckpt, { metadata: { epoch: 1 }, weights: { W: tf.ones([4]) }, optimizerWeights: [] });
    await expect(loadCheckpoint(join(dir, 'missing'))).rejects.toThrow(/No checkpoint at .*missing/);
    writeFileSync(join(ckpt, 'weights.bin'), new Uint8Array(3));
    await expect(loadCheckpoint(ckpt)).rejects.toThrow(/weights.bin holds 3 bytes, the manifest needs 16/);
    writeFileSync(join(ckpt, 'model.json'), '{"format":"something else"}');
    await expect(loadCheckpoint(ckpt)).rejects.toThrow(/not an rnnkit checkpoint/);
  });
});
