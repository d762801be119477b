import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { noisySine } from '@rnnkit/data';
import { TimeSeriesRegressor } from '@rnnkit/models';
import { useBackend } from '../../../test/backends.js';
import { evaluateForecasts, fitLinearAR, lastValuePredictor, TrainingDivergedError, trainRegressor } from './index.js';

describe("GRU time-series regressor (the forecaster from the hello -> ohlol toy's PyTorch code: hidden 32, Adam lr 0.01, batch 16, 10 epochs)", () => {
  beforeAll(() => useBackend('wasm'));

  it('reaches a 1-step test MSE below 0.065 and beats predicting the last value, without leaking', () => {
    const series = noisySine({ seed: 0 });
    const { train } = series.split();
    const model = new TimeSeriesRegressor({ numHiddens: 32, seed: 0 });
    const before = tf.memory().numTensors;
    const losses = trainRegressor(model, train, series.tau, { epochs: 10, seed: 0 });
    expect(tf.memory().numTensors).toBe(before);
    expect(losses.at(-1)).toBeLessThan(losses[0]!);
    const report = evaluateForecasts(series, {
      gru: (w) => model.predictWindows(w, series.tau),
      linear: fitLinearAR(train, series.tau),
      last: lastValuePredictor(series.tau),
    });
    expect(tf.memory().numTensors).toBe(before);
    const { gru, linear, last } = report.mse as Record<string, Record<number, number>>;
    expect(gru![1]).toBeLessThan(0.065);
    expect(gru![1]).toBeGreaterThan(0.03); // the noise floor is 0.04: lower would mean a leak of test labels
    expect(gru![1]).toBeLessThan(last![1]!);
    expect(linear![1]).toBeLessThan(0.065);
    // Feeding predictions back makes longer horizons worse.
    expect(gru![64]).toBeGreaterThan(gru![1]!);
    model.dispose();
  });

  it('stops with a TrainingDivergedError naming the epoch and the loss once the loss is not finite', () => {
    const series = noisySine({ seed: 0 });
    const model = new TimeSeriesRegressor({ numHiddens: 4, seed: 0 });
    const before = tf.memory().numTensors;
    let err: unknown;
    try {
      trainRegressor(model, series.split().train, series.tau, { epochs: 3, lr: 1e30, seed: 0 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TrainingDivergedError);
    const { epoch, loss } = err as TrainingDivergedError;
    expect(Number.isFinite(loss)).toBe(false);
    expect((err as Error).message).toBe(`The loss became ${loss} in epoch ${epoch}: training diverged; lower the learning rate.`);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('checks its inputs', () => {
    const model = new TimeSeriesRegressor({ numHiddens: 4 });
    expect(() => model.call(tf.zeros([4, 2, 3]) as tf.Tensor3D)).toThrow(/takes 1 input features, got 3/);
    expect(() => model.predictWindows(new Float32Array(5), 4)).toThrow(/multiple of tau/);
    expect(() => new TimeSeriesRegressor({ numHiddens: 0 })).toThrow(/numHiddens/);
    model.dispose();
  });
});
