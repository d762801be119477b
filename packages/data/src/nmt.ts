import { checkPositiveInts } from './checks.js';
import { FRA_ENG_HEAD } from './shipped/fra-eng-head.generated.js';
import { buildArrayNmt, type PaddedArray } from './seq2seq.js';
import { Vocab } from './vocab.js';

/** d2l's reserved tokens of both translation vocabularies, in index order after `<unk>`. */
export const NMT_RESERVED_TOKENS = ['<pad>', '<bos>', '<eos>'] as const;

/**
 * d2l `preprocess_nmt`: the non-breaking spaces U+202F and U+00A0 become spaces, the text is
 * lower-cased, and a space goes before every `,.!?` that follows a non-space.
 */
export function preprocessNmt(text: string): string {
  const lower = text
    .replace(/\r\n/g, '\n')
    .replace(/[\u202f\u00a0]/g, ' ')
    .toLowerCase();
  let out = '';
  for (let i = 0; i < lower.length; i++) {
    const ch = lower[i]!;
    out += i > 0 && ',.!?'.includes(ch) && lower[i - 1] !== ' ' ? ` ${ch}` : ch;
  }
  return out;
}

/** A preprocessed sentence's words: split at spaces, none empty. */
const words = (sentence: string): string[] => sentence.split(' ').filter((w) => w !== '');

/**
 * d2l `tokenize_nmt(text, num_examples)`: one `source<TAB>target` pair per line, split into words
 * at single spaces; lines without exactly one tab are skipped. As d2l's code (`i > num_examples`),
 * `numExamples` n keeps the pairs of the first n + 1 lines: 600 gives 601 pairs. Unlike d2l's
 * code, no word is empty: d2l makes an empty word of two spaces in a row, a space at either end of
 * a sentence, or a sentence that starts with `,.!?` (`preprocess_nmt` puts a space before it), and
 * it would become a vocabulary token `''`; here it is dropped (d2l's own data has none).
 */
export function tokenizeNmt(text: string, numExamples?: number): { source: string[][]; target: string[][] } {
  const source: string[][] = [];
  const target: string[][] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (numExamples && i > numExamples) break;
    const parts = lines[i]!.split('\t');
    if (parts.length === 2) {
      source.push(words(parts[0]!));
      target.push(words(parts[1]!));
    }
  }
  return { source, target };
}

/** d2l's translation vocabulary: `min_freq` 2 and reserved `<pad> <bos> <eos>`. */
export function nmtVocab(lines: readonly (readonly string[])[], minFreq = 2): Vocab {
  return new Vocab(lines, { minFreq, reservedTokens: NMT_RESERVED_TOKENS });
}

/** The ids of a translation vocabulary's reserved tokens. */
export function nmtSpecialIds(vocab: Vocab): { pad: number; bos: number; eos: number } {
  const [pad, bos, eos] = NMT_RESERVED_TOKENS.map((t) => {
    if (!vocab.has(t)) throw new Error(`This vocabulary has no ${t}: build it with nmtVocab (reserved tokens <pad> <bos> <eos>).`);
    return vocab.indexOf(t);
  }) as [number, number, number];
  return { pad, bos, eos };
}

/** d2l `build_array_nmt(lines, vocab, num_steps)`: token lines -> ids + `<eos>`, padded on the right to `numSteps`. */
export function buildArrayNmtTokens(lines: readonly (readonly string[])[], vocab: Vocab, numSteps: number): PaddedArray {
  const { pad, eos } = nmtSpecialIds(vocab);
  return buildArrayNmt(
    lines.map((l) => vocab.indicesOf(l)),
    numSteps,
    { pad, eos },
  );
}

export interface LoadDataNmtOptions {
  /** d2l's `num_steps`: tokens per padded row (with `<eos>`). */
  numSteps: number;
  /** d2l's `num_examples`, default 600 (which keeps 601 pairs, as d2l's code). 0 keeps every line. */
  numExamples?: number;
  /** Raw `fra.txt` text; default the first 1,000 lines shipped with the package (`FRA_ENG_HEAD`). */
  text?: string;
}

export interface NmtData {
  src: PaddedArray;
  tgt: PaddedArray;
  srcVocab: Vocab;
  tgtVocab: Vocab;
  /** The tokenized pairs the arrays were built from. */
  source: string[][];
  target: string[][];
}

/**
 * d2l `load_data_nmt(batch_size, num_steps, num_examples)`: preprocessed, tokenized pairs, their
 * vocabularies and padded arrays with valid lengths. d2l's `batch_size` belongs to the training
 * loop here (`trainSeq2Seq` shuffles and batches the arrays each epoch).
 */
export function loadDataNmt(options: LoadDataNmtOptions): NmtData {
  const numExamples = options.numExamples ?? 600;
  checkPositiveInts({ numSteps: options.numSteps });
  if (!Number.isInteger(numExamples) || numExamples < 0)
    throw new RangeError(`numExamples must be a whole number >= 0 (0 keeps every line), got ${numExamples}.`);
  const text = preprocessNmt(options.text ?? FRA_ENG_HEAD);
  const { source, target } = tokenizeNmt(text, numExamples);
  if (source.length === 0) throw new Error('The translation text has no "source<TAB>target" lines: pass the text of fra.txt.');
  const srcVocab = nmtVocab(source);
  const tgtVocab = nmtVocab(target);
  return {
    src: buildArrayNmtTokens(source, srcVocab, options.numSteps),
    tgt: buildArrayNmtTokens(target, tgtVocab, options.numSteps),
    srcVocab,
    tgtVocab,
    source,
    target,
  };
}
