import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { argumentPath, commandFor, displayPath, packageScriptCommand, setProgramCommand } from './invocation.js';

const project = mkdtempSync(join(tmpdir(), 'rnnkit-invocation-'));
afterAll(() => rmSync(project, { recursive: true, force: true }));
const packageJson = join(project, 'package.json');
writeFileSync(
  packageJson,
  JSON.stringify({ scripts: { rnnkit: 'node apps/cli/dist/bin.js', start: 'node dist/main.js', train: 'rnnkit train --corpus a.txt' } }),
);

/** The environment a package manager gives a script it runs. */
const script = (manager: 'pnpm' | 'npm', event: string): NodeJS.ProcessEnv => ({
  npm_config_user_agent: `${manager}/10.0.0 node/v20.20.2 linux x64`,
  npm_lifecycle_event: event,
  npm_package_json: packageJson,
  INIT_CWD: process.cwd(),
});

describe('commandFor: how the user runs rnnkit again', () => {
  it('through the package-manager script they used, when it takes their arguments', () => {
    expect(commandFor('train', script('pnpm', 'rnnkit'))).toBe('pnpm rnnkit train');
    expect(commandFor('train', script('npm', 'rnnkit'))).toBe('npm run rnnkit -- train');
    expect(packageScriptCommand(script('npm', 'start'))).toBe('npm start --');
    expect(packageScriptCommand(script('pnpm', 'start'))).toBe('pnpm start');
  });

  it('not through a script that adds arguments of its own, nor one it cannot read', () => {
    expect(packageScriptCommand(script('pnpm', 'train'))).toBeNull();
    expect(packageScriptCommand({ ...script('pnpm', 'rnnkit'), npm_package_json: join(project, 'missing.json') })).toBeNull();
    expect(commandFor('train', script('pnpm', 'train'), '/usr/local/bin/rnnkit')).toBe('rnnkit train');
  });

  it('npx, a bin on PATH, a project bin, or node with the script path', () => {
    expect(commandFor('generate', { npm_lifecycle_event: 'npx', npm_config_user_agent: 'npm/11' })).toBe('npx rnnkit generate');
    expect(commandFor('train', {}, '/usr/bin/rnnkit')).toBe('rnnkit train');
    expect(commandFor('train', {}, '/home/u/app/node_modules/.bin/rnnkit')).toBe('npx rnnkit train');
    expect(commandFor('train', {}, resolve('dist/bin.js'))).toBe('node dist/bin.js train');
  });

  it('an app that runs one command names itself', () => {
    setProgramCommand('pnpm start');
    try {
      expect(commandFor('train', {}, '/usr/bin/rnnkit')).toBe('pnpm start');
    } finally {
      setProgramCommand(undefined);
    }
  });
});

describe('paths from where the user stands', () => {
  it('relative to INIT_CWD, the folder a package manager ran the script from', () => {
    const env = { INIT_CWD: resolve('..') };
    expect(displayPath('runs/x/metrics.json', env)).toBe(join(resolve('.').split('/').at(-1)!, 'runs/x/metrics.json'));
    expect(displayPath('runs/x', {})).toBe('runs/x');
    expect(displayPath('/a/b', {})).toBe('/a/b');
  });

  it('absolute in a command when the command runs in another folder than the user stands in', () => {
    expect(argumentPath('runs/x', { INIT_CWD: resolve('..') })).toBe(resolve('runs/x'));
    expect(argumentPath('runs/x', {})).toBe('runs/x');
  });
});
