/**
 * Run the CLI in this process, through the same `main` as bin/ballast.js, capturing what it writes to
 * stdout and stderr (for tests that need many quick CLI runs without spawning Node each time).
 *
 * runInProcess(args) -> { code: main's exit code, stdout, stderr }; process.exitCode is reset after.
 */
import { main } from './main.ts';

export async function runInProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const writeErr = process.stderr.write.bind(process.stderr);
  const writeOut = process.stdout.write.bind(process.stdout);
  let stderr = '';
  let stdout = '';
  const text = (c: string | Uint8Array) => (typeof c === 'string' ? c : Buffer.from(c).toString('utf8'));
  process.stderr.write = ((c: string | Uint8Array) => ((stderr += text(c)), true)) as typeof process.stderr.write;
  process.stdout.write = ((c: string | Uint8Array) => ((stdout += text(c)), true)) as typeof process.stdout.write;
  try {
    return { code: await main(args), stdout, stderr };
  } finally {
    process.stderr.write = writeErr;
    process.stdout.write = writeOut;
    process.exitCode = undefined;
  }
}
