import { PREPROCESSINGS, preprocessLine, preprocessPrefix, tokenize, type Preprocessing, type TokenKind } from './text.js';
import type { Vocab } from './vocab.js';

/** What stands between two lines of a text once it is one stream of tokens. */
export type LineBreak = '' | ' ' | '\n';

/**
 * How a text becomes tokens, the same for the corpus, a prefix and generated text:
 * - `preprocess`: what each line keeps (see {@link Preprocessing});
 * - `tokens`: characters, or words (d2l `tokenize(lines, 'word')`: runs of white space separate words);
 * - `lineBreak`: what joins the lines. `''` is d2l's `load_corpus_time_machine`, which joins the
 *   lines with nothing (`"fox"` + `"jumps"` gives `"foxjumps"`: rnnkit keeps it for `'d2l'`, as
 *   the parity with d2l depends on it); `' '` (the default of `'letters'`) joins them with a
 *   space; `'\n'` (the default of `'raw'`) keeps the line breaks, one `"\n"` token each in a word
 *   model.
 *
 * Checkpoints record it, so generation treats a prefix as the training text was treated.
 */
export interface TextEncoding {
  preprocess: Preprocessing;
  tokens: TokenKind;
  lineBreak: LineBreak;
}

export const TOKEN_KINDS: readonly TokenKind[] = ['char', 'word'];

/** The line break each preprocessing gets by default: d2l's none, a space for `'letters'`, the line break itself for `'raw'`. */
export const DEFAULT_LINE_BREAKS: Readonly<Record<Preprocessing, LineBreak>> = { d2l: '', letters: ' ', raw: '\n' };

/** d2l's encoding: a-z lower-cased, characters, lines joined with nothing. Checkpoints that record none were trained with it. */
export const D2L_TEXT_ENCODING: TextEncoding = Object.freeze({ preprocess: 'd2l', tokens: 'char', lineBreak: '' });

const LINE_BREAKS: readonly LineBreak[] = ['', ' ', '\n'];

/**
 * A full, checked {@link TextEncoding}: `preprocess` default `'d2l'`, `tokens` default `'char'`,
 * `lineBreak` default that of the preprocessing ({@link DEFAULT_LINE_BREAKS}). Throws a
 * RangeError naming a bad field and its choices.
 */
export function textEncoding(options: Partial<TextEncoding> = {}): TextEncoding {
  const preprocess = options.preprocess ?? 'd2l';
  const tokens = options.tokens ?? 'char';
  if (!PREPROCESSINGS.includes(preprocess))
    throw new RangeError(`Unknown preprocessing ${JSON.stringify(preprocess)}: use ${PREPROCESSINGS.map((m) => `"${m}"`).join(', ')}.`);
  if (!TOKEN_KINDS.includes(tokens)) throw new RangeError(`Unknown token kind ${JSON.stringify(tokens)}: use "char" or "word".`);
  const lineBreak = options.lineBreak ?? DEFAULT_LINE_BREAKS[preprocess];
  if (!LINE_BREAKS.includes(lineBreak)) throw new RangeError(`Unknown line break ${JSON.stringify(lineBreak)}: use "", " " or "\\n".`);
  return { preprocess, tokens, lineBreak };
}

/** Splits a text at its line breaks (`\n`, `\r\n`, `\r`), keeping a last empty line after a final break. */
const linesOf = (text: string): string[] => text.split(/\r\n|\r|\n/);

/**
 * The tokens of preprocessed lines as one stream, joined as `encoding.lineBreak` says: nothing,
 * one space between non-empty lines (characters; words need no separator), or a `"\n"` token
 * between every two lines. `trailingBreak` adds one after the last line (a text that ends with one).
 */
export function joinLineTokens(lines: readonly string[], encoding: TextEncoding, trailingBreak = false): string[] {
  const out: string[] = [];
  let any = false;
  tokenize(lines, encoding.tokens).forEach((tokens, i) => {
    if (encoding.lineBreak === '\n' && i > 0) out.push('\n');
    if (encoding.lineBreak === ' ' && encoding.tokens === 'char' && tokens.length > 0 && any) out.push(' ');
    for (const t of tokens) out.push(t);
    any ||= tokens.length > 0;
  });
  if (trailingBreak && encoding.lineBreak === '\n') out.push('\n');
  return out;
}

/**
 * The tokens of a whole text under `encoding`: each line preprocessed, tokenized, and the lines
 * joined (d2l `read_time_machine` + `tokenize` + `load_corpus_time_machine`'s flattening for
 * `'d2l'`). `'raw'` with its line breaks keeps the text as it is (`\r\n` read as `\n`).
 */
