import { describe, expect, it } from 'vitest';
import { createRng, noisySine } from '@rnnkit/data';
import { evaluateForecasts, fitLinearAR, kStepAhead, lastValuePredictor, meanSquaredError } from './forecast.js';

describe('forecasting helpers', () => {
  it('fitLinearAR recovers the coefficients of a noiseless autoregression', () => {
    const tau = 3;
    const rng = createRng(1);
    const n = 200;
    const features = new Float32Array(n * tau);
    const labels = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const row = [rng.normal(), rng.normal(), rng.normal()];
      features.set(row, i * tau);
      labels[i] = 0.5 * row[0]! - 0.25 * row[1]! + 2 * row[2]! + 0.1;
    }
    const ar = fitLinearAR({ features, labels, size: n }, tau);
    expect(Array.from(ar.weights).map((w) => +w.toFixed(4))).toEqual([0.5, -0.25, 2]);
    expect(ar.bias).toBeCloseTo(0.1, 4);
    expect(meanSquaredError(ar(features), labels)).toBeLessThan(1e-10);
  });

  it('kStepAhead feeds predictions back: a counting predictor reaches start + tau + k - 1', () => {
    const x = Float32Array.from({ length: 30 }, (_, i) => i);
    const next = (w: Float32Array) => Float32Array.from({ length: w.length / 2 }, (_, i) => (w[i * 2 + 1] as number) + 1);
    expect(Array.from(kStepAhead(next, x, 2, 5, [0, 10]))).toEqual([6, 16]);
    // With a predictor that is off by one, errors compound step by step.
    const off = (w: Float32Array) => Float32Array.from(next(w), (v) => v + 1);
    expect(Array.from(kStepAhead(off, x, 2, 3, [0]))).toEqual([2 + 3 + 3 - 1]);
  });

  it('evaluateForecasts scores every predictor on the same test windows', () => {
    const series = noisySine({ seed: 0 });
    const report = evaluateForecasts(series, { last: lastValuePredictor(series.tau) }, [1, 4]);
    const { test } = series.split();
    const expected = meanSquaredError(lastValuePredictor(series.tau)(test.features), test.labels);
    expect(report.mse.last![1]).toBeCloseTo(expected, 10);
    expect(report.predictions.last![4]!.index[0]).toBe(series.numTrain + series.tau + 3);
    expect(report.predictions.last![4]!.values.length).toBe(series.numWindows - 3 - series.numTrain);
  });
});
