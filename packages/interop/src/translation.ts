// d2l 9.7's Seq2SeqEncoder + Seq2SeqDecoder state dicts <-> rnnkit's EncoderDecoder.
import * as tf from '@tensorflow/tfjs-core';
import { assignVariables } from '@rnnkit/cells';
import type { Vocab } from '@rnnkit/data';
import { GATES, EncoderDecoder, type EncoderDecoderOptions } from '@rnnkit/models';
import { refuse, type NamedArray } from './errors.js';
import { array, transpose } from './recurrent-weights.js';
import { checkTensors, conciseShapes, recurrentSizes, type TorchStateDict } from './torch.js';
import { vocabFromTokens, vocabTokens } from './vocab.js';

/** An EncoderDecoder's options and its variables by `namedVariables()` name. */
export interface TranslationWeights {
  options: Required<Pick<EncoderDecoderOptions, 'srcVocabSize' | 'tgtVocabSize' | 'embedSize' | 'numHiddens' | 'numLayers' | 'cell'>>;
  variables: Record<string, NamedArray>;
}

/**
 * Whether a state dict is meant as d2l's encoder-decoder: it has names under `encoder.` or
 * `decoder.` (`translationFromTorch` then checks every one, so an incomplete one is refused
 * naming the tensor it lacks rather than as "not d2l's RNNModel").
 */
export const isTranslationStateDict = (state: TorchStateDict): boolean =>
  Object.keys(state).some((name) => name.startsWith('encoder.') || name.startsWith('decoder.'));

/**
 * Reads the state dict of d2l 9.7's `EncoderDecoder(Seq2SeqEncoder, Seq2SeqDecoder)`:
 * `encoder.embedding.weight`, `encoder.rnn.*`, `decoder.embedding.weight`, `decoder.rnn.*` (its
 * first layer takes the embedding and the context), `decoder.dense.*`. Every name and shape is
 * checked; the vocabulary sizes too when given.
 */
export function translationFromTorch(state: TorchStateDict, options: { file?: string; srcVocabSize?: number; tgtVocabSize?: number } = {}): TranslationWeights {
  const file = options.file ?? 'the state dict';
  const need = (name: string) => {
    const t = state[name];
    if (t?.shape.length !== 2) throw refuse(file, `has no 2-D tensor "${name}", which d2l's Seq2SeqEncoder/Seq2SeqDecoder have.`);
    return t;
  };
  const [Vs, E] = need('encoder.embedding.weight').shape as [number, number];
  const Vt = need('decoder.embedding.weight').shape[0] as number;
  const enc = recurrentSizes(file, state, 'encoder.rnn.');
  const dec = recurrentSizes(file, state, 'decoder.rnn.');
  if (enc.numDirections !== 1 || dec.numDirections !== 1)
    throw refuse(file, "has a bidirectional encoder or decoder; d2l's Seq2SeqEncoder/Decoder are unidirectional.");
  if (dec.cell !== enc.cell || dec.H !== enc.H || dec.numLayers !== enc.numLayers) {
    throw refuse(
      file,
      `has an encoder (${enc.cell}, ${enc.numLayers} layers, hidden ${enc.H}) and a decoder (${dec.cell}, ${dec.numLayers} layers, hidden ${dec.H}) of different shapes.`,
    );
  }
  for (const [what, want, got] of [
    ['source', options.srcVocabSize, Vs],
    ['target', options.tgtVocabSize, Vt],
  ] as const) {
    if (want !== undefined && want !== got) throw refuse(file, `has a ${what} embedding of ${got} tokens, but the ${what} vocabulary has ${want}.`);
  }
  const { cell, H, numLayers } = enc;
  const expected: Record<string, number[]> = {
    'encoder.embedding.weight': [Vs, E],
    ...conciseShapes(cell, E, H, numLayers, 1, 'encoder.rnn.'),
    'decoder.embedding.weight': [Vt, E],
    ...conciseShapes(cell, E + H, H, numLayers, 1, 'decoder.rnn.'),
    'decoder.dense.weight': [Vt, H],
    'decoder.dense.bias': [Vt],
  };
  checkTensors(file, state, expected, `d2l's encoder-decoder (${cell.toUpperCase()}, ${numLayers} layers, embedding ${E}, hidden ${H})`);
  const GH = GATES[cell] * H;
  const variables: Record<string, NamedArray> = {
    'encoder.embedding': array([Vs, E], state['encoder.embedding.weight']!.data.slice()),
    'decoder.embedding': array([Vt, E], state['decoder.embedding.weight']!.data.slice()),
    'decoder.W_out': array([H, Vt], transpose(state['decoder.dense.weight']!.data, Vt, H)),
    'decoder.b_out': array([Vt], state['decoder.dense.bias']!.data.slice()),
  };
  for (const part of ['encoder', 'decoder'] as const) {
    for (let l = 0; l < numLayers; l++) {
      const inputs = l > 0 ? H : part === 'encoder' ? E : E + H;
      const get = (n: string) => state[`${part}.rnn.${n}_l${l}`]!.data;
      variables[`${part}.W_ih_l${l}`] = array([inputs, GH], transpose(get('weight_ih'), GH, inputs));
      variables[`${part}.W_hh_l${l}`] = array([H, GH], transpose(get('weight_hh'), GH, H));
      variables[`${part}.b_ih_l${l}`] = array([GH], get('bias_ih').slice());
      variables[`${part}.b_hh_l${l}`] = array([GH], get('bias_hh').slice());
    }
  }
  return { options: { srcVocabSize: Vs, tgtVocabSize: Vt, embedSize: E, numHiddens: H, numLayers, cell }, variables };
}

