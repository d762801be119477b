// rnnkit's language models (scratch, fused, layers) <-> RecurrentWeights.
import * as tf from '@tensorflow/tfjs-core';
import { assignVariables, type RecurrentLanguageModel } from '@rnnkit/cells';
import {
  GATES,
  RNNModel,
  type CellKind,
  checkLanguageModelConfig,
  createLanguageModel,
  layerSuffix,
  type LanguageModelConfig,
  type LanguageModelImplementation,
} from '@rnnkit/models';
import type { NamedArray } from './errors.js';
import { add, array, reorderGates, unitInputs, type RecurrentUnit, type RecurrentWeights } from './recurrent-weights.js';
import { SCRATCH_NAMES, weightsFromTorch, weightsToTorch } from './torch.js';

/** tf.layers' gate order, as indices into PyTorch's: GRU z, r, h (= PyTorch's z, r, n); LSTM i, f, c, o (the same). */
const LAYERS_ORDER = { rnn: [0], gru: [1, 0, 2], lstm: [0, 1, 2, 3] } as const satisfies Record<CellKind, readonly number[]>;
/** PyTorch's order as indices into tf.layers' (the inverse permutation). */
const FROM_LAYERS_ORDER = { rnn: [0], gru: [1, 0, 2], lstm: [0, 1, 2, 3] } as const satisfies Record<CellKind, readonly number[]>;

const valuesOf = (v: tf.Variable): Float32Array => Float32Array.from(v.dataSync() as Float32Array);

/**
 * The implementations that compute exactly these weights' function: PyTorch's reset-after GRU
 * runs on `fused` only; d2l's reset-before GRU on `scratch` (one layer) and `layers`; RNN and LSTM
 * on all three (scratch: one unidirectional layer; layers: unidirectional).
 */
export function implementationsFor(w: Pick<RecurrentWeights, 'cell' | 'resetAfter' | 'numLayers' | 'numDirections'>): LanguageModelImplementation[] {
  const single = w.numLayers === 1 && w.numDirections === 1;
  const out: LanguageModelImplementation[] = [];
  if (single && !(w.cell === 'gru' && w.resetAfter)) out.push('scratch');
  if (!(w.cell === 'gru' && !w.resetAfter)) out.push('fused');
  if (w.numDirections === 1 && !(w.cell === 'gru' && w.resetAfter)) out.push('layers');
  return out;
}

/** Why `implementation` cannot run these weights exactly (null when it can). */
export function whyNot(
  w: Pick<RecurrentWeights, 'cell' | 'resetAfter' | 'numLayers' | 'numDirections'>,
  implementation: LanguageModelImplementation,
): string | null {
  if (implementationsFor(w).includes(implementation)) return null;
  const fits = implementationsFor(w).join(' or ');
  if (w.cell === 'gru' && w.resetAfter && implementation !== 'fused')
    return `this is PyTorch's GRU (reset gate after the recurrent matmul), which only the fused implementation computes: use ${fits}`;
  if (w.cell === 'gru' && !w.resetAfter && implementation === 'fused')
    return `this is d2l's scratch GRU (reset gate before the recurrent matmul), which the fused implementation does not compute: use ${fits}`;
  if (implementation === 'scratch')
    return `the scratch implementation has one unidirectional layer, this model has ${w.numLayers} layer(s) and ${w.numDirections} direction(s): use ${fits}`;
  return `the layers implementation is unidirectional: use ${fits}`;
}

/** The implementation an import picks when none is asked for: fused where it fits, else scratch (one layer) or layers. */
export function defaultImplementation(w: Pick<RecurrentWeights, 'cell' | 'resetAfter' | 'numLayers' | 'numDirections'>): LanguageModelImplementation {
  const fits = implementationsFor(w);
  return fits.includes('fused') ? 'fused' : (fits[0] ?? 'fused');
}

