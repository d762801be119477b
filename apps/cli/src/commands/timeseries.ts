import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  StandardScaler,
  noisySine,
  parseCsvColumn,
  readTextAndIdentity,
  timeSeriesData,
  writeFileAtomic,
  type FileIdentity,
  type StandardScalerJSON,
} from '@rnnkit/data';
import { TimeSeriesRegressor } from '@rnnkit/models';
import {
  evaluateForecasts,
  fitLinearAR,
  forecastAhead,
  lastValuePredictor,
  timeSeriesRegressorKind,
  trainRegressor,
  type ForecastReport,
  type TimeSeriesRegressorConfig,
  type WindowPredictor,
} from '@rnnkit/training';
import { loadKindCheckpoint, saveKindCheckpoint, takeRunFolder } from '../checkpoint.js';
import { selectBackend, type BackendChoice } from '../backend.js';
import { divergenceCheck, meanSquare, trainingFailure } from '../divergence.js';
import { RnnkitError } from '../errors.js';
import { checkWeightsFit } from '../memory.js';
import { renderSvg, seriesSpec } from '../plot.js';
import { createReporter, versions, writeLine, kernelsInfo, kernelsSummary } from '../progress.js';
import { displayPath } from '../invocation.js';
import { type DataFileRecord, dataFileRecord, recordedDataFile } from '../data-file.js';

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
  /** A CSV file whose column of numbers is the series (instead of d2l's noisy sine). */
  csv?: string;
  /** The CSV column: a header name or a 1-based number. Default the last column of numbers only. */
  column?: string;
  /** With --csv: steps forecast past the end of the data. */
  horizon?: number;
  /** With --csv: the share of the windows, the last ones, held out for validation. */
  valFraction?: number;
  /** Forecast with this trained model (a --csv run's checkpoint) instead of training. */
  checkpoint?: string;
}

export interface TimeseriesResult {
  mse: ForecastReport['mse'];
  losses: number[];
  /** With --csv: the forecasts past the end of the data, per predictor. */
  forecast?: Record<string, number[]>;
  files: { metrics: string; plot: string; forecast?: string; checkpoint?: string };
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
  if (opts.checkpoint !== undefined) return forecastWithCheckpoint({ ...opts, checkpoint: opts.checkpoint }, backend, reporter);
  if (opts.csv !== undefined) return runCsvTimeseries({ ...opts, csv: opts.csv }, backend, reporter);
  // One writer per run folder: a second run there is refused, naming the first.
  const lock = await takeRunFolder(opts.out);
  try {
    return await runSineTimeseries(opts, backend, reporter);
  } finally {
    await lock.release();
  }
}

/** d2l's noisy sine: the GRU against the linear AR and the last value on the test windows. */
async function runSineTimeseries(opts: TimeseriesCommandOptions, backend: string, reporter: Reporter): Promise<TimeseriesResult> {
  const series = noisySine({ tau: opts.tau, seed: opts.seed });
  const { train } = series.split();
  checkWeightsFit(
    timeSeriesRegressorKind.weightCount({ inputSize: 1, numHiddens: opts.hidden, cell: 'gru', seed: opts.seed }),
    backend,
    `--hidden ${opts.hidden}`,
  );
  const model = new TimeSeriesRegressor({ numHiddens: opts.hidden, cell: 'gru', seed: opts.seed });
  const diverged = divergenceCheck(meanSquare(train.labels), 'training MSE');
  reporter.info(
    `GRU ${opts.hidden} on the noisy sine (tau ${opts.tau}, ${train.size} training windows), Adam lr ${opts.lr}, batch ${opts.batchSize}, ${opts.epochs} epochs`,
  );
  let losses: number[];
  try {
    losses = trainRegressor(model, train, opts.tau, {
      epochs: opts.epochs,
      lr: opts.lr,
      batchSize: opts.batchSize,
      seed: opts.seed,
      onEpochEnd: ({ epoch, loss }) => {
        diverged(epoch, loss);
        reporter.info(`epoch ${epoch}, loss ${loss.toFixed(4)}`);
        reporter.event('epoch', { epoch, loss });
      },
    });
  } catch (err) {
    model.dispose();
    const metrics = join(opts.out, 'metrics.json');
    throw await trainingFailure(err, {
      what: 'training MSE',
      lr: opts.lr,
      kept: `no forecasts were made (${metrics} records where it diverged).`,
      metrics: { file: metrics, record: { backend, options: opts } },
    });
  }
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
  reporter.info(`files: ${displayPath(metrics)}, ${displayPath(plot)}`);
  reporter.event('done', { mse: report.mse, files: { metrics, plot } });
  return { mse: report.mse, losses, files: { metrics, plot } };
}

