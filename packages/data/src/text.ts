/** How to split a line into tokens. */
export type TokenKind = 'char' | 'word';

/**
 * d2l's preprocessing of one line (`read_time_machine`): runs of non-letters become one space,
 * then the line is trimmed and lower-cased.
 */
export function preprocessLine(line: string): string {
  return line.replace(/[^A-Za-z]+/g, ' ').trim().toLowerCase();
}

/** Splits text into lines as Python's `readlines` does (no empty line after a final newline). */
export function splitLines(text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Splits raw text into lines and preprocesses each (d2l `read_time_machine`). */
export function preprocessText(text: string): string[] {
  return splitLines(text).map(preprocessLine);
}

/** d2l `tokenize`: each line becomes a list of characters or of space-separated words. */
export function tokenize(lines: readonly string[], kind: TokenKind = 'word'): string[][] {
  if (kind === 'char') return lines.map((line) => Array.from(line));
  if (kind === 'word') return lines.map((line) => (line === '' ? [] : line.split(' ')));
  throw new Error(`Unknown token kind "${String(kind)}": use "char" or "word".`);
}
