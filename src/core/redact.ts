/**
 * Secrets out of stored command lines. `ballast run` keeps the captured command in the trace
 * (META sources[0].path, then Parquet exports) and in the session registry; these functions replace
 * secret values with REDACTED first:
 *
 *   --api-key S, --api-key=S, -token S     flags whose name is a known secret (SECRET_FLAG)
 *   HF_TOKEN=S, OPENAI_API_KEY=S           environment-style assignments ending in _KEY, _TOKEN,
 *                                          _SECRET, _PASSWORD (or _PASS, _PWD, _CREDENTIALS)
 *   https://user:S@host                    passwords in URLs
 * The same rules apply inside one argument holding a whole shell command (`bash -c "..."`).
 */

export const REDACTED = '<redacted>';

/**
 * Flag names (without dashes, lower case) whose value is a secret: api-key, token, hf-token,
 * auth-token, access-token, secret, password, and any name ending in -key/-token/-secret/-password
 * (admin-api-key, ssl-keyfile-password), but not plural or compound names such as
 * max-num-batched-tokens, tokenizer or ssl-keyfile.
 */
const SECRET_FLAG = /^(?:token|secret|password|passwd|apikey|credentials?|[a-z0-9]+(?:[-_][a-z0-9]+)*[-_](?:key|token|secret|password|passwd|credentials?))$/;

/** Environment-style NAME=value with a secret-looking NAME. */
const SECRET_ENV = /^([A-Za-z_][A-Za-z0-9_]*(?:_KEY|_TOKEN|_SECRET|_PASSWORD|_PASS|_PWD|_CREDENTIALS))=(.*)$/i;

export function isSecretFlag(arg: string): boolean {
  const m = /^--?([A-Za-z0-9][A-Za-z0-9_-]*)$/.exec(arg);
  return m !== null && SECRET_FLAG.test(m[1].toLowerCase());
}

/** One argument (or a whole shell command in one string): secrets inside it replaced. */
export function redactText(s: string): string {
  return s
    .replace(/(^|\s)(--?[A-Za-z0-9][A-Za-z0-9_-]*)(=|\s+)(?:"[^"]*"|'[^']*'|\S+)/g, (all, pre: string, flag: string, sep: string) =>
      isSecretFlag(flag) ? `${pre}${flag}${sep}${REDACTED}` : all,
    )
    .replace(/(^|[\s"'])([A-Za-z_][A-Za-z0-9_]*(?:_KEY|_TOKEN|_SECRET|_PASSWORD|_PASS|_PWD|_CREDENTIALS))=(?:"[^"]*"|'[^']*'|\S+)/gi, `$1$2=${REDACTED}`)
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]+:)[^\s@/]+@/gi, `$1${REDACTED}@`);
}

/** A command line (argv) with secret values replaced by REDACTED; the other arguments are kept as they are. */
export function redactCommand(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    if (a.startsWith('-') && eq > 0 && isSecretFlag(a.slice(0, eq))) {
      out.push(`${a.slice(0, eq)}=${REDACTED}`);
    } else if (isSecretFlag(a) && i + 1 < argv.length) {
      out.push(a, REDACTED);
      i++;
    } else if (SECRET_ENV.test(a)) {
      out.push(a.replace(SECRET_ENV, `$1=${REDACTED}`));
    } else {
      out.push(/\s/.test(a) || a.includes('://') ? redactText(a) : a);
    }
  }
  return out;
}
