// Labelled texts for a many-to-one classifier: token ids padded on the right to numSteps with
// their valid lengths (the last real step of each row), class ids, and a stratified split.
import { createRng } from './rng.js';
import { buildArrayNmt, type PaddedArray } from './seq2seq.js';
import type { TokenKind } from './text.js';
import { Vocab } from './vocab.js';

/** The padding token of classification vocabularies (index 1, right after `<unk>`). */
export const PAD = '<pad>';

/** A text's tokens: its characters, or its words (split at runs of white space). */
export function textTokens(text: string, tokens: TokenKind): string[] {
  if (tokens === 'char') return Array.from(text);
  if (tokens === 'word') return text.trim() === '' ? [] : text.trim().split(/\s+/);
  throw new Error(`Unknown token kind "${String(tokens)}": use "char" or "word".`);
}

/**
 * Texts as ids, truncated to their first `numSteps` tokens or padded with `<pad>` on the right;
 * `validLen` counts the real tokens (at least 1: an empty text is one `<unk>`).
 */
export function encodeTexts(texts: readonly string[], vocab: Vocab, tokens: TokenKind, numSteps: number): PaddedArray {
  if (!vocab.has(PAD)) throw new Error(`This vocabulary has no ${PAD}: build it with classificationData (reserved token ${PAD}).`);
  const pad = vocab.indexOf(PAD);
  const lines = texts.map((t) => {
    const ids = vocab.indicesOf(textTokens(t, tokens));
    return ids.length > 0 ? ids : [0];
  });
  return buildArrayNmt(lines, numSteps, { pad });
}

export interface ClassificationDataOptions {
  tokens: TokenKind;
  /** Tokens per row: longer texts keep their first numSteps tokens. */
  numSteps: number;
  /** Tokens seen fewer times are `<unk>`. Default 1 (keep all). */
  minFreq?: number;
}

export interface ClassificationData {
  /** (rows, numSteps) ids with each row's valid length. */
  X: PaddedArray;
  /** Class id of each row (an index into `classes`). */
  labels: Int32Array;
  /** `<unk>`, `<pad>`, then the tokens by frequency. */
  vocab: Vocab;
  /** Class names, sorted; a label's id is its index here. */
  classes: string[];
  tokens: TokenKind;
  /** Rows whose text had more than numSteps tokens. */
  truncated: number;
}

/** Builds the vocabulary and the classes from labelled texts and encodes them (see {@link encodeTexts}). */
export function classificationData(texts: readonly string[], labels: readonly string[], options: ClassificationDataOptions): ClassificationData {
  if (texts.length !== labels.length) throw new Error(`${texts.length} texts but ${labels.length} labels.`);
  if (texts.length === 0) throw new Error('No labelled texts.');
  const { tokens, numSteps } = options;
  const tokenLists = texts.map((t) => textTokens(t, tokens));
  const vocab = new Vocab(tokenLists, { minFreq: options.minFreq ?? 1, reservedTokens: [PAD] });
  const classes = [...new Set(labels)].sort();
  const classId = new Map(classes.map((c, i) => [c, i]));
  return {
    X: encodeTexts(texts, vocab, tokens, numSteps),
    labels: Int32Array.from(labels, (l) => classId.get(l)!),
    vocab,
    classes,
    tokens,
    truncated: tokenLists.filter((l) => l.length > numSteps).length,
  };
}

/**
 * Row indices split into training and validation: within each class, shuffled with `seed`, its
 * last round(valFraction * count) rows validate (a class of one row only trains), so both parts
 * keep the classes' shares.
 */
export function stratifiedSplit(labels: ArrayLike<number>, valFraction: number, seed: number | string = 0): { train: number[]; validation: number[] } {
  if (!(valFraction >= 0 && valFraction < 1)) throw new RangeError(`valFraction must be in [0, 1), got ${valFraction}.`);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i] as number;
    if (!byClass.has(c)) byClass.set(c, []);
    byClass.get(c)!.push(i);
  }
  const rng = createRng(seed);
  const train: number[] = [];
  const validation: number[] = [];
  for (const c of [...byClass.keys()].sort((a, b) => a - b)) {
    const rows = byClass.get(c)!;
    rng.shuffle(rows);
    const nVal = Math.min(rows.length - 1, Math.round(valFraction * rows.length));
    train.push(...rows.slice(0, rows.length - nVal));
    validation.push(...rows.slice(rows.length - nVal));
  }
  return { train: train.sort((a, b) => a - b), validation: validation.sort((a, b) => a - b) };
}

/** Rows `rows` (in that order) of a padded array, with their valid lengths. */
export function selectPaddedRows(X: PaddedArray, rows: readonly number[]): PaddedArray {
  const array = new Int32Array(rows.length * X.numSteps);
  const validLen = new Int32Array(rows.length);
  rows.forEach((r, i) => {
    if (!(Number.isInteger(r) && r >= 0 && r < X.rows)) throw new RangeError(`Row ${r} is outside 0..${X.rows - 1}.`);
    array.set(X.array.subarray(r * X.numSteps, (r + 1) * X.numSteps), i * X.numSteps);
    validLen[i] = X.validLen[r] as number;
  });
  return { array, validLen, rows: rows.length, numSteps: X.numSteps };
}
