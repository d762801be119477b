import { InvalidArgumentError, Option } from 'commander';

// Numeric flags: every one has a range, stated in --help and checked before any work, so that a
// typo (--layers 1000000000000, --beam 1e12, --dropout '') is refused at once with the flag and its
// range instead of failing deep inside TensorFlow.js or running for hours. New commands take their
// numeric flags from here (see CONTRIBUTING.md, "Command-line flags").

const fmt = (n: number) => (Number.isInteger(n) ? n.toLocaleString('en-US') : String(n));

/** Parses a whole number in [min, max]; the error (commander prefixes the flag) names the range. */
export function wholeNumberIn(min: number, max: number): (value: string) => number {
  return (value: string): number => {
    const range = `a whole number from ${fmt(min)} to ${fmt(max)}`;
    if (value.trim() === '') throw new InvalidArgumentError(`must be ${range}, not empty.`);
    const n = Number(value);
    if (!/^\s*[+-]?\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`must be ${range}.`);
    return n;
  };
}

/** Parses a number in a range: [min, max], or (min, max] with `aboveMin`, or [min, max) with `belowMax`. */
export function numberIn(min: number, max: number, { aboveMin = false, belowMax = false } = {}): (value: string) => number {
  return (value: string): number => {
    const range =
      aboveMin && belowMax
        ? `a number between ${fmt(min)} and ${fmt(max)} (both excluded)`
        : `a number ${aboveMin ? '>' : '>='} ${fmt(min)} and ${belowMax ? '<' : '<='} ${fmt(max)}`;
    if (value.trim() === '') throw new InvalidArgumentError(`must be ${range}, not empty.`);
    const x = Number(value);
    const ok = Number.isFinite(x) && (aboveMin ? x > min : x >= min) && (belowMax ? x < max : x <= max);
    if (!ok) throw new InvalidArgumentError(`must be ${range}.`);
    return x;
  };
}

/** The range as --help shows it: `1-64`, `0-1,000,000`, `(0, 1,000]`, `[0, 1)`. */
function rangeText(min: number, max: number, whole: boolean, aboveMin = false, belowMax = false): string {
  if (whole) return `${fmt(min)}-${fmt(max)}`;
  return `${aboveMin ? '(' : '['}${fmt(min)}, ${fmt(max)}${belowMax ? ')' : ']'}`;
}

/** A whole-number option in [min, max], its range in --help: `intOption('--layers <n>', 'stacked layers', 1, 64, 1)`. */
export function intOption(flags: string, description: string, min: number, max: number, defaultValue?: number): Option {
  const option = new Option(flags, `${description} (${rangeText(min, max, true)})`).argParser(wholeNumberIn(min, max));
  return defaultValue === undefined ? option : option.default(defaultValue);
}

/** A number option in a range, its range in --help: `numberOption('--lr <x>', 'learning rate', 0, 1000, 1, { aboveMin: true })`. */
export function numberOption(
  flags: string,
  description: string,
  min: number,
  max: number,
  defaultValue?: number,
  bounds: { aboveMin?: boolean; belowMax?: boolean } = {},
): Option {
  const option = new Option(flags, `${description} (${rangeText(min, max, false, bounds.aboveMin, bounds.belowMax)})`).argParser(numberIn(min, max, bounds));
  return defaultValue === undefined ? option : option.default(defaultValue);
}

/** The ranges every command shares (the same flag has the same range everywhere). */
export const RANGES = {
  /** Epochs of a run: at least 1 (0 would save an untrained model as trained). */
  epochs: [1, 1_000_000],
  /** Learning rates: above 0; beyond 1000 every model here diverges. */
  lr: [0, 1000],
  batchSize: [1, 65_536],
  numSteps: [1, 100_000],
  hidden: [1, 65_536],
  embed: [1, 65_536],
  layers: [1, 64],
  /** Seeds: what a 32-bit generator seed holds. */
  seed: [0, 2 ** 32 - 1],
  /** Extra worker threads. */
  workers: [0, 64],
  /** Threads of rnnkit's kernels. */
  threads: [1, 256],
  /** Characters generated, one model step each. */
  length: [1, 100_000],
} as const satisfies Record<string, readonly [number, number]>;
