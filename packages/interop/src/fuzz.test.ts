import * as ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng, type Rng } from '@rnnkit/data';
import { useBackend } from '../../../test/backends.js';
import { fixtureBytes, maxAbsDiff } from '../test/fixtures.js';
import { InteropError, createModelFromWeights, readSafetensors, weightsFromTorch, type RecurrentWeights } from './index.js';
import { onnxToWeights, weightsToOnnx } from './onnx.js';

// Damaged files: thousands of seeded mutations (truncations, appended bytes, flipped bytes in every
// region, NaN and infinity written over values). Each import either refuses with an InteropError
// whose message starts with the file's name, or accepts a model that is exactly what the damaged
// file holds: for safetensors the values at the tensors' places, for ONNX what ONNX Runtime
// computes from the same damaged file. "Wrong" counts the rest, and must stay 0.
const VOCAB = 14;
const SAFETENSORS_TRIALS = 600;
const ONNX_TRIALS = 250;

interface Tally {
  refused: number;
  accepted: number;
  wrong: string[];
}

function mutate(bytes: Uint8Array, rng: Rng, regions: [number, number][]): { bytes: Uint8Array; region: number | 'truncate' | 'append' | 'nan' } {
  /** An integer in [from, to). */
  const below = (from: number, to: number) => from + Math.floor(rng.next() * (to - from));
  const pick = rng.next();
  if (pick < 0.15) return { bytes: bytes.slice(0, below(0, bytes.length)), region: 'truncate' };
  if (pick < 0.25) {
    const extra = Uint8Array.from({ length: below(1, 16) }, () => below(0, 256));
    return { bytes: Uint8Array.from([...bytes, ...extra]), region: 'append' };
  }
  const out = bytes.slice();
  if (pick < 0.35) {
    const [from, to] = regions.at(-1)!;
    const at = from + 4 * below(0, Math.floor((to - from) / 4));
    new DataView(out.buffer).setFloat32(at, rng.next() < 0.5 ? Number.NaN : Number.NEGATIVE_INFINITY, true);
    return { bytes: out, region: 'nan' };
  }
  const region = below(0, regions.length);
  const [from, to] = regions[region]!;
  const flips = below(1, 4);
  for (let k = 0; k < flips; k++) {
    const at = below(from, to);
    out[at] = (out[at] as number) ^ (1 << below(0, 8));
  }
  return { bytes: out, region };
}

const refusedCleanly = (err: unknown, file: string) => err instanceof InteropError && err.message.startsWith(`${file}: `) && err.file === file;

