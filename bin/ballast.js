#!/usr/bin/env node
// Entry point for the `ballast` command. The sources are TypeScript; tsx compiles them on load
// (cached), so the package runs straight after `npm install` with no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