/** Reads the series of `--csv` (and `--column`), with errors that name the file. */
export async function readCsvSeries(file: string, column?: string): Promise<{ name: string; values: Float64Array; columns: string[]; read: FileIdentity }> {
  const { text, fileIdentity: read } = await readTextAndIdentity(file, 'CSV', 'give --csv a CSV file with a column of numbers');
  try {
    return { ...parseCsvColumn(text, { file, ...(column !== undefined ? { column } : {}) }), read };
  } catch (err) {
    throw new RnnkitError((err as Error).message);
  }
}

const fmt = (v: number) => (Number.isFinite(v) ? (Math.abs(v) >= 1e5 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toFixed(4)) : '-');

/** The training record of a `timeseries --csv` checkpoint (`timeSeriesRegressorKind`). */
export interface RegressorTrainingRecord {
  tau: number;
  /** The training part's mean and std: the model reads and writes scaled values. */
  scaler: StandardScalerJSON;
  /** The CSV file (as given, its absolute path and SHA-256) and the column it was trained on. */
  data: DataFileRecord & { column: string };
  epochs: number;
}

type Reporter = ReturnType<typeof createReporter>;

/**
 * `rnnkit timeseries --csv FILE`: the same GRU against linear autoregression and the last value
 * on the user's own series: windows of --tau values, the last --val-fraction of the windows held
 * out, values standard-scaled with the training part's mean and std; validation MSE in the
 * data's units, --horizon steps forecast past the end (forecast.csv), a plot and a checkpoint.
 */
