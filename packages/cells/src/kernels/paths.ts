/**
 * Which way one of rnnkit's fused ops ran: on rnnkit's kernels, or on its fallback (the JS loops,
 * TensorFlow.js's ops), and why it fell back.
 */
export interface OpPath {
  /** The op: `fusedRecurrence`, `denseCrossEntropy`, `kernelUpdate`... */
  op: string;
  /** True where it ran on rnnkit's kernels. */
  kernels: boolean;
  /** Why it did not (absent where it did). */
  reason?: string;
}

const watchers: OpPath[][] = [];

/** Records the path an op took, for every `watchOpPaths` running now (nothing to do otherwise). */
export function recordOpPath(op: string, kernels: boolean, reason?: string): void {
  if (watchers.length === 0) return;
  const path: OpPath = reason === undefined ? { op, kernels } : { op, kernels, reason };
  for (const seen of watchers) {
    if (!seen.some((p) => p.op === op && p.kernels === kernels && p.reason === reason)) seen.push(path);
  }
}

/**
 * Runs `fn` and returns what it returned with the paths its fused ops took, each distinct
 * (op, path, reason) once, in order of first use. Calls nest: an outer watcher sees the inner ones' paths.
 */
export function watchOpPaths<T>(fn: () => T): { result: T; paths: OpPath[] } {
  const paths: OpPath[] = [];
  watchers.push(paths);
  try {
    return { result: fn(), paths };
  } finally {
    watchers.splice(watchers.lastIndexOf(paths), 1);
  }
}
