// The CLI's checkpoints through @rnnkit/training: files that move between the page and rnnkit.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
let dir: string;

function rnnkit(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const generate = (checkpoint: string) => rnnkit(['generate', '--checkpoint', checkpoint, '--prefix', 'time traveller', '--length', '30', '--backend', 'wasm']);

beforeAll(() => {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run "pnpm build" before the CLI tests.`);
  dir = mkdtempSync(join(tmpdir(), 'rnnkit-cli-ckpt-'));
  const r = rnnkit([
    'train',
    '--hidden',
    '16',
    '--batch-size',
    '8',
    '--num-steps',
    '10',
    '--max-tokens',
    '1000',
    '--epochs',
    '2',
    '--optimizer',
    'adam',
    '--lr',
    '0.01',
    '--out',
    'run',
    '--backend',
    'wasm',
    '--json',
  ]);
  if (r.code !== 0) throw new Error(r.stderr);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('rnnkit checkpoints', () => {
  it("generate reads a page's downloads://name pair (name.json + name.weights.bin) like the folder", () => {
    const fromFolder = generate('run');
    expect(fromFolder.code).toBe(0);
    // What tf.io.browserDownloads writes for downloads://page.
    const json = JSON.parse(readFileSync(join(dir, 'run', 'checkpoint', 'model.json'), 'utf8'));
    json.weightsManifest[0].paths = ['./page.weights.bin'];
    mkdirSync(join(dir, 'downloads'));
    writeFileSync(join(dir, 'downloads', 'page.json'), JSON.stringify(json));
    writeFileSync(join(dir, 'downloads', 'page.weights.bin'), readFileSync(join(dir, 'run', 'checkpoint', 'weights.bin')));
    const fromDownload = generate(join('downloads', 'page.json'));
    expect(fromDownload.code).toBe(0);
    expect(fromDownload.stdout).toBe(fromFolder.stdout);
  });

  it('generate needs no optimizer files (above); --resume refuses a checkpoint without them', () => {
    expect(existsSync(join(dir, 'downloads', 'page.optimizer.json'))).toBe(false);
    const resume = rnnkit(['train', '--resume', join('downloads', 'page.json'), '--epochs', '3', '--out', 'resumed', '--backend', 'wasm']);
    expect(resume.code).toBe(1);
    expect(resume.stderr).toMatch(/^rnnkit: .*page\.json has no optimizer state beside it \(optimizer\.json\)/m);
  });

  it('damaged files are refused with the file named (exit 1)', () => {
    const bytes = readFileSync(join(dir, 'run', 'checkpoint', 'weights.bin'));
    bytes[bytes.length - 2]! ^= 0x10;
    mkdirSync(join(dir, 'flipped'));
    writeFileSync(join(dir, 'flipped', 'model.json'), readFileSync(join(dir, 'run', 'checkpoint', 'model.json')));
    writeFileSync(join(dir, 'flipped', 'weights.bin'), bytes);
    const r = generate('flipped');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^rnnkit: Corrupt checkpoint: .*flipped\/weights\.bin does not match the SHA-256 checksum/m);
  });

  it('an Adam run stopped and resumed ends with the same weights, bit for bit, as one run straight through', () => {
    const args = [
      '--hidden',
      '16',
      '--batch-size',
      '8',
      '--num-steps',
      '10',
      '--max-tokens',
      '1000',
      '--optimizer',
      'adam',
      '--lr',
      '0.01',
      '--backend',
      'wasm',
      '--json',
    ];
    expect(rnnkit(['train', ...args, '--epochs', '4', '--out', 'straight']).code).toBe(0);
    expect(rnnkit(['train', ...args, '--epochs', '2', '--out', 'stopped']).code).toBe(0);
    const resumed = rnnkit(['train', '--resume', 'stopped', '--epochs', '4', '--out', 'stopped', '--backend', 'wasm', '--json']);
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    const weights = (run: string) => readFileSync(join(dir, run, 'checkpoint', 'weights.bin'));
    expect(weights('stopped').equals(weights('straight'))).toBe(true);
    const optimizer = (run: string) => readFileSync(join(dir, run, 'checkpoint', 'optimizer.bin'));
    expect(optimizer('stopped').equals(optimizer('straight'))).toBe(true);
  });
});
