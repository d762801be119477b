import { createRng } from './rng.js';
import { windowSeries, type WindowedSeries } from './series.js';

/** The hello -> ohlol toy: learn to map "hello" to "ohlol" over the dictionary e, h, l, o. */
export interface HelloToy {
  idxToChar: readonly string[];
  /** Input ids of "hello". */
  input: Int32Array;
  /** Target ids of "ohlol". */
  target: Int32Array;
  decode(ids: Iterable<number>): string;
}

export function helloToy(): HelloToy {
  const idxToChar = ['e', 'h', 'l', 'o'] as const;
  const encode = (s: string): Int32Array => Int32Array.from(s, (c) => idxToChar.indexOf(c as (typeof idxToChar)[number]));
  return {
    idxToChar,
    input: encode('hello'),
    target: encode('ohlol'),
    decode: (ids) => Array.from(ids, (i) => idxToChar[i] ?? '?').join(''),
  };
}

/** A noisy sine series and its sliding windows, split into train and test (d2l 8.1). */
export interface SineSeries extends WindowedSeries {
  /** t = 1..T. */
  time: Float32Array;
  /** x_t = sin(0.01 t) + N(0, noiseStd^2). */
  x: Float32Array;
}

export interface SineSeriesOptions {
  /** Length T. Default 1000. */
  length?: number;
  /** Window length. Default 4. */
  tau?: number;
  /** Noise standard deviation. Default 0.2 (variance 0.04). */
  noiseStd?: number;
  /** Training windows. Default 600. */
  numTrain?: number;
  seed?: number | string;
}

/** d2l's time-series data: x_t = sin(0.01 t) + N(0, 0.2^2), t = 1..1000, windows of tau -> next value. */
export function noisySine(options: SineSeriesOptions = {}): SineSeries {
  const T = options.length ?? 1000;
  const tau = options.tau ?? 4;
  const noiseStd = options.noiseStd ?? 0.2;
  const numTrain = options.numTrain ?? 600;
  if (!Number.isInteger(tau) || tau < 1 || tau >= T) throw new RangeError(`tau must be a whole number in [1, length), got ${tau}.`);
  const numWindows = T - tau;
  if (!Number.isInteger(numTrain) || numTrain < 1 || numTrain >= numWindows) {
    throw new RangeError(`numTrain must be in [1, ${numWindows}) for ${numWindows} windows, got ${numTrain}.`);
  }
  const rng = createRng(options.seed ?? 0);
  const time = new Float32Array(T);
  const x = new Float32Array(T);
  for (let i = 0; i < T; i++) {
    time[i] = i + 1;
    x[i] = Math.sin(0.01 * (i + 1)) + rng.normal(0, noiseStd);
  }
  return { ...windowSeries(x, { tau, numTrain }), time, x };
}