/** Builds an `EncoderDecoder` holding these weights (the caller disposes it). */
export function createTranslationModel(t: TranslationWeights, options: Partial<EncoderDecoderOptions> = {}): EncoderDecoder {
  const model = new EncoderDecoder({ ...options, ...t.options });
  const values = tf.tidy(() => Object.fromEntries(Object.entries(t.variables).map(([k, v]) => [k, tf.tensor(v.data, v.shape, 'float32')])));
  try {
    assignVariables(model.namedVariables(), values);
  } catch (err) {
    model.dispose();
    throw err;
  } finally {
    tf.dispose(Object.values(values));
  }
  return model;
}

/** An `EncoderDecoder`'s options and weights (rnnkit's names and layout), for `translationWeightsToOnnx`. */
export function translationWeightsOfModel(model: EncoderDecoder): TranslationWeights {
  const vars = model.namedVariables();
  const variables = Object.fromEntries(
    Object.entries(vars).map(([k, v]) => [k, array([...v.shape], Float32Array.from(v.dataSync() as Float32Array))]),
  ) as Record<string, NamedArray>;
  const layers = Object.keys(vars).filter((k) => /^encoder\.W_ih_l\d+$/.test(k)).length;
  const [srcVocabSize, embedSize] = vars['encoder.embedding']!.shape as [number, number];
  const tgtVocabSize = vars['decoder.embedding']!.shape[0] as number;
  const [numHiddens, GH] = vars['encoder.W_hh_l0']!.shape as [number, number];
  const cell = (Object.entries(GATES).find(([, g]) => g * numHiddens === GH)?.[0] ?? 'gru') as TranslationWeights['options']['cell'];
  return { options: { srcVocabSize, tgtVocabSize, embedSize, numHiddens, numLayers: layers, cell }, variables };
}

/** The state dict of d2l 9.7's EncoderDecoder holding `model`'s weights (PyTorch's names and layout). */
export function translationToTorch(model: EncoderDecoder): TorchStateDict {
  const vars = model.namedVariables();
  const get = (name: string) => {
    const v = vars[name];
    if (!v) throw new Error(`The encoder-decoder has no variable ${name}.`);
    return { shape: v.shape, data: Float32Array.from(v.dataSync() as Float32Array) };
  };
  const out: TorchStateDict = {};
  const emb = (part: string) => {
    const e = get(`${part}.embedding`);
    out[`${part}.embedding.weight`] = array(e.shape, e.data);
  };
  const rnn = (part: string) => {
    for (let l = 0; vars[`${part}.W_ih_l${l}`]; l++) {
      const s = `_l${l}`;
      const wih = get(`${part}.W_ih${s}`);
      const whh = get(`${part}.W_hh${s}`);
      const [inputs, GH] = wih.shape as [number, number];
      const H = whh.shape[0] as number;
      out[`${part}.rnn.weight_ih${s}`] = array([GH, inputs], transpose(wih.data, inputs, GH));
      out[`${part}.rnn.weight_hh${s}`] = array([GH, H], transpose(whh.data, H, GH));
      out[`${part}.rnn.bias_ih${s}`] = array([GH], get(`${part}.b_ih${s}`).data);
      out[`${part}.rnn.bias_hh${s}`] = array([GH], get(`${part}.b_hh${s}`).data);
    }
  };
  emb('encoder');
  rnn('encoder');
  emb('decoder');
  rnn('decoder');
  const W = get('decoder.W_out');
  const [H, V] = W.shape as [number, number];
  out['decoder.dense.weight'] = array([V, H], transpose(W.data, H, V));
  out['decoder.dense.bias'] = array([V], get('decoder.b_out').data);
  return out;
}

/** A translation model's `vocab.json`: `{ "src": [...], "tgt": [...] }`, each d2l's `idx_to_token`. */
export function translationVocabJson(src: Vocab, tgt: Vocab): { src: string[]; tgt: string[] } {
  return { src: vocabTokens(src), tgt: vocabTokens(tgt) };
}

/** Reads a translation model's vocab.json (`{ "src": [...], "tgt": [...] }`). */
export function translationVocabFromJson(json: unknown, file = 'vocab.json'): { src: Vocab; tgt: Vocab } {
  if (typeof json !== 'object' || json === null || Array.isArray(json) || !('src' in json) || !('tgt' in json))
    throw refuse(file, 'is not a translation vocabulary: expected { "src": [...], "tgt": [...] }, the idx_to_token of d2l\'s src_vocab and tgt_vocab.');
  const j = json as { src: unknown; tgt: unknown };
  return { src: vocabFromTokens(j.src, `${file} (src)`), tgt: vocabFromTokens(j.tgt, `${file} (tgt)`) };
}
