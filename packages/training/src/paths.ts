import { watchOpPaths, type OpPath } from '@rnnkit/cells';

/** Which way a training step ran: each fused op on rnnkit's kernels or on its fallback, and why. */
export interface StepPath {
  /** In order of first use: the recurrence, the loss (`denseCrossEntropy`), the update (`clippedUpdate`)... */
  ops: OpPath[];
}

const key = (ops: OpPath[]): string => JSON.stringify(ops);

/**
 * Runs training steps (`run(step)`) and hands `onPath` the path they took: after the first, and
 * again only when it changes (a browser's kernels compile after the first steps). Without
 * `onPath` it only runs them.
 */
export function stepPathReporter(onPath?: (path: StepPath) => void): <T>(step: () => T) => T {
  if (!onPath) return (step) => step();
  return (step) => {
    const { result, paths } = watchOpPaths(step);
    const now = key(paths);
    // Remembered by callback, so that one callback over several epochs (each its own loop) hears it once.
    if (lastTold.get(onPath) !== now) {
      lastTold.set(onPath, now);
      onPath({ ops: paths });
    }
    return result;
  };
}

const lastTold = new WeakMap<(path: StepPath) => void, string>();
