import type { TopLevelSpec } from 'vega-lite';

// The charts' Vega-Lite specs, apart from the renderer so browsers import them without vega's
// runtime (`@rnnkit/cli/plot`): the web page draws the same chart as `rnnkit train`.

/** d2l's Animator picture: perplexity against epoch. */
export function perplexitySpec(history: readonly { epoch: number; perplexity: number }[], title: string): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: 480,
    height: 300,
    data: { values: history.map((h) => ({ epoch: h.epoch, perplexity: h.perplexity })) },
    mark: { type: 'line', point: history.length <= 30 },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch' },
      y: { field: 'perplexity', type: 'quantitative', title: 'perplexity', scale: { zero: false } },
    },
  };
}

/** A training loss against epoch. */
export function lossSpec(history: readonly { epoch: number; loss: number }[], title: string): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
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
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: 640,
    height: 320,
    data: { values: points as { x: number; y: number; series: string }[] },
    mark: { type: 'line', strokeWidth: 1.2 },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: xTitle },
      y: { field: 'y', type: 'quantitative', title: yTitle },
      color: { field: 'series', type: 'nominal', title: null },
    },
  };
}
