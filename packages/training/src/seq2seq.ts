import * as tf from '@tensorflow/tfjs-core';
import { recordOpPath } from '@rnnkit/cells';
import { buildArrayNmt, checkPositiveInts, createRng, nmtSpecialIds, preprocessNmt, selectRows, type PaddedArray, type Vocab } from '@rnnkit/data';
import { crossEntropyLoss, maskedSoftmaxCELoss } from './loss.js';
import { bleu } from './metrics.js';
import { makeOptimizer, type OptimizerSpec } from './optim.js';
import { stepPathReporter, type StepPath } from './paths.js';
import { optimizeStep } from './step.js';

/** What the seq2seq loop needs of a model (`@rnnkit/models`' `EncoderDecoder` has it). */
export interface Seq2SeqModelLike {
  /** (batch, srcSteps), (batch, tgtSteps) -> logits (batch*tgtSteps, vocab), batch-major; `training` turns dropout on. */
  call(src: tf.Tensor2D, tgtIn: tf.Tensor2D, options?: { training?: boolean }): tf.Tensor2D;
  greedyDecode(src: tf.Tensor2D, bos: number, eos: number, maxLength: number): number[][];
  /** d2l 9.8 beam search (needed for `beamSize` > 1). */
  beamDecode?(src: tf.Tensor2D, bos: number, eos: number, maxLength: number, options: { beamSize: number; alpha?: number }): number[][];
  /**
   * Optional: the teacher-forced loss as the sum of each target token's softmax cross-entropy times
   * its weight (`labels`, `weights`: batch*tgtSteps, batch-major), for a model that computes it
   * faster than `call` and a separate loss (`EncoderDecoder`: the head and the loss as one op on
   * rnnkit's kernels). The loop uses it where present.
   */
  loss?(src: tf.Tensor2D, tgtIn: tf.Tensor2D, labels: Int32Array, weights: Float32Array, options?: { training?: boolean }): tf.Scalar;
  readonly trainableVariables: tf.Variable[];
}

/** d2l's decoder input under teacher forcing: `<bos>` then the target without its last token. */
export function teacherForcingInput(tgt: PaddedArray, bos: number): Int32Array {
  const { array, rows, numSteps } = tgt;
  const out = new Int32Array(array.length);
  for (let r = 0; r < rows; r++) {
    out[r * numSteps] = bos;
    out.set(array.subarray(r * numSteps, (r + 1) * numSteps - 1), r * numSteps + 1);
  }
  return out;
}

/** 1 for the first `validLen` steps of each row, 0 for the padding (d2l `sequence_mask`). */
export function sequenceMask(validLen: Int32Array, numSteps: number): Float32Array {
  const mask = new Float32Array(validLen.length * numSteps);
  validLen.forEach((n, r) => {
    mask.fill(1, r * numSteps, r * numSteps + Math.min(n, numSteps));
  });
  return mask;
}

export interface Seq2SeqEpoch {
  /** 1-based. */
  epoch: number;
  /** The learning rate of this epoch. */
  lr: number;
  /** Mean masked cross-entropy per target token. */
  loss: number;
  tokensPerSecond: number;
  seconds: number;
}

export interface TrainSeq2SeqOptions {
  epochs: number;
  lr: number;
  batchSize: number;
  bos: number;
  /** Default 'adam' (d2l). */
  optimizer?: OptimizerSpec;
  /** Clipping threshold. Default 1 (d2l). */
  theta?: number;
  /** Shuffles the rows each epoch. */
  seed?: number | string;
  /** Multiplies the learning rate by this after every epoch (epoch e runs at lr * lrDecay^(e-1)). Default 1. */
  lrDecay?: number;
  /**
   * What is differentiated (and clipped): 'mean' (default), the mean masked cross-entropy per
   * target token; 'd2l', `MaskedSoftmaxCELoss(...).sum()` as d2l's `train_seq2seq` (each row's
   * masked token losses over its `num_steps`, summed over the batch). The reported loss is per token either way.
   */
  loss?: 'mean' | 'd2l';
  onEpochEnd?: (info: Seq2SeqEpoch) => void;
  /** Told which way the steps ran (fused loss, one-pass update, kernels, and why not): after the first step, and when it changes. */
  onPath?: (path: StepPath) => void;
}

