import seedrandom from 'seedrandom';
import { checkSeed } from './checks.js';

/**
 * A seeded random generator. Every random choice in rnnkit (batch offsets, shuffles, weight
 * initialisation, sampling) goes through one of these, so the same seed gives the same run.
 * Backed by seedrandom's Alea generator.
 */
export interface Rng {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max], both ends included (Python's `random.randint`). */
  int(min: number, max: number): number;
  /** A draw from N(mean, std^2) (Box-Muller). */
  normal(mean?: number, std?: number): number;
  /** Shuffles `items` in place (Fisher-Yates) and returns it. */
  shuffle<T>(items: T[]): T[];
  /** The generator's internal state, to resume a run exactly. */
  state(): RngState;
}

/** An opaque snapshot of a generator, serialisable to JSON. */
export type RngState = { alea: object; spare: number | null };

/** Creates a seeded generator; `restore` continues from a saved `state()`. */
export function createRng(seed: number | string = 0, restore?: RngState): Rng {
  checkSeed(seed);
  const alea = seedrandom.alea(String(seed), { state: restore ? (restore.alea as seedrandom.State.Alea) : true });
  let spare: number | null = restore ? restore.spare : null;
  const rng: Rng = {
    next: () => alea(),
    int(min, max) {
      if (!Number.isInteger(min) || !Number.isInteger(max) || max < min) {
        throw new RangeError(`rng.int needs integers min <= max, got ${min} and ${max}`);
      }
      return min + Math.floor(alea() * (max - min + 1));
    },
    normal(mean = 0, std = 1) {
      if (spare !== null) {
        const z = spare;
        spare = null;
        return mean + std * z;
      }
      let u = 0;
      while (u === 0) u = alea();
      const v = alea();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return mean + std * r * Math.cos(2 * Math.PI * v);
    },
    shuffle(items) {
      for (let i = items.length - 1; i > 0; i--) {
        const j = Math.floor(alea() * (i + 1));
        const tmp = items[i] as (typeof items)[number];
        items[i] = items[j] as (typeof items)[number];
        items[j] = tmp;
      }
      return items;
    },
    state: () => ({ alea: alea.state(), spare }),
  };
  return rng;
}
