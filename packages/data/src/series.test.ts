import { describe, expect, it } from 'vitest';
import { noisySine } from './datasets.js';
import { StandardScaler, timeSeriesData, windowSeries } from './series.js';

describe('windowSeries', () => {
  it("makes d2l 8.1's windows of any series and splits them in time", () => {
    const s = windowSeries([1, 2, 3, 4, 5, 6, 7], { tau: 3, numTrain: 2 });
    expect(s.numWindows).toBe(4);
    expect(Array.from(s.features)).toEqual([1, 2, 3, 2, 3, 4, 3, 4, 5, 4, 5, 6]);
    expect(Array.from(s.labels)).toEqual([4, 5, 6, 7]);
    const { train, test } = s.split();
    expect(train.size).toBe(2);
    expect(Array.from(train.labels)).toEqual([4, 5]);
    expect(Array.from(test.features)).toEqual([3, 4, 5, 4, 5, 6]);
    expect(Array.from(test.labels)).toEqual([6, 7]);
  });

  it('holds out the last valFraction of the windows (default 0.2)', () => {
    const values = Array.from({ length: 104 }, (_, i) => i);
    expect(windowSeries(values, { tau: 4 }).numTrain).toBe(80);
    expect(windowSeries(values, { tau: 4, valFraction: 0.5 }).numTrain).toBe(50);
    // Never zero windows on either side.
    expect(windowSeries([1, 2, 3], { tau: 1, valFraction: 0.9 }).numTrain).toBe(1);
    expect(windowSeries([1, 2, 3], { tau: 1, valFraction: 0.01 }).numTrain).toBe(1);
  });

  it('gives noisySine the same windows as before', () => {
    const s = noisySine({ seed: 3, tau: 4 });
    expect(s.numWindows).toBe(996);
    expect(s.numTrain).toBe(600);
    expect(Array.from(s.features.subarray(4, 8))).toEqual(Array.from(s.x.subarray(1, 5)));
    expect(s.labels[10]).toBe(s.x[14]);
    expect(s.split().train.size).toBe(600);
  });

  it('refuses series too short for the window, non-finite values and bad fractions, saying what to change', () => {
    expect(() => windowSeries([1, 2, 3], { tau: 2 })).toThrow(/3 values makes 1 windows of tau = 2; at least 2 .* smaller tau or a longer series/);
    expect(() => windowSeries([1, Number.NaN, 3, 4], { tau: 1 })).toThrow(/not a finite number \(NaN\) at index 1/);
    expect(() => windowSeries([1, 2, 3, 4], { tau: 0 })).toThrow(/tau must be a whole number >= 1/);
    expect(() => windowSeries([1, 2, 3, 4], { tau: 1, valFraction: 1 })).toThrow(/valFraction must be in \(0, 1\)/);
    expect(() => windowSeries([1, 2, 3, 4], { tau: 1, numTrain: 3 })).toThrow(/numTrain must be a whole number in \[1, 3\)/);
  });
});

describe('StandardScaler and timeSeriesData', () => {
  it('scales and unscales, and keeps std 1 for a constant series', () => {
    const s = StandardScaler.fit([2, 4, 4, 4, 5, 5, 7, 9]);
    expect(s.mean).toBe(5);
    expect(s.std).toBe(2);
    expect(Array.from(s.transform([5, 7]))).toEqual([0, 1]);
    expect(Array.from(s.inverse(s.transform([3, 11])))).toEqual([3, 11]);
    expect(StandardScaler.fit([3, 3, 3]).std).toBe(1);
    expect(StandardScaler.fromJSON(s.toJSON())).toEqual(s);
    expect(() => StandardScaler.fromJSON({ mean: 0, std: 0 })).toThrow(/std > 0/);
    expect(() => StandardScaler.fit([])).toThrow(/at least one value/);
  });

  it('fits the scaler on the values the training windows see, never on the validation part', () => {
    // Training windows see x[0 .. numTrain + tau): here the first 10 values (0..9); the tail is huge.
    const values = [...Array.from({ length: 10 }, (_, i) => i), 1000, 2000];
    const d = timeSeriesData(values, { tau: 2, numTrain: 8 });
    expect(d.scaler.mean).toBeCloseTo(4.5, 6);
    expect(d.series.numTrain).toBe(8);
    expect(d.series.x[0]).toBeCloseTo((0 - 4.5) / d.scaler.std, 6);
    expect(Array.from(d.raw)).toEqual(values);
    // Every training label comes from the fitted part; every validation label comes after it.
    const { train, test } = d.series.split();
    expect(Math.max(...d.scaler.inverse(train.labels))).toBeCloseTo(9, 4);
    expect(Math.min(...d.scaler.inverse(test.labels))).toBeCloseTo(1000, 2);
    expect(timeSeriesData(values, { tau: 2, numTrain: 8, scale: false }).series.x[11]).toBe(2000);
  });
});
