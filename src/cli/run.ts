/** What every lukv command line shares: argument conventions, progress lines, and one way to report failures and exit. */

/** A bad command line: reported with the usage text, exit status 2. */
export class UsageError extends Error {}

/**
 * A command-line mistake found by the library (an unknown press, a bad parameter): the
 * same message, without the library operation's `op: ` prefix, as a usage error.
 *
 * @example
 * ```ts
 * try { makeScorer(name, params); } catch (e) { throw usageError(e); }
 * ```
 */
export function usageError(error: unknown): UsageError {
  if (error instanceof UsageError) return error;
  const { message, op } = error as { message: string; op?: unknown };
  const prefix = typeof op === "string" ? `${op}: ` : "";
  return new UsageError(prefix && message.startsWith(prefix) ? message.slice(prefix.length) : message);
}

/**
 * Command-line arguments as `node:util`'s `parseArgs` should see them: an option followed
 * by a negative number (`--temperature -1`) is joined into `--temperature=-1`, which
 * `parseArgs` would otherwise refuse as an ambiguous option.
 *
 * @example
 * ```ts
 * const { values } = parseArgs({ args: cliArgs(args), options });
 * cliArgs(["--temperature", "-1"]); // ["--temperature=-1"]
 * ```
 */
export function cliArgs(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const next = args[i + 1];
    if (/^--[^=]+$/.test(args[i]) && next !== undefined && /^-(\d|\.\d)/.test(next)) {
      out.push(`${args[i]}=${next}`);
      i++;
    } else {
      out.push(args[i]);
    }
  }
  return out;
}

let progressOpen = false;

/**
 * Draws a progress bar with an ETA in place on stderr (stdout carries only the command's
 * result): `done` of `total` `unit`s after `elapsedMs`, the ETA from the `measured` items
 * that took time (default `done`; items found already done cost none). The last one ends
 * the line; a failure reported by {@linkcode runCli} while a bar is open starts on a fresh line.
 *
 * @example
 * ```ts
 * progress(4, 10, "pairs", 2100); // [############..................] 4/10 pairs, 2 s, ETA 3 s
 * ```
 */
export function progress(
  done: number,
  total: number,
  unit: string,
  elapsedMs: number,
  measured = done,
): void {
  const width = 30, filled = Math.round((width * done) / Math.max(1, total));
  const eta = measured === 0 ? "?" : `${((elapsedMs / measured) * (total - done) / 1000).toFixed(0)} s`;
  const line = `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total} ${unit}, ` +
    `${(elapsedMs / 1000).toFixed(0)} s, ETA ${eta}   `;
  const finished = done === total;
  Deno.stderr.writeSync(new TextEncoder().encode(`\r${line}${finished ? "\n" : ""}`));
  progressOpen = !finished;
}

/**
 * Checks that a `--model` folder exists before anything is loaded, naming the flag when not.
 *
 * @example
 * ```ts
 * checkModelDir(values.model);
 * ```
 */
export function checkModelDir(dir: string): void {
  let isDirectory = false;
  try {
    isDirectory = Deno.statSync(dir).isDirectory;
  } catch {
    // reported below
  }
  if (!isDirectory) throw new Error(`--model ${dir}: no such model folder`);
}

/**
 * Runs a CLI's `main`; a failure prints one line on stderr, `name: message` (plus the
 * usage for command-line mistakes), and exits 2 for those, 1 for any other failure.
 *
 * @example
 * ```ts
 * if (import.meta.main) await runCli("solve", USAGE, () => main(Deno.args));
 * ```
 */
export async function runCli(name: string, usage: string, main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    const isUsage = e instanceof UsageError ||
      (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS"));
    const message = String((e as Error).message ?? e).split("\n")[0].replace(new RegExp(`^${name}: `), "");
    if (progressOpen) Deno.stderr.writeSync(new TextEncoder().encode("\n"));
    console.error(`${name}: ${message}${isUsage ? `\n${usage}` : ""}`);
    Deno.exit(isUsage ? 2 : 1);
  }
}
