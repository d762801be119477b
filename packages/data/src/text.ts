/** How to split a line into tokens. */
export type TokenKind = 'char' | 'word';

/**
 * What preprocessing keeps of a text:
 * - `'d2l'` (d2l's `read_time_machine`): the letters a-z; each run of anything else (digits,
 *   punctuation, accented letters, other alphabets, emoji) becomes one space; lower case.
 * - `'letters'`: the same with every Unicode letter (`\p{L}`: é, ß, Cyrillic, Greek, CJK...).
 * - `'raw'`: every character of each line as it is, case kept.
 *
 * What joins the lines is the text encoding's `lineBreak` (see `TextEncoding`): nothing under
 * `'d2l'` as in d2l, a space under `'letters'`, the line break itself under `'raw'`.
 */
export type Preprocessing = 'd2l' | 'letters' | 'raw';
export const PREPROCESSINGS: readonly Preprocessing[] = ['d2l', 'letters', 'raw'];

/**
 * d2l's preprocessing of one line (`read_time_machine`): runs of non-letters become one space,
 * then the line is trimmed and lower-cased. `mode` widens what counts as a letter (see {@link Preprocessing}).
 */
export function preprocessLine(line: string, mode: Preprocessing = 'd2l'): string {
  if (mode === 'd2l')
    return line
      .replace(/[^A-Za-z]+/g, ' ')
      .trim()
      .toLowerCase();
  if (mode === 'letters')
    return line
      .replace(/\P{L}+/gu, ' ')
      .trim()
      .toLowerCase();
  if (mode === 'raw') return line;
  throw new RangeError(`Unknown preprocessing ${JSON.stringify(mode)}: use ${PREPROCESSINGS.map((m) => `"${m}"`).join(', ')}.`);
}

/** Splits text into lines as Python's `readlines` does (no empty line after a final newline). */
export function splitLines(text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/**
 * A generation prefix preprocessed as the training text was (`preprocessLine`), except that a
 * trailing space (or trailing dropped characters) stays one space, where the text continues:
 * "Time Traveller!" becomes "time traveller " under `'d2l'`.
 */
export function preprocessPrefix(prefix: string, mode: Preprocessing = 'd2l'): string {
  if (mode === 'raw') return prefix;
  const core = preprocessLine(prefix, mode);
  return core !== '' && preprocessLine(`${prefix}a`, mode).endsWith(' a') ? `${core} ` : core;
}

/** Splits raw text into lines and preprocesses each (d2l `read_time_machine`). */
export function preprocessText(text: string, mode: Preprocessing = 'd2l'): string[] {
  return splitLines(text).map((line) => preprocessLine(line, mode));
}

/**
 * The share of a text's visible characters (not white space) that preprocessing kept, from 0 to
 * 1: near 1 for English under `'d2l'`, near 0 for a Cyrillic text, which `'letters'` keeps.
 */
export function keptFraction(text: string, lines: readonly string[]): number {
  const visible = (s: string) => s.replace(/\s+/gu, '').length;
  const before = visible(text);
  return before === 0 ? 1 : Math.min(1, lines.reduce((n, l) => n + visible(l), 0) / before);
}

/** d2l `tokenize`: each line becomes a list of characters, or of words (Python's `line.split()`: runs of white space separate them). */
export function tokenize(lines: readonly string[], kind: TokenKind = 'word'): string[][] {
  if (kind === 'char') return lines.map((line) => Array.from(line));
  if (kind === 'word') return lines.map((line) => line.split(/\s+/u).filter((w) => w !== ''));
  throw new Error(`Unknown token kind "${String(kind)}": use "char" or "word".`);
}
