import type { TopLevelSpec } from 'vega-lite';

// The charts' Vega-Lite specs, apart from the renderer so browsers import them without vega's
// runtime (`@rnnkit/cli/plot`): the web page draws the same chart as `rnnkit train`.

/** The schema of the Vega-Lite the packages depend on (6.x): vega-embed warns about specs of another major version. */
export const VEGA_LITE_SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/**
 * d2l's Animator picture: perplexity against epoch; with validation perplexities, a line for
 * each (train, validation), as d2l's Animator draws its legend.
 */
export function perplexitySpec(history: readonly { epoch: number; perplexity: number; validationPerplexity?: number }[], title: string): TopLevelSpec {
  const withValidation = history.some((h) => h.validationPerplexity !== undefined);
  const values = history.flatMap((h) => [
    { epoch: h.epoch, perplexity: h.perplexity, set: 'train' },
    ...(h.validationPerplexity === undefined ? [] : [{ epoch: h.epoch, perplexity: h.validationPerplexity, set: 'validation' }]),
  ]);
  return {
    $schema: VEGA_LITE_SCHEMA,
    title,
    width: 480,
    height: 300,
    data: { values },
    mark: { type: 'line', point: history.length <= 30 },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch' },
      y: { field: 'perplexity', type: 'quantitative', title: 'perplexity', scale: { zero: false } },
      ...(withValidation ? { color: { field: 'set', type: 'nominal', title: null, sort: ['train', 'validation'] } } : {}),
    },
  };
}

/** A training loss against epoch. */
export function lossSpec(history: readonly { epoch: number; loss: number }[], title: string): TopLevelSpec {
  return {
    $schema: VEGA_LITE_SCHEMA,
    title,
    width: 480,
    height: 300,
    data: { values: history.map((h) => ({ epoch: h.epoch, loss: h.loss })) },
    mark: { type: 'line', point: history.length <= 30 },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch' },
      y: { field: 'loss', type: 'quantitative', title: 'loss', scale: { zero: false } },
    },
  };
}

/** Lines of (x, y) per series name, as d2l's time-series plots. */
export function seriesSpec(points: readonly { x: number; y: number; series: string }[], title: string, xTitle = 'time', yTitle = 'x'): TopLevelSpec {
  return {
    $schema: VEGA_LITE_SCHEMA,
    title,
    width: 640,
    height: 320,
    data: { values: points as { x: number; y: number; series: string }[] },
    mark: { type: 'line', strokeWidth: 1.2 },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: xTitle },
      y: { field: 'y', type: 'quantitative', title: yTitle, scale: { zero: false } },
      color: { field: 'series', type: 'nominal', title: null, legend: { labelLimit: 280 } },
    },
  };
}