/** d2l `train_seq2seq`: teacher forcing with `<bos>`, masked cross-entropy, clipping, shuffled minibatches; dropout on. */
export function trainSeq2Seq(model: Seq2SeqModelLike, data: { src: PaddedArray; tgt: PaddedArray }, options: TrainSeq2SeqOptions): Seq2SeqEpoch[] {
  const { src, tgt } = data;
  if (src.rows !== tgt.rows) throw new Error(`${src.rows} source rows but ${tgt.rows} target rows.`);
  checkPositiveInts({ batchSize: options.batchSize });
  const optimizer = makeOptimizer(options.optimizer ?? 'adam', options.lr);
  const decIn = teacherForcingInput(tgt, options.bos);
  const mask = sequenceMask(tgt.validLen, tgt.numSteps);
  const rng = createRng(options.seed ?? 0);
  const order = Array.from({ length: src.rows }, (_, i) => i);
  const history: Seq2SeqEpoch[] = [];
  if (options.loss !== undefined && options.loss !== 'mean' && options.loss !== 'd2l')
    throw new Error(`Unknown loss "${String(options.loss)}": use 'mean' or 'd2l'.`);
  const d2lLoss = options.loss === 'd2l';
  const reported = stepPathReporter(options.onPath);
  const variables = model.trainableVariables;
  try {
    for (let epoch = 1; epoch <= options.epochs; epoch++) {
      const start = performance.now();
      const lr = options.lr * Math.pow(options.lrDecay ?? 1, epoch - 1);
      (optimizer as unknown as { learningRate: number }).learningRate = lr; // read on every update
      rng.shuffle(order);
      let lossSum = 0;
      let tokens = 0;
      for (let i = 0; i < order.length; i += options.batchSize) {
        const rows = order.slice(i, i + options.batchSize);
        const B = rows.length;
        const srcT = tf.tensor2d(selectRows(src.array, rows, src.numSteps), [B, src.numSteps], 'int32');
        const inT = tf.tensor2d(selectRows(decIn, rows, tgt.numSteps), [B, tgt.numSteps], 'int32');
        const labelIds = selectRows(tgt.array, rows, tgt.numSteps);
        const batchMask = selectRows(mask, rows, tgt.numSteps);
        const n = batchMask.reduce((a, b) => a + b, 0);
        let lossOf: () => tf.Scalar;
        const temporaries: tf.Tensor[] = [];
        if (model.loss) {
          // The token weights of either loss: d2l's mask / num_steps summed, or the mean over the tokens.
          const weights = batchMask.map((m) => (d2lLoss ? m / tgt.numSteps : m / Math.max(n, 1)));
          lossOf = () => (model.loss as NonNullable<Seq2SeqModelLike['loss']>)(srcT, inT, labelIds, weights, { training: true });
        } else {
          const labels = tf.tensor1d(labelIds, 'int32');
          const maskT = tf.tensor1d(batchMask, 'float32');
          temporaries.push(labels, maskT);
          lossOf = () => {
            recordOpPath('denseCrossEntropy', false, 'the model has no loss(): its logits, then a separate masked cross-entropy');
            const logits = model.call(srcT, inT, { training: true });
            return d2lLoss ? (tf.sum(maskedSoftmaxCELoss(logits, labels, maskT, tgt.numSteps)) as tf.Scalar) : crossEntropyLoss(logits, labels, maskT);
          };
        }
        const { loss } = reported(() => optimizeStep(variables, lossOf, optimizer, options.theta ?? 1));
        tf.dispose([srcT, inT, ...temporaries]);
        lossSum += d2lLoss ? loss * tgt.numSteps : loss * n;
        tokens += n;
      }
      const seconds = (performance.now() - start) / 1000;
      const info = { epoch, lr, loss: lossSum / Math.max(tokens, 1), tokensPerSecond: tokens / seconds, seconds };
      history.push(info);
      options.onEpochEnd?.(info);
    }
  } finally {
    if (typeof options.optimizer !== 'object') optimizer.dispose();
  }
  return history;
}

export interface Seq2SeqEvaluation {
  /** Share of rows whose output equals the reference exactly (a predicted `<unk>` never does). */
  exactMatch: number;
  /** Mean d2l BLEU of the output tokens against the reference tokens (k = 2 unless given). */
  bleu: number;
  /** The output ids of each row, without `<eos>`. */
  predictions: number[][];
}

/**
 * Decodes every source row (in batches; greedy, or beam search with `beamSize` > 1) and scores
 * its output, as `tgtVocab`'s tokens, against the row's reference tokens, as d2l scores
 * `bleu(pred_seq, label_seq, k=2)`: the predicted string against the preprocessed reference
 * string, split at spaces (for translation, the target words of `tokenizeNmt`, not their ids: a
 * reference word outside the vocabulary is that word, and a predicted `<unk>` matches nothing).
 */