async function runCsvTimeseries(opts: TimeseriesCommandOptions & { csv: string }, backend: string, reporter: Reporter): Promise<TimeseriesResult> {
  const valFraction = opts.valFraction ?? 0.2;
  const column = await readCsvSeries(opts.csv, opts.column);
  const n = column.values.length;
  let data: ReturnType<typeof timeSeriesData>;
  try {
    data = timeSeriesData(column.values, { tau: opts.tau, valFraction });
  } catch (err) {
    throw new RnnkitError(`${opts.csv}: ${(err as Error).message.replace(/\btau\b/g, '--tau')}`);
  }
  const { series, scaler } = data;
  const { train, test } = series.split();
  const others = column.columns.filter((c) => c !== column.name);
  reporter.info(
    `${opts.csv}, column "${column.name}"${others.length && opts.column === undefined ? ` (the last column of numbers; others: ${others.map((c) => `"${c}"`).join(', ')}; choose with --column)` : ''}: ${n} values, ` +
      `${series.numWindows} windows of tau ${opts.tau}: ${train.size} train, ${test.size} validate (the last ${Math.round(valFraction * 100)}%); scaled by the training part's mean ${fmt(scaler.mean)} and std ${fmt(scaler.std)}`,
  );
  if (train.size < opts.tau + 1)
    reporter.note(
      `note: ${train.size} training window${train.size === 1 ? '' : 's'} for the linear autoregression's ${opts.tau + 1} coefficients (--tau ${opts.tau} and a bias): its least-squares fit is underdetermined, so its figures mean little (lower --tau or --val-fraction, or use a longer series).`,
      { json: false },
    );
  const config: TimeSeriesRegressorConfig = { inputSize: 1, numHiddens: opts.hidden, cell: 'gru', seed: opts.seed };
  const lock = await takeRunFolder(opts.out);
  const model = new TimeSeriesRegressor(config);
  try {
    reporter.info(`GRU ${opts.hidden}, Adam lr ${opts.lr}, batch ${opts.batchSize}, ${opts.epochs} epochs`);
    const unitsSq = scaler.std * scaler.std; // MSE on scaled values -> the data's units
    const validationLosses: number[] = [];
    const trainLosses: number[] = [];
    // An untrained model that predicts the (scaled) mean: the mean square of the scaled targets.
    const diverged = divergenceCheck(meanSquare(train.labels) * unitsSq, 'training MSE');
    let losses: number[];
    try {
      losses = trainRegressor(model, train, opts.tau, {
        epochs: opts.epochs,
        lr: opts.lr,
        batchSize: opts.batchSize,
        seed: opts.seed,
        validation: test,
        onEpochEnd: ({ epoch, loss, validationLoss }) => {
          diverged(epoch, loss * unitsSq);
          trainLosses.push(loss * unitsSq);
          validationLosses.push((validationLoss as number) * unitsSq);
          reporter.info(`epoch ${epoch}, loss ${fmt(loss * unitsSq)}, validation MSE ${fmt((validationLoss as number) * unitsSq)}`);
          reporter.event('epoch', { epoch, loss: loss * unitsSq, validationLoss: (validationLoss as number) * unitsSq });
        },
      });
    } catch (err) {
      // Nothing diverged is saved: metrics.json says where it went wrong.
      const metrics = join(opts.out, 'metrics.json');
      throw await trainingFailure(err, {
        what: 'training MSE',
        lr: opts.lr,
        kept: `no checkpoint or forecast was written (a checkpoint in ${join(opts.out, 'checkpoint')} from an earlier run is unchanged; ${metrics} records where it diverged).`,
        metrics: { file: metrics, record: { backend, options: opts, losses: trainLosses, validationLosses } },
        userError: true,
      });
    }
    losses = losses.map((l) => l * unitsSq);
    const gru: WindowPredictor = (w) => model.predictWindows(w, opts.tau);
    const linear = fitLinearAR(train, opts.tau);
    const predictors: Record<string, WindowPredictor> = { gru, linear, 'last value': lastValuePredictor(opts.tau) };
    const ks = HORIZONS.filter((k) => k <= test.size);
    const report = evaluateForecasts(series, predictors, ks);
    for (const byK of Object.values(report.mse)) for (const k of ks) byK[k] = (byK[k] as number) * unitsSq;
    reporter.info(`validation MSE (the data's units squared)   ${ks.map((k) => `${k}-step`.padStart(11)).join('')}`);
    for (const [name, byK] of Object.entries(report.mse)) reporter.info(`  ${name.padEnd(41)}${ks.map((k) => fmt(byK[k] as number).padStart(11)).join('')}`);

    await mkdir(opts.out, { recursive: true });
    const checkpoint = join(opts.out, 'checkpoint');
    const training: RegressorTrainingRecord = {
      tau: opts.tau,
      scaler: scaler.toJSON(),
      data: { ...dataFileRecord(opts.csv, column.read), column: column.name },
      epochs: opts.epochs,
    };
    await saveKindCheckpoint(checkpoint, timeSeriesRegressorKind, { model, config, training });
    const oneStep = report.predictions.gru?.[1];
    const validationPoints = oneStep ? { index: oneStep.index, values: scaler.inverse(oneStep.values) } : undefined;
    const written = await writeForecast(
      opts,
      reporter,
      { raw: data.raw, scaled: series.x, name: column.name, scaler, tau: opts.tau },
      { gru, linear },
      validationPoints,
    );
    const files = { ...written.files, checkpoint };
    const metrics = {
      backend,
      options: opts,
      data: { file: opts.csv, column: column.name, values: n, windows: series.numWindows, train: train.size, validation: test.size, scaler: scaler.toJSON() },
      losses,
      validationLosses,
      mse: report.mse,
      forecast: written.forecast,
    };
    await writeFileAtomic(files.metrics, `${JSON.stringify(metrics, null, 2)}\n`);
    reporter.info(`files: ${files.metrics}, ${files.forecast}, ${files.plot}, ${files.checkpoint}/`);
    reporter.event('done', { mse: report.mse, forecast: written.forecast, files });
    return { mse: report.mse, losses, forecast: written.forecast, files };
  } finally {
    model.dispose();
    await lock.release();
  }
}

/**
 * Forecasts --horizon steps past the end of the series with each predictor (from the last tau
 * values, validation part included), writes forecast.csv and forecast.svg.
 */