export function corpusTokens(text: string, encoding: TextEncoding): string[] {
  const lines = linesOf(text);
  const trailing = lines.length > 1 && lines[lines.length - 1] === '';
  if (trailing) lines.pop();
  return joinLineTokens(
    lines.map((line) => preprocessLine(line, encoding.preprocess)),
    encoding,
    trailing,
  );
}

/**
 * A prefix as the model saw its training text: preprocessed and its lines joined as the corpus'
 * were, except that where the prefix ends in characters that preprocessing drops (a space,
 * punctuation), one space stays, where the text goes on: `"Time Traveller!"` becomes
 * `"time traveller "` under `'d2l'`. `'raw'` keeps it as it is.
 */
export function prefixText(prefix: string, encoding: TextEncoding): string {
  const { preprocess, lineBreak } = encoding;
  if (preprocess === 'raw') return linesOf(prefix).join(lineBreak);
  // A line break is one more non-letter where lines are joined with a space.
  if (lineBreak === ' ') return preprocessPrefix(linesOf(prefix).join(' '), preprocess);
  const lines = linesOf(prefix);
  const last = lines.pop() as string;
  const head = lines.map((line) => preprocessLine(line, preprocess));
  const tail = preprocessPrefix(last, preprocess);
  return lineBreak === '\n' ? [...head, tail].join('\n') : head.join('') + tail;
}

/** A prefix turned into a model's input (see {@link encodePrefix}). */
export interface EncodedPrefix {
  /** The prefix as the model sees it (preprocessed as the training text was). */
  text: string;
  tokens: string[];
  /** Vocabulary ids of `tokens`; a token outside the vocabulary is `<unk>` (0). */
  ids: number[];
  /** The tokens outside the vocabulary, each once, in order. */
  unknownTokens: string[];
}

/**
 * The one way a prefix becomes token ids, for `predict`, `generate`, `rnnkit generate` and the
 * page alike: preprocessed as the training text was ({@link prefixText}), split into the model's
 * tokens, looked up in its vocabulary.
 */
export function encodePrefix(prefix: string, vocab: Vocab, encoding: TextEncoding = D2L_TEXT_ENCODING): EncodedPrefix {
  if (typeof prefix !== 'string') throw new TypeError(`The prefix must be a string, got ${prefix === null ? 'null' : typeof prefix}.`);
  const text = prefixText(prefix, encoding);
  // Words: a line break left in the text (`'raw'`) is a token of its own, as in the corpus.
  const tokens = encoding.tokens === 'char' ? Array.from(text) : joinLineTokens(linesOf(text), { ...encoding, lineBreak: '\n' });
  return { text, tokens, ids: vocab.indicesOf(tokens), unknownTokens: [...new Set(tokens.filter((t) => !vocab.has(t)))] };
}

/** Tokens back into text: characters as they are; words with a space between them, none around a line break. */
export function joinTokens(tokens: readonly string[], encoding: Pick<TextEncoding, 'tokens'> = D2L_TEXT_ENCODING): string {
  if (encoding.tokens === 'char') return tokens.join('');
  let out = '';
  tokens.forEach((t, i) => {
    if (i > 0 && t !== '\n' && tokens[i - 1] !== '\n') out += ' ';
    out += t;
  });
  return out;
}

/** What an encoding keeps, in words, for headers and notes: "d2l's a-z, lower-cased; characters; lines joined with nothing". */
export function describeEncoding(encoding: TextEncoding): string {
  const kept = { d2l: "d2l's a-z, lower-cased", letters: 'every letter, lower-cased', raw: 'every character' }[encoding.preprocess];
  const joined = { '': 'lines joined with nothing', ' ': 'lines joined with a space', '\n': 'line breaks kept' }[encoding.lineBreak];
  return `${kept}; ${encoding.tokens === 'char' ? 'characters' : 'words'}; ${joined}`;
}

/**
 * A default prefix for a corpus: its first `words` words (2 by default) as the corpus spells
 * them, from its first line with any (`"GNU General"` of a licence under `'raw'`). Samples of a
 * model trained on one's own text then start from that text, not from The Time Machine's.
 */
export function corpusPrefix(corpus: Int32Array, vocab: Vocab, encoding: TextEncoding, words = 2): string {
  const head = joinTokens(vocab.tokensOf(corpus.subarray(0, encoding.tokens === 'word' ? 64 : 400)), encoding);
  const line = head.split('\n').find((l) => l.trim() !== '') ?? head;
  const found = line.trim().split(/\s+/u).slice(0, words).join(' ');
  return found === '' ? (vocab.tokensOf([corpus[0] ?? 0])[0] as string) : found;
}
