import cliProgress from 'cli-progress';

export type OutputMode = 'bar' | 'lines' | 'json';

/** How a command reports: a progress bar on a terminal, plain lines otherwise, or JSON lines. */
export interface Reporter {
  mode: OutputMode;
  /** A human line (suppressed in JSON mode). */
  info(line: string): void;
  /** A machine-readable event (only in JSON mode). */
  event(name: string, fields: Record<string, unknown>): void;
  /** `metric` names the value shown (the `perplexity` field of `updateBar`). Default 'perplexity'. */
  startBar(total: number, start: number, metric?: string): void;
  updateBar(value: number, fields: Record<string, string>): void;
  stopBar(): void;
}

/** The commands' default output: one line to stdout. */
export const writeLine = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

export function outputMode(json: boolean, stream: NodeJS.WriteStream = process.stdout): OutputMode {
  return json ? 'json' : stream.isTTY ? 'bar' : 'lines';
}

export function createReporter(mode: OutputMode, write: (line: string) => void = writeLine): Reporter {
  let bar: cliProgress.SingleBar | null = null;
  let current = 0;
  return {
    mode,
    info(line) {
      if (mode === 'json') return;
      if (bar) bar.stop();
      write(line);
      if (bar) bar.start(bar.getTotal(), current);
    },
    event(name, fields) {
      if (mode === 'json') write(JSON.stringify({ event: name, ...fields }));
    },
    startBar(total, start, metric = 'perplexity') {
      if (mode !== 'bar') return;
      bar = new cliProgress.SingleBar(
        { format: `epoch {value}/{total} {bar} {percentage}% | ${metric} {perplexity} | {speed} tokens/s | {eta_formatted} left`, hideCursor: true, etaBuffer: 20 },
        cliProgress.Presets.shades_classic,
      );
      current = start;
      bar.start(total, start, { perplexity: '-', speed: '-' });
    },
    updateBar(value, fields) {
      current = value;
      bar?.update(value, fields);
    },
    stopBar() {
      bar?.stop();
      bar = null;
    },
  };
}
