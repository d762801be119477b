import { describe, expect, it } from 'vitest';
import { barLine, createReporter, formatDuration, outputMode } from './progress.js';

const ERASE_LINE_END = '\u001b[K';

/** A fake terminal: records what was written, and what stays on screen (\r, \n and erase-to-end-of-line). */
function terminal(columns: number) {
  let raw = '';
  return {
    isTTY: true,
    columns,
    write(chunk: string) {
      raw += chunk;
    },
    get raw() {
      return raw;
    },
    screen(): string[] {
      const lines = [''];
      let col = 0;
      for (let i = 0; i < raw.length; ) {
        const last = lines.length - 1;
        if (raw.startsWith(ERASE_LINE_END, i)) {
          lines[last] = lines[last]!.slice(0, col);
          i += ERASE_LINE_END.length;
          continue;
        }
        const c = raw[i++]!;
        if (c === '\r') col = 0;
        else if (c === '\n') {
          lines.push('');
          col = 0;
        } else {
          lines[last] = lines[last]!.slice(0, col) + c + lines[last]!.slice(col + 1);
          col++;
        }
      }
      if (lines.at(-1) === '') lines.pop();
      return lines;
    },
  };
}

describe('progress bar', () => {
  it('keeps tokens/s and time left within 80 and 120 columns', () => {
    for (const columns of [80, 120]) {
      const line = barLine(123, 500, { perplexity: '1234.56', speed: '123456', left: '1h02m' }, columns);
      expect(line.length).toBeLessThan(columns);
      expect(line).toMatch(/tokens\/s \| 1h02m left$/);
      expect(line).toContain('perplexity 1234.56');
    }
    expect(barLine(5, 10, { perplexity: '9.1', speed: '100', left: '3s' }, 120)).toMatch(/^epoch 5\/10 \u2588{20}\u2591{20} {2}50% \|/);
  });

  it('never shows template placeholders, and sample lines leave no frozen copy of the bar', () => {
    const out = terminal(80);
    const err = terminal(80);
    let t = 0;
    const r = createReporter('bar', { stdout: out, stderr: err, now: () => t });
    r.startBar(3, 0);
    for (let epoch = 1; epoch <= 3; epoch++) {
      t += 1000;
      r.updateBar(epoch, { perplexity: (20 - epoch).toFixed(2), speed: '15000' });
      r.info(`epoch ${epoch}: time traveller the`);
    }
    r.stopBar();
    r.info('perplexity 17.00, 15000 tokens/s on wasm, 3.0 s');
    expect(out.raw).not.toMatch(/[{}]/);
    // What stays on screen: the sample lines and the summary, no bar line.
    expect(out.screen()).toEqual([
      'epoch 1: time traveller the',
      'epoch 2: time traveller the',
      'epoch 3: time traveller the',
      'perplexity 17.00, 15000 tokens/s on wasm, 3.0 s',
    ]);
    // Every bar drawn fits in 79 columns and shows tokens/s and time left.
    const bars = out.raw
      .split('\r')
      .map((s) => s.split(ERASE_LINE_END)[0]!)
      .filter((s) => s.startsWith('epoch ') && s.includes('%'));
    expect(bars.length).toBeGreaterThan(3);
    for (const b of bars) {
      expect(b.length).toBeLessThan(80);
      expect(b).toMatch(/\| (-|\d+) tokens\/s \| (\?|\d+s) left$/);
    }
    expect(bars.at(-1)).toMatch(/^epoch 3\/3 .*100% \| perplexity 17.00 \| 15000 tokens\/s \| 0s left$/);
  });

  it('draws on stdout: a terminal on stdout shows the bar even when stderr is redirected', () => {
    const out = terminal(80);
    const err = { write: () => undefined, isTTY: false };
    expect(outputMode(false, out)).toBe('bar');
    const r = createReporter(outputMode(false, out), { stdout: out, stderr: err });
    r.startBar(10, 0);
    r.updateBar(1, { perplexity: '20.00', speed: '100' });
    expect(out.raw).toContain('epoch 1/10');
  });

  it('notes go to stderr; JSON mode writes only events to stdout', () => {
    const out = terminal(80);
    const err = terminal(80);
    const r = createReporter('json', { stdout: out, stderr: err });
    r.note('backend: wasm', { json: false });
    r.note('warning: most of the text was dropped');
    r.info('human line');
    r.event('done', { x: 1 });
    expect(out.raw).toBe('{"event":"done","x":1}\n');
    expect(err.raw).toBe('warning: most of the text was dropped\n');
  });

  it('formats durations', () => {
    expect([formatDuration(5), formatDuration(75), formatDuration(3725), formatDuration(Number.NaN)]).toEqual(['5s', '1m15s', '1h02m', '?']);
  });
});
