// The PyTorch files of test/fixtures/interop (written by test/fixtures/parity/interop.py), read in Node.
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import type { State } from '@rnnkit/cells';
import type { CellKind } from '@rnnkit/models';

export const FIXTURES = new URL('../../../test/fixtures/interop/', import.meta.url);

export type Nested = number | Nested[];

export interface InteropFixture {
  case: string;
  kind: 'concise' | 'scratch' | 'translation';
  cell: CellKind;
  sizes: Record<string, number>;
  X: number[][];
  state0?: Nested[];
  logits: Nested;
  state: Nested;
  prefix?: string;
  num_preds?: number;
  greedy: string | number[][];
  dec_X?: number[][];
  sources?: number[][];
  bos?: number;
  eos?: number;
}

export const LANGUAGE_MODEL_CASES = ['rnn', 'gru', 'lstm', 'rnn_2layer', 'gru_2layer', 'lstm_2layer', 'gru_bidirectional', 'scratch_gru'] as const;
export const ONNX_CASES = LANGUAGE_MODEL_CASES.filter((c) => c !== 'scratch_gru');

export const fixtureBytes = (file: string): Uint8Array => new Uint8Array(readFileSync(new URL(file, FIXTURES)));
export const fixtureJson = <T = InteropFixture>(file: string): T => JSON.parse(readFileSync(new URL(file, FIXTURES), 'utf8')) as T;
export const fixture = (name: string): InteropFixture => fixtureJson(`${name}.json`);

export function flat(x: Nested): number[] {
  return Array.isArray(x) ? x.flatMap(flat) : [x];
}

/** PyTorch's state ([layers*directions, batch, hidden] for each of h, c; or (batch, hidden) for the scratch model) as rnnkit's list. */
export function rnnkitState(fx: InteropFixture): State {
  const parts = fx.state0 ?? [];
  const out: tf.Tensor2D[] = [];
  for (const part of parts) {
    const p = part as Nested[];
    if (fx.kind === 'scratch') out.push(tf.tensor2d(flat(p), [fx.X.length, fx.sizes.hidden!]));
    else for (const unit of p) out.push(tf.tensor2d(flat(unit), [fx.X.length, fx.sizes.hidden!]));
  }
  return out;
}

/** The largest |a - b|. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`sizes differ: ${a.length} and ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
  return worst;
}
