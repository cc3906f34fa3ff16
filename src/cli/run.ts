/** What every lukv command line shares: a usage error type, and one way to report failures and exit. */

/** A bad command line: reported with the usage text, exit status 2. */
export class UsageError extends Error {}

/**
 * Runs a CLI's `main`; prints `name: message` on stderr (plus `usage` for command-line
 * mistakes) and exits 2 for those, 1 for any other failure.
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
    console.error(`${name}: ${(e as Error).message}${isUsage ? `\n${usage}` : ""}`);
    Deno.exit(isUsage ? 2 : 1);
  }
}
