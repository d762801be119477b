// `import '@rnnkit/cells/relaxed-simd'` in a fresh Node process, as an app's first line runs it:
// V8 flags are per process, so each case is a child process (through tsx, from source).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const entry = fileURLToPath(new URL('./relaxed-simd.ts', import.meta.url));
const support = fileURLToPath(new URL('./simd-support.ts', import.meta.url));

/** Runs `body` (an ES module) in a child Node process and parses the JSON it prints last. */
function child(body: string): Record<string, unknown> {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', body], { encoding: 'utf8', timeout: 60_000 });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as Record<string, unknown>;
}

describe('@rnnkit/cells/relaxed-simd', () => {
  it('turns relaxed SIMD on in a plain Node process', () => {
    const out = child(`
      const { hasRelaxedSimd } = await import(${JSON.stringify(support)});
      const before = hasRelaxedSimd();
      const { relaxedSimd } = await import(${JSON.stringify(entry)});
      console.log(JSON.stringify({ before, relaxedSimd, after: hasRelaxedSimd() }));
    `);
    // Node 20 has it behind V8's flag; later engines have it on already.
    expect(out).toMatchObject({ relaxedSimd: true, after: true });
  });

  it('leaves an engine it cannot switch as it is (a browser: no process.getBuiltinModule)', () => {
    const out = child(`
      const { hasRelaxedSimd } = await import(${JSON.stringify(support)});
      const before = hasRelaxedSimd();
      delete process.getBuiltinModule;
      const { relaxedSimd } = await import(${JSON.stringify(entry)});
      console.log(JSON.stringify({ before, relaxedSimd, after: hasRelaxedSimd() }));
    `);
    expect(out.relaxedSimd).toBe(out.before);
    expect(out.after).toBe(out.before);
  });
});