/** The weights of an rnnkit language model built from `config` (`createLanguageModel`, a checkpoint). */
export function weightsOfModel(model: RecurrentLanguageModel, config: LanguageModelConfig): RecurrentWeights {
  const c = checkLanguageModelConfig(config);
  const vars = model.namedVariables();
  const get = (name: string): Float32Array => {
    const v = vars[name];
    if (!v) throw new Error(`The model has no variable ${name}: it does not match its config (${c.implementation} ${c.cell}).`);
    return valuesOf(v);
  };
  const H = c.numHiddens;
  const D = c.bidirectional ? 2 : 1;
  const base = { cell: c.cell, vocabSize: c.vocabSize, numHiddens: H, numLayers: c.numLayers, numDirections: D };
  if (c.implementation === 'scratch') {
    const state = Object.fromEntries(SCRATCH_NAMES[c.cell].map((n) => [n, array(vars[n]?.shape ?? [], get(n))]));
    return weightsFromTorch(state, { file: 'the model' });
  }
  if (c.implementation === 'fused') {
    const units: RecurrentUnit[] = [];
    for (let l = 0; l < c.numLayers; l++) {
      for (let d = 0; d < D; d++) {
        const s = layerSuffix(l, d);
        units.push({ W_ih: get(`W_ih${s}`), W_hh: get(`W_hh${s}`), b_ih: get(`b_ih${s}`), b_hh: get(`b_hh${s}`) });
      }
    }
    const resetAfter = model instanceof RNNModel ? model.resetAfter : true;
    return { ...base, resetAfter, units, W_out: get('W_out'), b_out: get('b_out') };
  }
  const order = FROM_LAYERS_ORDER[c.cell];
  const units: RecurrentUnit[] = [];
  for (let l = 0; l < c.numLayers; l++) {
    const inputs = unitInputs(base, l);
    units.push({
      W_ih: reorderGates(get(`kernel_l${l}`), inputs, H, order),
      W_hh: reorderGates(get(`recurrent_kernel_l${l}`), H, H, order),
      b_ih: reorderGates(get(`bias_l${l}`), 1, H, order),
      b_hh: new Float32Array(GATES[c.cell] * H),
    });
  }
  return { ...base, resetAfter: false, units, W_out: get('W_out'), b_out: get('b_out') };
}

/** `config`'s variables (names as `model.namedVariables()`) holding these weights; throws when the implementation cannot. */
export function modelVariables(w: RecurrentWeights, implementation: LanguageModelImplementation): Record<string, NamedArray> {
  const why = whyNot(w, implementation);
  if (why) throw new Error(`The ${implementation} implementation cannot hold this model: ${why}.`);
  const H = w.numHiddens;
  const GH = GATES[w.cell] * H;
  if (implementation === 'scratch') return weightsToTorch(w, 'scratch');
  const out: Record<string, NamedArray> = {};
  if (implementation === 'fused') {
    w.units.forEach((u, i) => {
      const l = Math.floor(i / w.numDirections);
      const s = layerSuffix(l, i % w.numDirections);
      out[`W_ih${s}`] = array([unitInputs(w, l), GH], u.W_ih);
      out[`W_hh${s}`] = array([H, GH], u.W_hh);
      out[`b_ih${s}`] = array([GH], u.b_ih);
      out[`b_hh${s}`] = array([GH], u.b_hh);
    });
  } else {
    const order = LAYERS_ORDER[w.cell];
    w.units.forEach((u, l) => {
      const inputs = unitInputs(w, l);
      out[`kernel_l${l}`] = array([inputs, GH], reorderGates(u.W_ih, inputs, H, order));
      out[`recurrent_kernel_l${l}`] = array([H, GH], reorderGates(u.W_hh, H, H, order));
      out[`bias_l${l}`] = array([GH], reorderGates(add(u.b_ih, u.b_hh), 1, H, order));
    });
  }
  out.W_out = array([w.numDirections * H, w.vocabSize], w.W_out);
  out.b_out = array([w.vocabSize], w.b_out);
  return out;
}

/** The `LanguageModelConfig` of these weights on `implementation` (default: `defaultImplementation`). */
export function configFor(w: RecurrentWeights, implementation: LanguageModelImplementation = defaultImplementation(w), seed = 0): LanguageModelConfig {
  return {
    cell: w.cell,
    implementation,
    numHiddens: w.numHiddens,
    numLayers: w.numLayers,
    bidirectional: w.numDirections === 2,
    vocabSize: w.vocabSize,
    seed,
  };
}

/**
 * Builds an rnnkit language model holding these weights exactly: `createLanguageModel(config)`,
 * then every variable assigned. Throws (naming the reason and the implementations that fit) when
 * `implementation` cannot compute this model. The caller disposes the model.
 */
export function createModelFromWeights(
  w: RecurrentWeights,
  implementation: LanguageModelImplementation = defaultImplementation(w),
): { model: RecurrentLanguageModel; config: LanguageModelConfig } {
  const variables = modelVariables(w, implementation);
  const config = configFor(w, implementation);
  const model = createLanguageModel(config);
  const values = tf.tidy(() => Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, tf.tensor(v.data, v.shape, 'float32')])));
  try {
    assignVariables(model.namedVariables(), values);
  } catch (err) {
    model.dispose();
    throw err;
  } finally {
    tf.dispose(Object.values(values));
  }
  return { model, config };
}
