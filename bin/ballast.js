#!/usr/bin/env node
// Entry point for the `ballast` command. The sources are TypeScript; tsx compiles them on load
// (cached), so the package runs straight after `npm install` with no build step.
import { register } from 'tsx/esm/api';

// A reader that closes the pipe early (`ballast analyze ... | head`) is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err && err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
