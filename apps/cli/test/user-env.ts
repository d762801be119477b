/**
 * The environment of a user's shell: this process's, without what a package manager adds to the
 * scripts it runs (`npm_*`, `INIT_CWD`), which the CLI reads to print commands and paths as the
 * user would type them. Tests that check those hints run the bin with it.
 */
export const userEnv: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('npm_') && k !== 'INIT_CWD'));
