import { checkPositiveInts } from './checks.js';
import { createRng } from './rng.js';

export interface ReversePairsOptions {
  /** Number of pairs. */
  count: number;
  /** Shortest string. Default 3. */
  minLength?: number;
  /** Longest string. Default 10. */
  maxLength?: number;
  /** Default 'abcdefghijklmnopqrstuvwxyz'. */
  alphabet?: string;
  seed?: number | string;
}

/** A toy translation task: each source is a random letter string, its target the same string reversed. */
export function reversePairs(options: ReversePairsOptions): { source: string; target: string }[] {
  const { count } = options;
  const minLength = options.minLength ?? 3;
  const maxLength = options.maxLength ?? 10;
  const alphabet = [...(options.alphabet ?? 'abcdefghijklmnopqrstuvwxyz')];
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`count must be a whole number >= 0, got ${count}.`);
  if (!Number.isInteger(minLength) || minLength < 1 || !Number.isInteger(maxLength) || maxLength < minLength) {
    throw new RangeError(`Need whole numbers 1 <= minLength <= maxLength, got ${minLength} and ${maxLength}.`);
  }
  if (alphabet.length === 0) throw new RangeError('alphabet is empty.');
  const rng = createRng(options.seed ?? 0);
  return Array.from({ length: count }, () => {
    const length = rng.int(minLength, maxLength);
    const source = Array.from({ length }, () => alphabet[rng.int(0, alphabet.length - 1)]).join('');
    return { source, target: [...source].reverse().join('') };
  });
}

/** d2l `truncate_pad`: cut to `numSteps` or pad with `pad`, on the right (d2l) or on the left. */
export function truncatePad(ids: readonly number[], numSteps: number, pad: number, side: 'right' | 'left' = 'right'): number[] {
  if (ids.length >= numSteps) return ids.slice(0, numSteps);
  const padding = new Array<number>(numSteps - ids.length).fill(pad);
  return side === 'right' ? [...ids, ...padding] : [...padding, ...ids];
}

export interface PaddedArray {
  /** Row-major (rows, numSteps). */
  array: Int32Array;
  /** Tokens per row that are not padding (counting `<eos>`). */
  validLen: Int32Array;
  rows: number;
  numSteps: number;
}

/**
 * d2l `build_array_nmt`: appends `<eos>` (when given) to every sequence, then truncates or pads
 * each to `numSteps`, and counts the valid tokens.
 */
export function buildArrayNmt(
  lines: readonly (readonly number[])[],
  numSteps: number,
  options: { pad: number; eos?: number; side?: 'right' | 'left' },
): PaddedArray {
  checkPositiveInts({ numSteps });
  const array = new Int32Array(lines.length * numSteps);
  const validLen = new Int32Array(lines.length);
  lines.forEach((line, i) => {
    const ids = options.eos === undefined ? [...line] : [...line, options.eos];
    const row = truncatePad(ids, numSteps, options.pad, options.side);
    array.set(row, i * numSteps);
    validLen[i] = row.filter((id) => id !== options.pad).length;
  });
  return { array, validLen, rows: lines.length, numSteps };
}
