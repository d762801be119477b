import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export { lossSpec, perplexitySpec, seriesSpec } from './plot-spec.js';

/** Renders a Vega-Lite spec to SVG markup (no canvas or browser needed). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
