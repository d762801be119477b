// 150 damaged checkpoints, with a fixed seed: byte flips in weights.bin and
// model.json, truncations, and JSON edits of model.json. Each must either load a model whose
// output is exactly the original's (a harmless change) or be refused with a message naming the
// file. Counts are printed; silent wrong outputs and unnamed messages must both be 0.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Vocab, createRng, type Rng } from '@rnnkit/data';
import { createLanguageModel, type LanguageModelConfig } from '@rnnkit/models';
import type { RecurrentLanguageModel } from '@rnnkit/cells';
import { useBackend } from '../../../test/backends.js';
import { makeOptimizer, predict, trainStep } from './index.js';
import { loadLanguageModel, saveLanguageModel } from './node.js';

const TEXT = 'the time traveller for so it will be convenient to speak of him was expounding a recondite matter to us';
const vocab = new Vocab(Array.from(TEXT));
const config: LanguageModelConfig = {
  cell: 'lstm',
  implementation: 'fused',
  numHiddens: 16,
  numLayers: 1,
  bidirectional: false,
  vocabSize: vocab.size,
  seed: 1,
};

let dir: string;
let original: string;
let reference: { text: string; logits: Float32Array };

/** The model's greedy continuation and its logits on a fixed input, bit for bit. */
function outputOf(model: RecurrentLanguageModel): { text: string; logits: Float32Array } {
  const text = predict(model, vocab, 'time traveller ', 40).text;
  const logits = tf.tidy(() => {
    const ids = vocab.indicesOf(Array.from(TEXT.slice(0, 24)));
    const state = model.beginState(1);
    const out = model.call(tf.tensor2d(ids, [1, ids.length], 'int32'), state);
    return out.logits.dataSync() as Float32Array;
  });
  return { text, logits: Float32Array.from(logits) };
}

const sameBits = (a: Float32Array, b: Float32Array) => a.length === b.length && Buffer.from(a.buffer).equals(Buffer.from(b.buffer));

beforeAll(async () => {
  await useBackend('cpu');
  dir = mkdtempSync(join(tmpdir(), 'rnnkit-fuzz-'));
  original = join(dir, 'original');
  // A few training steps, so that the weights and the outputs are not the initial ones.
  const model = createLanguageModel(config);
  const optimizer = makeOptimizer('adam', 0.05);
  const ids = vocab.indicesOf(Array.from(TEXT));
  for (let i = 0; i < 20; i++) {
    const X = tf.tensor2d(ids.slice(0, 96), [4, 24], 'int32');
    const Y = tf.tensor2d(ids.slice(1, 97), [4, 24], 'int32');
    const state = model.beginState(4);
    const r = trainStep(model, X, Y, state, optimizer, 1);
    tf.dispose([X, Y, ...state, ...r.state]);
  }
  await saveLanguageModel(original, { model, vocab, config, optimizer, training: { epoch: 20, history: [1.5, 1.25] } });
  reference = outputOf(model);
  model.dispose();
  optimizer.dispose();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every (container, key) pair of a JSON tree. */
function slots(node: Json, out: [Json[] | { [k: string]: Json }, string | number][] = []) {
  if (Array.isArray(node)) {
    node.forEach((v, i) => {
      out.push([node, i]);
      slots(v, out);
    });
  } else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      out.push([node, k]);
      slots(v, out);
    }
  }
  return out;
}

/** One random edit of a JSON value: what a hand edit or a buggy writer does. */
function editJson(json: Json, rng: Rng): string {
  const all = slots(json);
  const [container, key] = all[rng.int(0, all.length - 1)]!;
  const c = container as Record<string | number, Json>;
  const value = c[key] as Json;
  const edits: (() => string)[] = [
    () => {
      if (Array.isArray(container)) container.splice(key as number, 1);
      else delete c[key];
      return `delete ${key}`;
    },
    () => {
      c[key] = typeof value === 'number' ? value + 1 : typeof value === 'string' ? `${value}x` : typeof value === 'boolean' ? !value : 0;
      return `nudge ${key}`;
    },
    () => {
      c[key] = typeof value === 'number' ? -value : null;
      return `negate/null ${key}`;
    },
    () => {
      c[key] = typeof value === 'string' ? value.slice(0, -1) : typeof value === 'number' ? value * 2 : 'x';
      return `shorten/double ${key}`;
    },
    () => {
      c[key] = Array.isArray(value) ? [...value].reverse() : [value];
      return `reverse/wrap ${key}`;
    },
  ];
  return edits[rng.int(0, edits.length - 1)]!();
}

describe('150 fuzzed checkpoints (fixed seed)', () => {
  it('0 silent wrong outputs and 0 messages without a file name', async () => {
    const rng = createRng(20261129);
    const counts = { cases: 0, harmless: 0, refusedNamingFile: 0, silentWrong: 0, unnamed: 0 };
    const problems: string[] = [];
    const kinds = [
      ...Array.from({ length: 50 }, () => 'flip weights.bin'),
      ...Array.from({ length: 30 }, () => 'flip model.json'),
      ...Array.from({ length: 20 }, () => 'truncate'),
      ...Array.from({ length: 50 }, () => 'edit model.json'),
    ];
    const tensors = tf.memory().numTensors;
    for (const [i, kind] of kinds.entries()) {
      const ckpt = join(dir, `case-${i}`);
      cpSync(original, ckpt, { recursive: true });
      let what: string = kind;
      if (kind.startsWith('flip')) {
        const file = join(ckpt, kind.slice(5));
        const bytes = readFileSync(file);
        const at = rng.int(0, bytes.length - 1);
        bytes[at]! ^= 1 << rng.int(0, 7);
        writeFileSync(file, bytes);
        what = `${kind} at ${at}`;
      } else if (kind === 'truncate') {
        const name = rng.next() < 0.5 ? 'weights.bin' : 'model.json';
        const bytes = readFileSync(join(ckpt, name));
        const length = rng.int(0, bytes.length - 1);
        writeFileSync(join(ckpt, name), bytes.subarray(0, length));
        what = `truncate ${name} to ${length}`;
      } else {
        const json = JSON.parse(readFileSync(join(ckpt, 'model.json'), 'utf8')) as Json;
        what = `edit model.json: ${editJson(json, rng)}`;
        writeFileSync(join(ckpt, 'model.json'), JSON.stringify(json));
      }
      counts.cases++;
      try {
        const loaded = await loadLanguageModel(ckpt);
        const out = outputOf(loaded.model);
        loaded.model.dispose();
        if (out.text === reference.text && sameBits(out.logits, reference.logits)) counts.harmless++;
        else {
          counts.silentWrong++;
          problems.push(`silent: ${what}`);
        }
      } catch (err) {
        const message = (err as Error).message;
        if (message.includes(join(ckpt, 'model.json')) || message.includes(join(ckpt, 'weights.bin'))) counts.refusedNamingFile++;
        else {
          counts.unnamed++;
          problems.push(`unnamed: ${what}: ${message}`);
        }
      }
      rmSync(ckpt, { recursive: true, force: true });
    }
    console.log(`checkpoint fuzz (seed 20261129): ${JSON.stringify(counts)}`);
    expect(problems).toEqual([]);
    expect(counts).toMatchObject({ cases: 150, silentWrong: 0, unnamed: 0 });
    expect(tf.memory().numTensors).toBe(tensors);
  });
});
