// The CLI's first layout (layout 1): no checksums, config keys of the CLI's flags.
import type { LanguageModelConfig } from '@rnnkit/models';
import type { Meta } from './integrity.js';

/** The old CLI layout (layout 1): config { model, impl, hidden, layers }, training state beside it. */
export function upgradeLegacy(meta: Meta): Meta {
  if (meta.layout !== undefined) return meta;
  const { kind, config, vocab, ...training } = meta;
  const c = (config ?? {}) as Record<string, unknown>;
  const upgraded: LanguageModelConfig | Record<string, unknown> =
    'model' in c || 'impl' in c
      ? {
          cell: c.model,
          implementation: c.impl,
          numHiddens: c.hidden,
          numLayers: c.layers,
          bidirectional: c.bidirectional,
          vocabSize: c.vocabSize,
          seed: c.seed,
        }
      : c;
  return { kind, config: upgraded, vocab, training: Object.keys(training).length ? training : undefined };
}
