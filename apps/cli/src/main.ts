// What `rnnkit` runs, loaded by bin.ts once relaxed SIMD is on.
import { run } from './program.js';

// `rnnkit bench | head` closes the pipe early: that is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});
process.exitCode = await run(process.argv.slice(2));
