/**
 * Errors that reach the user as one line and exit code 2 (bad input), never as a stack trace.
 *
 * Every reader, validator and CLI argument check throws `InputError` with the file, the place
 * (line, byte offset or key) and what was expected. `formatInputError` renders the one line.
 */
export class InputError extends Error {
  /** File (or flag, or URL) the bad input came from; '' when not tied to one. */
  readonly file: string;
  /** Where in the file: 'line 3', 'byte 128', 'key logical_count[2]'; '' when the whole file. */
  readonly where: string;

  constructor(file: string, where: string, message: string) {
    super(message);
    this.name = 'InputError';
    this.file = file;
    this.where = where;
  }
}

/** One line: `<file>: <where>: <message>`, omitting empty parts. */
export function formatInputError(err: InputError): string {
  const parts = [err.file, err.where, err.message].filter((p) => p !== '');
  return parts.join(': ');
}

/** Throw an InputError for `file` at `where` unless `cond` holds. */
export function expectInput(cond: unknown, file: string, where: string, message: string): asserts cond {
  if (!cond) throw new InputError(file, where, message);
}