describe('fuzzing the importers with damaged files', () => {
  beforeAll(() => useBackend('cpu'));

  it.each(['gru', 'lstm_2layer', 'scratch_gru'])('safetensors (%s): 0 wrong models accepted, every refusal names the file', (name) => {
    const original = fixtureBytes(`${name}.safetensors`);
    const file = `${name}.safetensors`;
    const headerLength = Number(new DataView(original.buffer, original.byteOffset).getBigUint64(0, true));
    const layout = readSafetensors(original, file);
    const header = JSON.parse(new TextDecoder().decode(original.subarray(8, 8 + headerLength))) as Record<
      string,
      { data_offsets: [number, number]; shape: number[] }
    >;
    const regions: [number, number][] = [
      [0, 8],
      [8, 8 + headerLength],
      [8 + headerLength, original.length],
    ];
    const rng = createRng(`safetensors-${name}`);
    const tally: Tally = { refused: 0, accepted: 0, wrong: [] };
    for (let trial = 0; trial < SAFETENSORS_TRIALS; trial++) {
      const { bytes, region } = mutate(original, rng, regions);
      let weights: RecurrentWeights;
      let read: ReturnType<typeof readSafetensors>;
      try {
        read = readSafetensors(bytes, file);
        weights = weightsFromTorch(read.tensors, { file, vocabSize: VOCAB });
      } catch (err) {
        if (refusedCleanly(err, file)) tally.refused++;
        else tally.wrong.push(`trial ${trial} (${region}): not a clean refusal: ${(err as Error).stack}`);
        continue;
      }
      tally.accepted++;
      expect(weights.vocabSize).toBe(VOCAB);
      // What the damaged file holds at the original tensors' places (the header said the same thing, or it was refused).
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (const [tensor, t] of Object.entries(layout.tensors)) {
        const got = read.tensors[tensor];
        const [begin] = header[tensor]!.data_offsets;
        const held = Float32Array.from(t.data, (_, i) => view.getFloat32(8 + headerLength + begin + 4 * i, true));
        if (!got || got.shape.join() !== t.shape.join() || maxAbsDiff(got.data, held) !== 0) {
          tally.wrong.push(`trial ${trial} (${region}): ${tensor} is not what the file holds`);
          break;
        }
      }
    }
    console.log(
      `fuzz ${file}: ${SAFETENSORS_TRIALS} damaged files, ${tally.refused} refused naming the file, ${tally.accepted} accepted as exactly what they hold, ${tally.wrong.length} wrong`,
    );
    expect(tally.wrong).toEqual([]);
    expect(tally.refused).toBeGreaterThan(300);
  });

  it.each(['gru', 'lstm_2layer', 'gru_bidirectional', 'rnnkit-export'])(
    'ONNX (%s): 0 wrong models accepted (ONNX Runtime computes the same logits from every accepted file), every refusal names the file',
    async (name) => {
      const original =
        name === 'rnnkit-export'
          ? weightsToOnnx(weightsFromTorch(readSafetensors(fixtureBytes('lstm.safetensors'), 'lstm').tensors))
          : fixtureBytes(`${name}.onnx`);
      const file = `${name}.onnx`;
      const regions: [number, number][] = [[0, original.length]];
      const rng = createRng(`onnx-${name}`);
      const tally: Tally = { refused: 0, accepted: 0, wrong: [] };
      const tokens = [
        [1, 2, 3, 4, 5],
        [13, 0, 7, 7, 2],
      ];
      for (let trial = 0; trial < ONNX_TRIALS; trial++) {
        const { bytes, region } = mutate(original, rng, regions);
        let weights: RecurrentWeights;
        try {
          weights = onnxToWeights(bytes, { file, vocabSize: VOCAB }).weights;
        } catch (err) {
          if (refusedCleanly(err, file)) tally.refused++;
          else tally.wrong.push(`trial ${trial} (${region}): not a clean refusal: ${(err as Error).stack}`);
          continue;
        }
        tally.accepted++;
        const problem = await compareWithOnnxRuntime(bytes, weights, tokens);
        if (problem) tally.wrong.push(`trial ${trial} (${region}): ${problem}`);
      }
      console.log(
        `fuzz ${file}: ${ONNX_TRIALS} damaged files, ${tally.refused} refused naming the file, ${tally.accepted} accepted and run by ONNX Runtime to the same logits, ${tally.wrong.length} wrong`,
      );
      expect(tally.wrong).toEqual([]);
      expect(tally.refused).toBeGreaterThan(100);
    },
  );
});

/** null when ONNX Runtime runs the damaged file to the logits rnnkit's imported model gives; else what differs. */
async function compareWithOnnxRuntime(bytes: Uint8Array, w: RecurrentWeights, tokens: number[][]): Promise<string | null> {
  const B = tokens.length;
  const T = tokens[0]!.length;
  const units = w.numLayers * w.numDirections;
  const zeros = new Float32Array(units * B * w.numHiddens);
  let ortLogits: Float32Array;
  try {
    const session = await ort.InferenceSession.create(bytes);
    const feeds: Record<string, ort.Tensor> = { tokens: new ort.Tensor('int64', BigInt64Array.from(tokens.flat().map(BigInt)), [B, T]) };
    for (const name of session.inputNames) if (name !== 'tokens') feeds[name] = new ort.Tensor('float32', zeros, [units, B, w.numHiddens]);
    const out = await session.run(feeds);
    const logits = out[session.outputNames[0]!]!;
    ortLogits = logits.data as Float32Array;
    await session.release();
    // torch's graphs give (steps * batch, vocab) rows; rnnkit's exports [batch, steps, vocab].
    if (logits.dims.length === 3) ortLogits = timeMajor(ortLogits, B, T, w.vocabSize);
  } catch (err) {
    return `accepted, but ONNX Runtime cannot run it (${(err as Error).message.split('\n')[0]})`;
  }
  const { model } = createModelFromWeights(w);
  const mine = tf.tidy(() => model.call(tf.tensor2d(tokens, undefined, 'int32'), model.beginState(B)).logits.dataSync() as Float32Array);
  model.dispose();
  const diff = maxAbsDiff(mine, ortLogits);
  return diff <= 1e-4 * Math.max(1, ...Array.from(ortLogits, Math.abs)) ? null : `logits differ from ONNX Runtime's by ${diff}`;
}

function timeMajor(btv: Float32Array, B: number, T: number, V: number): Float32Array {
  const out = new Float32Array(btv.length);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) out.set(btv.subarray((b * T + t) * V, (b * T + t + 1) * V), (t * B + b) * V);
  return out;
}
