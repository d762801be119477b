import { describe, expect, it } from 'vitest';
import { createRng, noisySine, timeSeriesData, windowSeries } from '@rnnkit/data';
import { evaluateForecasts, fitLinearAR, forecastAhead, kStepAhead, lastValuePredictor, meanSquaredError } from './forecast.js';

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

  it('evaluateForecasts takes any windowed series; a k longer than the test part has no score', () => {
    const series = windowSeries(
      Array.from({ length: 40 }, (_, i) => i * 2),
      { tau: 3, valFraction: 0.25 },
    );
    const next = (w: Float32Array) => Float32Array.from({ length: w.length / 3 }, (_, i) => (w[i * 3 + 2] as number) + 2);
    const report = evaluateForecasts(series, { next }, [1, 5, 100]);
    expect(report.mse.next![1]).toBe(0);
    expect(report.mse.next![5]).toBe(0);
    expect(report.mse.next![100]).toBeNaN();
    expect(report.predictions.next![1]!.index[0]).toBe(series.numTrain + 3);
  });

  it('forecastAhead continues past the end of the data, feeding each prediction back', () => {
    const x = [1, 2, 3, 5, 8];
    const fib = (w: Float32Array) => Float32Array.of((w[0] as number) + (w[1] as number));
    expect(Array.from(forecastAhead(fib, x, 2, 4))).toEqual([13, 21, 34, 55]);
    expect(() => forecastAhead(fib, x, 2, 0)).toThrow(/horizon must be a whole number >= 1/);
    expect(() => forecastAhead(fib, [1], 2, 1)).toThrow(/needs the last tau = 2 values/);
  });

  it('a linear autoregression on a scaled seasonal series forecasts it back in its own units', () => {
    const values = Array.from({ length: 400 }, (_, t) => 100 + 20 * Math.sin((2 * Math.PI * t) / 25));
    const { series, scaler, raw } = timeSeriesData(values, { tau: 30 });
    const ar = fitLinearAR(series.split().train, 30);
    const ahead = scaler.inverse(forecastAhead(ar, series.x, 30, 25));
    ahead.forEach((v, h) => {
      expect(v).toBeCloseTo(100 + 20 * Math.sin((2 * Math.PI * (400 + h)) / 25), 1);
    });
    expect(raw.length).toBe(400);
  });
});
