// Any series of numbers as d2l 8.1's windows: `tau` past values -> the next one, split in time
// into training and validation windows, with standard scaling fitted on the training part only.

/** Rows of windows and the value after each. */
export interface WindowSet {
  /** Row-major (size, tau). */
  features: Float32Array;
  labels: Float32Array;
  size: number;
}

/**
 * A series and its sliding windows (d2l 8.1): row i of `features` is x[i..i+tau-1], `labels[i]`
 * is x[i+tau]. Windows [0, numTrain) train; the rest, whose labels all come later in time, test.
 */
export interface WindowedSeries {
  x: Float32Array;
  tau: number;
  /** Row-major (numWindows, tau). */
  features: Float32Array;
  labels: Float32Array;
  /** x.length - tau. */
  numWindows: number;
  numTrain: number;
  /** Windows [0, numTrain) for training, the rest for testing (validation). */
  split(): { train: WindowSet; test: WindowSet };
}

export interface WindowSeriesOptions {
  /** Window length (values per input). */
  tau: number;
  /** Training windows; the rest test. Default: all but the last `valFraction` of the windows. */
  numTrain?: number;
  /** Share of the windows, the last ones, held out when `numTrain` is not given. Default 0.2. */
  valFraction?: number;
}

/**
 * d2l 8.1's features and labels for any series: windows of `tau` values -> the next value, the
 * first windows for training and the last ones (the end of the series) for validation.
 */
export function windowSeries(values: ArrayLike<number>, options: WindowSeriesOptions): WindowedSeries {
  const x = Float32Array.from(values);
  const T = x.length;
  const { tau } = options;
  if (!Number.isInteger(tau) || tau < 1) throw new RangeError(`tau must be a whole number >= 1, got ${tau}.`);
  for (let i = 0; i < T; i++) {
    if (!Number.isFinite(x[i] as number)) throw new RangeError(`The series has a value that is not a finite number (${values[i]}) at index ${i}.`);
  }
  const numWindows = T - tau;
  if (numWindows < 2)
    throw new RangeError(
      `A series of ${T} values makes ${Math.max(numWindows, 0)} windows of tau = ${tau}; at least 2 are needed (one to train, one to test): use a smaller tau or a longer series.`,
    );
  let numTrain = options.numTrain;
  if (numTrain === undefined) {
    const f = options.valFraction ?? 0.2;
    if (!(f > 0 && f < 1)) throw new RangeError(`valFraction must be in (0, 1), got ${f}.`);
    numTrain = Math.min(numWindows - 1, Math.max(1, numWindows - Math.round(f * numWindows)));
  }
  if (!Number.isInteger(numTrain) || numTrain < 1 || numTrain >= numWindows) {
    throw new RangeError(`numTrain must be a whole number in [1, ${numWindows}) for ${numWindows} windows, got ${numTrain}.`);
  }
  const features = new Float32Array(numWindows * tau);
  const labels = new Float32Array(numWindows);
  for (let i = 0; i < numWindows; i++) {
    features.set(x.subarray(i, i + tau), i * tau);
    labels[i] = x[i + tau] as number;
  }
  const take = (from: number, to: number): WindowSet => ({
    features: features.slice(from * tau, to * tau),
    labels: labels.slice(from, to),
    size: to - from,
  });
  const train = numTrain;
  return { x, tau, features, labels, numWindows, numTrain, split: () => ({ train: take(0, train), test: take(train, numWindows) }) };
}

/** The JSON form of a {@link StandardScaler} (what a checkpoint stores). */
export interface StandardScalerJSON {
  mean: number;
  std: number;
}

/**
 * Standard scaling, (x - mean) / std, fitted on training values only so that nothing of the
 * validation part leaks into training. A constant series keeps std 1.
 */
export class StandardScaler {
  private constructor(
    readonly mean: number,
    readonly std: number,
  ) {}

  /** Mean and (population) standard deviation of `values`. */
  static fit(values: ArrayLike<number>): StandardScaler {
    const n = values.length;
    if (n === 0) throw new RangeError('StandardScaler.fit needs at least one value.');
    let sum = 0;
    for (let i = 0; i < n; i++) sum += values[i] as number;
    const mean = sum / n;
    let sq = 0;
    for (let i = 0; i < n; i++) sq += ((values[i] as number) - mean) ** 2;
    const std = Math.sqrt(sq / n);
    if (!Number.isFinite(mean) || !Number.isFinite(std)) throw new RangeError('StandardScaler.fit: the values are not all finite numbers.');
    return new StandardScaler(mean, std > 0 ? std : 1);
  }

  static fromJSON(json: StandardScalerJSON): StandardScaler {
    const { mean, std } = (json ?? {}) as Partial<StandardScalerJSON>;
    if (typeof mean !== 'number' || !Number.isFinite(mean) || typeof std !== 'number' || !(std > 0) || !Number.isFinite(std)) {
      throw new RangeError(`A scaler needs a finite mean and a std > 0, got ${JSON.stringify(json)}.`);
    }
    return new StandardScaler(mean, std);
  }

  transform(values: ArrayLike<number>): Float32Array {
    return Float32Array.from(values, (v) => (v - this.mean) / this.std);
  }

  inverse(values: ArrayLike<number>): Float32Array {
    return Float32Array.from(values, (v) => v * this.std + this.mean);
  }

  toJSON(): StandardScalerJSON {
    return { mean: this.mean, std: this.std };
  }
}

export interface TimeSeriesData {
  /** The values as given. */
  raw: Float32Array;
  /** Fitted on the values that training windows see (x[0 .. numTrain + tau)). */
  scaler: StandardScaler;
  /** Windows of the scaled values. */
  series: WindowedSeries;
}

/**
 * A series ready for a forecaster: windows of `tau` values, the last `valFraction` of the windows
 * held out for validation, and the values standard-scaled with the training part's mean and std.
 */
export function timeSeriesData(values: ArrayLike<number>, options: WindowSeriesOptions & { scale?: boolean }): TimeSeriesData {
  const raw = Float32Array.from(values);
  // Split first (on the raw values) to know which values the training windows see.
  const { numTrain, tau } = windowSeries(raw, options);
  const scaler = options.scale === false ? StandardScaler.fromJSON({ mean: 0, std: 1 }) : StandardScaler.fit(raw.subarray(0, numTrain + tau));
  return { raw, scaler, series: windowSeries(scaler.transform(raw), { tau, numTrain }) };
}
