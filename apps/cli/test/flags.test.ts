// Every numeric flag of every command has a range, shown in --help and checked before any work:
// below it, above it, not a number and the empty string are each refused with the flag and the
// range in the message; the range's ends and the default are accepted.
import { type Command, CommanderError, type Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { numberIn, wholeNumberIn } from '../src/flags.js';
import { buildProgram } from '../src/program.js';

/** Parses `argv` with the program's parsers only (no action runs); returns commander's error message, or null. */
function parse(argv: string[]): string | null {
  const program = buildProgram();
  let message: string | null = null;
  const silence = (c: Command) => {
    c.exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
    for (const sub of c.commands) {
      silence(sub);
      sub.action(() => {}); // parse only
    }
  };
  silence(program);
  try {
    program.parse(argv, { from: 'user' });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    message = err.message;
  }
  return message;
}

/** The numeric options: those whose help states a range. */
function numericOptions(): { command: string; option: Option; min: number; max: number; whole: boolean; open: [boolean, boolean] }[] {
  const found: ReturnType<typeof numericOptions> = [];
  for (const command of buildProgram().commands) {
    for (const option of command.options as Option[]) {
      const whole = /\((-?[\d,]+)-([\d,]+)\)$/.exec(option.description);
      const real = /\(([[(])(-?[\d,.]+), ([\d,.e+]+)([\])])\)$/.exec(option.description);
      if (whole)
        found.push({
          command: command.name(),
          option,
          min: Number(whole[1]!.replace(/,/g, '')),
          max: Number(whole[2]!.replace(/,/g, '')),
          whole: true,
          open: [false, false],
        });
      else if (real)
        found.push({
          command: command.name(),
          option,
          min: Number(real[2]!.replace(/,/g, '')),
          max: Number(real[3]!.replace(/,/g, '')),
          whole: false,
          open: [real[1] === '(', real[4] === ')'],
        });
    }
  }
  return found;
}

/** Flags that take a number but state no range would slip through: every `<n>`/`<x>`/`<k>` flag must have one. */
const NOT_NUMERIC = new Set(['--threads']); // "auto" or a whole number: its range is in its own words

describe('numeric flags', () => {
  const options = numericOptions();

  it('every flag taking a number states its range in --help', () => {
    const numeric = buildProgram().commands.flatMap((c) =>
      (c.options as Option[]).filter((o) => /<[nxkf]>/.test(o.flags) && !NOT_NUMERIC.has(o.long ?? '')).map((o) => `${c.name()} ${o.long}`),
    );
    expect(numeric.length).toBeGreaterThan(40);
    expect(options.map((o) => `${o.command} ${o.option.long}`).sort()).toEqual(numeric.sort());
  });

  it.each(
    (() => {
      const o = numericOptions();
      return o.map((x) => [`${x.command} ${x.option.long}`, x] as const);
    })(),
  )('%s: refuses out of range, non-numbers and empty; accepts its ends', (_, { command, option, min, max, whole, open }) => {
    const flag = option.long as string;
    const refused = (value: string) => {
      const message = parse([command, flag, value]);
      expect(message, `${command} ${flag} ${JSON.stringify(value)}`).not.toBeNull();
      expect(message).toContain(`option '${option.flags}' argument '${value}' is invalid.`);
      expect(message).toMatch(
        whole
          ? /must be a whole number from -?[\d,]+ to [\d,]+/
          : /must be a number (>=? -?[\d,.]+ and <=? [\d,.]+|between [\d,.]+ and [\d,.]+ \(both excluded\))/,
      );
    };
    refused('');
    refused('abc');
    refused(String(whole || !open[0] ? min - 1 : min));
    refused(String(whole || !open[1] ? max + 1 : max));
    refused(String(max * 1e6 + 1));
    if (whole) refused(String(min + 0.5));
    // Commands with a required option (--checkpoint, --out...) parse on only with it: their ends are checked by the refusals above.
    const required = buildProgram()
      .commands.find((c) => c.name() === command)
      ?.options.some((o) => (o as Option).mandatory);
    if (required) return;
    const ok = (value: number) => expect(parse([command, flag, String(value)]), `${command} ${flag} ${value}`).toBeNull();
    if (!open[0]) ok(min);
    if (!open[1]) ok(max);
  });

  it('--epochs 0 is refused (an untrained checkpoint would say trained)', () => {
    expect(parse(['train', '--epochs', '0'])).toBe("error: option '--epochs <n>' argument '0' is invalid. must be a whole number from 1 to 1,000,000.");
  });

  it('the parsers themselves', () => {
    expect(wholeNumberIn(1, 64)('64')).toBe(64);
    expect(() => wholeNumberIn(1, 64)('1e12')).toThrow('must be a whole number from 1 to 64.');
    expect(() => wholeNumberIn(1, 64)(' ')).toThrow('must be a whole number from 1 to 64, not empty.');
    expect(numberIn(0, 1, { belowMax: true })('0')).toBe(0);
    expect(() => numberIn(0, 1, { belowMax: true })('1')).toThrow('must be a number >= 0 and < 1.');
    expect(() => numberIn(0, 1000, { aboveMin: true })('1e12')).toThrow('must be a number > 0 and <= 1,000.');
  });
});