async function writeForecast(
  opts: TimeseriesCommandOptions & { csv: string },
  reporter: Reporter,
  s: { raw: Float32Array; scaled: Float32Array; name: string; scaler: StandardScaler; tau: number },
  predictors: Record<string, WindowPredictor>,
  validation?: { index: Int32Array; values: Float32Array },
): Promise<{ forecast: Record<string, number[]>; files: { metrics: string; plot: string; forecast: string } }> {
  const horizon = opts.horizon ?? 50;
  const n = s.raw.length;
  const forecast: Record<string, number[]> = {};
  for (const [name, predict] of Object.entries(predictors)) forecast[name] = Array.from(s.scaler.inverse(forecastAhead(predict, s.scaled, s.tau, horizon)));
  const preview = (v: number[]) => `${v.slice(0, 3).map(fmt).join(', ')}${horizon > 3 ? ', ...' : ''}`;
  reporter.info(
    `forecast of the next ${horizon} values (steps ${n + 1}-${n + horizon}): ${Object.entries(forecast)
      .map(([name, v]) => `${name === 'gru' ? 'GRU' : name} ${preview(v)}`)
      .join('; ')}`,
  );
  await mkdir(opts.out, { recursive: true });
  const files = { metrics: join(opts.out, 'metrics.json'), plot: join(opts.out, 'forecast.svg'), forecast: join(opts.out, 'forecast.csv') };
  const names = Object.keys(forecast);
  const rows = Array.from({ length: horizon }, (_, h) => [n + 1 + h, ...names.map((k) => +(forecast[k]![h] as number).toPrecision(7))].join(','));
  await writeFileAtomic(files.forecast, `step,${names.join(',')}\n${rows.join('\n')}\n`);
  const points: { x: number; y: number; series: string }[] = [];
  s.raw.forEach((y, i) => {
    points.push({ x: i + 1, y, series: `data (${s.name})` });
  });
  validation?.index.forEach((idx, i) => {
    points.push({ x: idx + 1, y: validation.values[i] as number, series: 'GRU 1-step (validation)' });
  });
  for (const name of names) {
    forecast[name]!.forEach((y, h) => {
      points.push({ x: n + 1 + h, y, series: name === 'gru' ? 'GRU forecast' : name === 'linear' ? 'linear AR forecast' : `${name} forecast` });
    });
  }
  const title = `${basename(opts.csv)}, "${s.name}": ${validation ? 'GRU 1-step forecasts (validation) and ' : ''}${horizon} steps past the end`;
  await writeFileAtomic(files.plot, await renderSvg(seriesSpec(points, title, 'step', s.name)));
  return { forecast, files };
}

/**
 * `rnnkit timeseries --checkpoint DIR`: forecasts --horizon steps past the end of a CSV series
 * (the one it was trained on unless --csv is given) with a trained GRU; no training.
 */
async function forecastWithCheckpoint(opts: TimeseriesCommandOptions & { checkpoint: string }, backend: string, reporter: Reporter): Promise<TimeseriesResult> {
  const loaded = await loadKindCheckpoint(opts.checkpoint, timeSeriesRegressorKind);
  const { model } = loaded;
  let lock: Awaited<ReturnType<typeof takeRunFolder>> | undefined;
  try {
    const meta = loaded.training as Partial<RegressorTrainingRecord> | undefined;
    let scaler: StandardScaler;
    try {
      if (!meta || !(Number.isInteger(meta.tau) && (meta.tau as number) >= 1) || typeof meta.data?.file !== 'string' || typeof meta.data.column !== 'string')
        throw new Error('no --tau, CSV file or column');
      if (loaded.config.inputSize !== 1) throw new Error(`${loaded.config.inputSize} input features, not 1`);
      scaler = StandardScaler.fromJSON(meta.scaler as StandardScalerJSON);
    } catch (err) {
      throw new RnnkitError(`${loaded.source} is not a checkpoint of rnnkit timeseries --csv (${(err as Error).message}).`);
    }
    const tau = meta.tau as number;
    const data = meta.data as RegressorTrainingRecord['data'];
    // Its own CSV where it was trained (by absolute path, from any folder), or --csv for newer data.
    const recorded = opts.csv === undefined ? await recordedDataFile(data, 'CSV') : undefined;
    const csv = opts.csv ?? (recorded as { file: string }).file;
    if (recorded?.changed) reporter.note(`note: ${recorded.changed}: forecasting from its last ${tau} values as they are now.`, { json: false });
    const column = await readCsvSeries(csv, opts.column ?? data.column);
    if (column.values.length < tau) throw new RnnkitError(`${csv} has ${column.values.length} values; this model reads the last ${tau} (its --tau).`);
    reporter.info(
      `forecasting with ${loaded.source} (GRU ${loaded.config.numHiddens}, tau ${tau}) from the last ${tau} of ${column.values.length} values of ${csv}, column "${column.name}"`,
    );
    lock = await takeRunFolder(opts.out);
    const raw = Float32Array.from(column.values);
    const written = await writeForecast(
      { ...opts, csv },
      reporter,
      { raw, scaled: scaler.transform(raw), name: column.name, scaler, tau },
      { gru: (w) => model.predictWindows(w, tau) },
    );
    const files = { ...written.files, metrics: join(opts.out, 'forecast.json') };
    await writeFileAtomic(
      files.metrics,
      `${JSON.stringify({ backend, checkpoint: loaded.source, csv, column: column.name, forecast: written.forecast }, null, 2)}\n`,
    );
    reporter.info(`files: ${files.forecast}, ${files.plot}, ${files.metrics}`);
    reporter.event('done', { mse: {}, forecast: written.forecast, files });
    return { mse: {}, losses: [], forecast: written.forecast, files };
  } finally {
    model.dispose();
    await lock?.release();
  }
}
