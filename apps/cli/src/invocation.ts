import { readFileSync } from 'node:fs';
import { basename, isAbsolute, relative, resolve, sep } from 'node:path';

// Hints the CLI prints (a command to continue, the files it wrote) must work from where the user
// stands: npm and pnpm run a script in its package's folder and keep the user's folder in INIT_CWD.

/** The folder the user ran the command from. */
export function userFolder(env: NodeJS.ProcessEnv = process.env): string {
  return env.INIT_CWD && isAbsolute(env.INIT_CWD) ? env.INIT_CWD : process.cwd();
}

/** `path` as the user opens it from their folder: relative when that is shorter, else absolute. */
export function displayPath(path: string, env: NodeJS.ProcessEnv = process.env): string {
  const absolute = resolve(path);
  const fromUser = relative(userFolder(env), absolute) || '.';
  return fromUser.length < absolute.length && !fromUser.startsWith(`..${sep}..${sep}`) ? fromUser : absolute;
}

/** A path given to a command the user will run again: relative to this process's folder when that is the user's, else absolute. */
export function argumentPath(path: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(userFolder(env)) === process.cwd() ? displayPath(path, env) : resolve(path);
}

/**
 * The package-manager script that started this process, as the user types it (`pnpm start`,
 * `npm run train --`), when the script is a bare command that takes the user's arguments; else null.
 */
export function packageScriptCommand(env: NodeJS.ProcessEnv = process.env): string | null {
  const manager = env.npm_config_user_agent?.split('/')[0];
  const event = env.npm_lifecycle_event;
  if (!manager || !event || event === 'npx') return null;
  // The script as written in package.json (pnpm's npm_lifecycle_script has the user's arguments appended).
  let script: unknown;
  try {
    script = (JSON.parse(readFileSync(env.npm_package_json ?? '', 'utf8')) as { scripts?: Record<string, unknown> }).scripts?.[event];
  } catch {
    return null;
  }
  if (typeof script !== 'string') return null;
  // `rnnkit`, `node dist/main.js`: nothing after the program, so the user's arguments follow it.
  if (!/^(?:node\s+)?[\w@./-]+$/.test(script.trim())) return null;
  if (manager === 'npm') return event === 'start' || event === 'test' ? `npm ${event} --` : `npm run ${event} --`;
  return `${manager} ${event}`;
}

let programCommand: string | undefined;

/** Set by an app that runs one rnnkit command on the user's arguments (the char-LM demo: `pnpm start`). */
export function setProgramCommand(command: string | undefined): void {
  programCommand = command;
}

/** How the user runs `rnnkit <subcommand>` again from their folder: `pnpm rnnkit train`, `npx rnnkit train`, `rnnkit train`... */
export function commandFor(subcommand: string, env: NodeJS.ProcessEnv = process.env, program: string | undefined = process.argv[1]): string {
  if (programCommand) return programCommand;
  if (env.npm_lifecycle_event === 'npx') return `npx rnnkit ${subcommand}`;
  const script = packageScriptCommand(env);
  if (script) return `${script} ${subcommand}`;
  if (program && basename(program) === 'rnnkit') {
    // A bin link: on PATH when installed globally, else the project's node_modules/.bin.
    return `${program.split(sep).includes('node_modules') ? 'npx rnnkit' : 'rnnkit'} ${subcommand}`;
  }
  return `node ${program ? argumentPath(program, env) : 'rnnkit'} ${subcommand}`;
}