export function evaluateSeq2Seq(
  model: Seq2SeqModelLike,
  src: PaddedArray,
  references: readonly (readonly string[])[],
  options: { tgtVocab: Vocab; bos: number; eos: number; maxLength: number; batchSize?: number; k?: number; beamSize?: number; alpha?: number },
): Seq2SeqEvaluation {
  if (references.length !== src.rows) throw new Error(`evaluateSeq2Seq: ${references.length} references for ${src.rows} source rows: give one per row.`);
  const batchSize = options.batchSize ?? 256;
  const predictions: number[][] = [];
  for (let i = 0; i < src.rows; i += batchSize) {
    const rows = Math.min(batchSize, src.rows - i);
    const srcT = tf.tensor2d(src.array.subarray(i * src.numSteps, (i + rows) * src.numSteps), [rows, src.numSteps], 'int32');
    try {
      predictions.push(...decodeRows(model, srcT, options));
    } finally {
      srcT.dispose();
    }
  }
  const unk = options.tgtVocab.tokenOf(options.tgtVocab.unk);
  let exact = 0;
  let bleuSum = 0;
  predictions.forEach((ids, i) => {
    const p = options.tgtVocab.tokensOf(ids);
    const r = references[i] ?? [];
    if (p.length === r.length && p.every((token, j) => token === r[j] && token !== unk)) exact++;
    bleuSum += bleu(p, r, options.k ?? 2, { unk });
  });
  const n = Math.max(predictions.length, 1);
  return { exactMatch: exact / n, bleu: bleuSum / n, predictions };
}

/** Greedy decoding, or beam search when `beamSize` > 1. */
function decodeRows(
  model: Seq2SeqModelLike,
  src: tf.Tensor2D,
  options: { bos: number; eos: number; maxLength: number; beamSize?: number; alpha?: number },
): number[][] {
  const beamSize = options.beamSize ?? 1;
  checkPositiveInts({ beamSize });
  if (beamSize === 1) return model.greedyDecode(src, options.bos, options.eos, options.maxLength);
  if (!model.beamDecode) throw new Error('This model has no beamDecode: use beamSize 1 (greedy) or an EncoderDecoder.');
  return model.beamDecode(src, options.bos, options.eos, options.maxLength, { beamSize, ...(options.alpha !== undefined ? { alpha: options.alpha } : {}) });
}

export interface Seq2SeqTranslation {
  /** The source words as the model saw them, unknown ones as `<unk>`. */
  source: string[];
  /** Source words outside the vocabulary. */
  unknown: string[];
  /** The output words, without `<eos>`. */
  tokens: string[];
  /** `tokens` joined with spaces. */
  text: string;
}

/**
 * d2l `predict_seq2seq(net, src_sentence, src_vocab, tgt_vocab, num_steps)`: the sentence,
 * preprocessed as the data (`preprocessNmt`), split at spaces, ends with `<eos>` and is padded to
 * `numSteps`; the decoder emits up to `numSteps` tokens from `<bos>` until `<eos>`. Greedy unless
 * `beamSize` > 1 (d2l 9.8's beam search, length penalty `alpha`).
 */
export function predictSeq2Seq(
  model: Seq2SeqModelLike,
  sentence: string,
  srcVocab: Vocab,
  tgtVocab: Vocab,
  numSteps: number,
  options: { beamSize?: number; alpha?: number } = {},
): Seq2SeqTranslation {
  checkPositiveInts({ numSteps });
  const words = preprocessNmt(sentence)
    .split(/\s+/)
    .filter((w) => w !== '');
  const { pad, eos } = nmtSpecialIds(srcVocab);
  const tgt = nmtSpecialIds(tgtVocab);
  const ids = srcVocab.indicesOf(words);
  const padded = buildArrayNmt([ids], numSteps, { pad, eos });
  const src = tf.tensor2d(padded.array, [1, numSteps], 'int32');
  let out: number[];
  try {
    out = decodeRows(model, src, { bos: tgt.bos, eos: tgt.eos, maxLength: numSteps, ...options })[0] ?? [];
  } finally {
    src.dispose();
  }
  const tokens = tgtVocab.tokensOf(out);
  return { source: srcVocab.tokensOf(ids), unknown: words.filter((w) => !srcVocab.has(w)), tokens, text: tokens.join(' ') };
}
