import * as tf from '@tensorflow/tfjs-core';
import { VERSION } from './version.js';
import { hasRelaxedSimd, kernelThreads } from '@rnnkit/cells';
import type { StepPath } from '@rnnkit/training';

export type OutputMode = 'bar' | 'lines' | 'json';

/** A stream as the reporter needs it (process.stdout, or a fake in tests). */
export interface OutputStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/**
 * How a command reports: a progress bar on a terminal, plain lines otherwise, or JSON lines.
 * Human lines and the bar go to stdout; notes (the backend, warnings) to stderr, so stdout
 * carries only results when it is piped.
 */
export interface Reporter {
  mode: OutputMode;
  /** A human line on stdout (suppressed in JSON mode). */
  info(line: string): void;
  /** A side note on stderr (the backend line, warnings); `json: false` suppresses it in JSON mode. */
  note(line: string, opts?: { json?: boolean }): void;
  /** A machine-readable event line on stdout (only in JSON mode). */
  event(name: string, fields: Record<string, unknown>): void;
  /** `metric` names the value shown (the `perplexity` field of `updateBar`). Default 'perplexity'. */
  startBar(total: number, start: number, metric?: string): void;
  updateBar(value: number, fields: { perplexity: string; speed: string }): void;
  stopBar(): void;
}

/** The commands' default output: one line to stdout. */
export const writeLine = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** A note on stderr: the backend line, warnings. */
export const writeNote = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

export function outputMode(json: boolean, stream: OutputStream = process.stdout): OutputMode {
  return json ? 'json' : stream.isTTY ? 'bar' : 'lines';
}

/** The versions every `start` event carries. */
export function versions(): { rnnkit: string; tfjs: string; node: string } {
  return { rnnkit: VERSION, tfjs: tf.version_core, node: process.version };
}

/** One JSON line: `{"event": name, ...fields}`. */
export const jsonEvent = (name: string, fields: Record<string, unknown> = {}): string => JSON.stringify({ event: name, ...fields });

/** The `start` event of every command's `--json` output. */
export const startEvent = (command: string, backend: string | null, fields: Record<string, unknown> = {}): string =>
  jsonEvent('start', { command, backend, versions: versions(), kernels: kernelsInfo(), ...fields });

/**
 * rnnkit's WebAssembly kernels here: their SIMD build (relaxed exactly where the engine validates
 * relaxed SIMD) and the threads they use.
 */
export function kernelsInfo(): { simd: 'relaxed' | 'plain'; threads: number } {
  return { simd: hasRelaxedSimd() ? 'relaxed' : 'plain', threads: kernelThreads() };
}

/** The same in words, for the backend line: "relaxed SIMD, 2 threads". */
export function kernelsSummary(): string {
  const { simd, threads } = kernelsInfo();
  return `rnnkit kernels: ${simd} SIMD, ${threads} thread${threads === 1 ? '' : 's'}`;
}

/** 75 s -> "1m15s", 3725 s -> "1h02m". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * The bar's line, at most `columns - 1` characters (the last column makes some terminals wrap):
 * the bar shrinks first, then the text is cut.
 */
export function barLine(
  value: number,
  total: number,
  fields: { perplexity: string; speed: string; left: string },
  columns: number,
  metric = 'perplexity',
): string {
  const fraction = total > 0 ? Math.min(1, value / total) : 1;
  const head = `epoch ${value}/${total} `;
  const tail = ` ${String(Math.floor(fraction * 100)).padStart(3)}% | ${metric} ${fields.perplexity} | ${fields.speed} tokens/s | ${fields.left} left`;
  const width = columns - 1;
  const barWidth = Math.max(0, Math.min(40, width - head.length - tail.length));
  const filled = Math.round(fraction * barWidth);
  const line = `${head}${'\u2588'.repeat(filled)}${'\u2591'.repeat(barWidth - filled)}${tail}`;
  return line.length > width ? line.slice(0, width) : line;
}

export function createReporter(
  mode: OutputMode,
  /** Where to write: streams, or a line writer for stdout (plain lines and JSON, no bar). */
  target: { stdout?: OutputStream; stderr?: OutputStream; now?: () => number } | ((line: string) => void) = {},
): Reporter {
  const streams = typeof target === 'function' ? { stdout: { write: (chunk: string) => target(chunk.replace(/\n$/, '')) } } : target;
  const out = streams.stdout ?? process.stdout;
  const err = streams.stderr ?? process.stderr;
  const now = streams.now ?? (() => performance.now());
  let bar: { total: number; start: number; value: number; started: number; metric: string; fields: { perplexity: string; speed: string } } | null = null;
  const columns = () => (out.columns && out.columns > 20 ? out.columns : 80);
  const render = () => {
    if (!bar) return;
    const done = bar.value - bar.start;
    const left = done > 0 ? formatDuration(((now() - bar.started) / 1000 / done) * (bar.total - bar.value)) : '?';
    out.write(`\r${barLine(bar.value, bar.total, { ...bar.fields, left }, columns(), bar.metric)}\x1b[K`);
  };
  const clear = () => {
    if (bar) out.write('\r\x1b[K');
  };
  return {
    mode,
    info(line) {
      if (mode === 'json') return;
      clear();
      out.write(`${line}\n`);
      render();
    },
    note(line, opts = {}) {
      if (mode === 'json' && opts.json === false) return;
      clear();
      err.write(`${line}\n`);
      render();
    },
    event(name, fields) {
      if (mode === 'json') out.write(`${jsonEvent(name, fields)}\n`);
    },
    startBar(total, start, metric = 'perplexity') {
      if (mode !== 'bar') return;
      bar = { total, start, value: start, started: now(), metric, fields: { perplexity: '-', speed: '-' } };
      render();
    },
    updateBar(value, fields) {
      if (!bar) return;
      bar.value = value;
      bar.fields = fields;
      render();
    },
    stopBar() {
      clear();
      bar = null;
    },
  };
}

/**
 * What a training command does with the path its steps took (`onPath` of the training loops): a
 * `path` event in --json, and with RNNKIT_DEBUG set a note on stderr: each fused op on rnnkit's
 * kernels or on its fallback, and why.
 */
export function reportStepPath(reporter: Reporter): (path: StepPath) => void {
  return (path) => {
    reporter.event('path', { ...path });
    if (process.env.RNNKIT_DEBUG) {
      const ops = path.ops.map((p) => (p.kernels ? `${p.op}: kernels` : `${p.op}: fallback (${p.reason ?? 'no reason given'})`));
      reporter.note(`step path: ${ops.join('; ')}`, { json: false });
    }
  };
}
