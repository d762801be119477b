/// <reference types="vite/client" />
// Test-only helpers shared by the packages' tests (in Node and in Chromium): backends, fixtures,
// and close comparisons. Nothing here may import a Node built-in statically.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// Registers the gradient kernels (as @rnnkit/training does).
import '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { installWasmKernels } from '../packages/cells/src/kernels/backend.js';
import { RNNModelScratch, assignVariables } from '../packages/cells/src/model.js';
import type { ScratchCell } from '../packages/cells/src/cell.js';
import { rnnCell } from '../packages/cells/src/rnn.js';
import { gruCell } from '../packages/cells/src/gru.js';
import { lstmCell } from '../packages/cells/src/lstm.js';

/** The d2l scratch fixtures of test/fixtures/parity and the cells they test. */
export const SCRATCH_FIXTURES: [string, ScratchCell][] = [
  ['scratch_rnn', rnnCell],
  ['scratch_gru', gruCell],
  ['scratch_lstm', lstmCell],
];

/** Every test that computes runs on both pure backends. */
export const TEST_BACKENDS = ['cpu', 'wasm'] as const;
export type TestBackend = (typeof TEST_BACKENDS)[number];

/** Selects a backend as the apps do: wasm comes with rnnkit's replacement kernels. */
export async function useBackend(name: string): Promise<void> {
  if (!(await tf.setBackend(name))) throw new Error(`backend ${name} failed to initialise`);
  await tf.ready();
  if (name === 'wasm') installWasmKernels();
}

/** The fixtures in the repo, bundled by Vite in Node and in the browser alike. */
const shippedFixtures = import.meta.glob<Fixture>('./fixtures/parity/*.json', { eager: true, import: 'default' });

/** In Node, `RNNKIT_PARITY_DIR` points the tests at another folder of fixtures (e.g. freshly generated ones). */
const parityDirOverride = globalThis.process?.versions?.node ? globalThis.process.env.RNNKIT_PARITY_DIR : undefined;
// A computed specifier, so browser bundles never see the Node module.
const nodeFs = 'node:fs';
const readFileSync: ((path: string, encoding: 'utf8') => string) | undefined = parityDirOverride
  ? (await import(/* @vite-ignore */ nodeFs)).readFileSync
  : undefined;

export type Nested = number | Nested[];

/** A PyTorch fixture from test/fixtures/parity (see its README). */
export interface Fixture {
  case: string;
  sizes: Record<string, number>;
  params: Record<string, Nested>;
  X: number[][];
  Y: Nested;
  state0?: Nested;
  state?: Nested;
  logits?: Nested;
  outputs?: Nested;
  loss?: number;
  grads?: Record<string, Nested>;
  grad_norm?: number;
  clip_theta?: number;
  lr?: number;
  params_after_clipped_sgd?: Record<string, Nested>;
  [key: string]: unknown;
}

/** A fixture by name: from `RNNKIT_PARITY_DIR` when set (Node), else test/fixtures/parity. */
export function loadFixture(name: string): Fixture {
  if (parityDirOverride && readFileSync) {
    const dir = parityDirOverride.endsWith('/') ? parityDirOverride : `${parityDirOverride}/`;
    return JSON.parse(readFileSync(`${dir}${name}.json`, 'utf8')) as Fixture;
  }
  const fx = shippedFixtures[`./fixtures/parity/${name}.json`];
  if (!fx) throw new Error(`No parity fixture ${name}.json in test/fixtures/parity (have: ${Object.keys(shippedFixtures).join(', ')}).`);
  // A deep copy, so a test that edits its fixture cannot change another's.
  return structuredClone(fx);
}

export function flat(x: Nested): number[] {
  return Array.isArray(x) ? x.flatMap(flat) : [x];
}

export function shapeOf(x: Nested): number[] {
  const shape: number[] = [];
  let cur: Nested = x;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0] as Nested;
  }
  return shape;
}

export function tensorOf(x: Nested): tf.Tensor {
  return tf.tensor(flat(x), shapeOf(x), 'float32');
}

/** A fixture's named arrays (params, grads, ...) as tensors. */
export function tensorsOf(entries: Record<string, Nested>): Record<string, tf.Tensor> {
  return Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, tensorOf(v)]));
}

/**
 * Float32 against float64: |a - b| <= atol + rtol * |b| elementwise, with the worst offender in
 * the message. The small atol covers entries that are zero up to rounding.
 */
export function expectClose(
  actual: tf.Tensor | ArrayLike<number> | number,
  expected: Nested,
  label: string,
  { rtol = 1e-4, atol = 1e-6 }: { rtol?: number; atol?: number } = {},
): void {
  const a = typeof actual === 'number' ? [actual] : Array.from(actual instanceof tf.Tensor ? actual.dataSync() : actual);
  const b = flat(expected);
  expect(a.length, `${label}: size`).toBe(b.length);
  if (actual instanceof tf.Tensor) expect(actual.shape, `${label}: shape`).toEqual(shapeOf(expected));
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < b.length; i++) {
    const excess = Math.abs((a[i] as number) - (b[i] as number)) - (atol + rtol * Math.abs(b[i] as number));
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = i;
    }
  }
  expect(worst, worst < 0 ? label : `${label}[${worst}]: got ${a[worst]}, expected ${b[worst]}`).toBe(-1);
}

/** A scratch model holding a fixture's parameters (the caller disposes it). */
export function scratchModelFromFixture(fx: Fixture, cell: ScratchCell): RNNModelScratch {
  const model = new RNNModelScratch({ vocabSize: fx.sizes.vocab as number, numHiddens: fx.sizes.hidden as number, ...cell });
  assignVariables(model.params, tensorsOf(fx.params));
  return model;
}

/** A fixture's inputs: ids X and targets Y, (batch, steps) int32, and the initial state, one (batch, hidden) tensor per part. */
export function fixtureInputs(fx: Fixture): { X: tf.Tensor2D; Y: tf.Tensor2D; state0: tf.Tensor2D[] } {
  return {
    X: tf.tensor2d(fx.X, undefined, 'int32'),
    Y: tf.tensor2d(fx.Y as number[][], undefined, 'int32'),
    state0: (fx.state0 as Nested[]).map((s) => tensorOf(s) as tf.Tensor2D),
  };
}

/**
 * A describe block per backend and scratch fixture, named `<fixture><title> on <backend>`; `body`
 * gets the fixture, its cell and the scratch model holding its weights, built on that backend
 * before the tests and disposed after them.
 */
export function describeScratchFixtures(title: string, body: (fx: Fixture, cell: ScratchCell, model: () => RNNModelScratch) => void): void {
  for (const backend of TEST_BACKENDS) {
    describe.each(SCRATCH_FIXTURES)(`%s${title} on ${backend}`, (name, cell) => {
      const fx = loadFixture(name);
      let model: RNNModelScratch;
      beforeAll(async () => {
        await useBackend(backend);
        model = scratchModelFromFixture(fx, cell);
      });
      afterAll(() => model.dispose());
      body(fx, cell, () => model);
    });
  }
}
