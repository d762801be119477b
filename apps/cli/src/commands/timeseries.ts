import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { noisySine, writeFileAtomic } from '@rnnkit/data';
import { TimeSeriesRegressor } from '@rnnkit/models';
import { evaluateForecasts, fitLinearAR, lastValuePredictor, trainRegressor, type ForecastReport } from '@rnnkit/training';
import { selectBackend, type BackendChoice } from '../backend.js';
import { renderSvg, seriesSpec } from '../plot.js';
import { createReporter, versions, writeLine, kernelsInfo, kernelsSummary } from '../progress.js';

export interface TimeseriesCommandOptions {
  epochs: number;
  lr: number;
  batchSize: number;
  hidden: number;
  tau: number;
  seed: number;
  out: string;
  backend: BackendChoice;
  json: boolean;
}

export interface TimeseriesResult {
  mse: ForecastReport['mse'];
  losses: number[];
  files: { metrics: string; plot: string };
}

export const HORIZONS = [1, 4, 16, 64] as const;

/**
 * `rnnkit timeseries`: a GRU forecaster (hidden 32, Adam lr 0.01, batch 16) on d2l's noisy sine (first 600 windows train),
 * against a least-squares linear autoregression and predicting the last value, on the same test
 * windows; k-step-ahead forecasts feed predictions back as inputs. Writes metrics and a plot.
 */
export async function runTimeseries(opts: TimeseriesCommandOptions, write: (line: string) => void = writeLine): Promise<TimeseriesResult> {
  const backend = await selectBackend(opts.backend);
  const reporter = createReporter(opts.json ? 'json' : 'lines', write);
  reporter.note(`backend: ${backend} (${kernelsSummary()})`, { json: false });
  reporter.event('start', { command: 'timeseries', backend, versions: versions(), kernels: kernelsInfo() });
  const series = noisySine({ tau: opts.tau, seed: opts.seed });
  const { train } = series.split();
  const model = new TimeSeriesRegressor({ numHiddens: opts.hidden, cell: 'gru', seed: opts.seed });
  reporter.info(
    `GRU ${opts.hidden} on the noisy sine (tau ${opts.tau}, ${train.size} training windows), Adam lr ${opts.lr}, batch ${opts.batchSize}, ${opts.epochs} epochs`,
  );
  const losses = trainRegressor(model, train, opts.tau, {
    epochs: opts.epochs,
    lr: opts.lr,
    batchSize: opts.batchSize,
    seed: opts.seed,
    onEpochEnd: ({ epoch, loss }) => {
      reporter.info(`epoch ${epoch}, loss ${loss.toFixed(4)}`);
      reporter.event('epoch', { epoch, loss });
    },
  });
  const report = evaluateForecasts(
    series,
    {
      gru: (w) => model.predictWindows(w, opts.tau),
      linear: fitLinearAR(train, opts.tau),
      'last value': lastValuePredictor(opts.tau),
    },
    HORIZONS,
  );
  reporter.info(`test MSE (noise floor 0.04)   ${HORIZONS.map((k) => `${k}-step`.padStart(9)).join('')}`);
  for (const [name, byK] of Object.entries(report.mse))
    reporter.info(`  ${name.padEnd(28)}${HORIZONS.map((k) => (byK[k] as number).toFixed(4).padStart(9)).join('')}`);

  await mkdir(opts.out, { recursive: true });
  const points: { x: number; y: number; series: string }[] = [];
  series.x.forEach((y, i) => {
    points.push({ x: series.time[i] as number, y, series: 'data' });
  });
  for (const k of HORIZONS) {
    const p = report.predictions.gru?.[k];
    if (!p) continue;
    p.index.forEach((idx, i) => {
      points.push({ x: series.time[idx] as number, y: p.values[i] as number, series: `GRU ${k}-step` });
    });
  }
  const plot = join(opts.out, 'forecast.svg');
  const metrics = join(opts.out, 'metrics.json');
  await writeFileAtomic(plot, await renderSvg(seriesSpec(points, 'Noisy sine: GRU 1-, 4-, 16- and 64-step-ahead forecasts (test windows)')));
  await writeFileAtomic(metrics, `${JSON.stringify({ backend, options: opts, losses, mse: report.mse }, null, 2)}\n`);
  model.dispose();
  reporter.info(`files: ${metrics}, ${plot}`);
  reporter.event('done', { mse: report.mse, files: { metrics, plot } });
  return { mse: report.mse, losses, files: { metrics, plot } };
}
