/** Runs a script of the repository in a fresh Deno, as a user's command line would: the tests of the CLIs share it. */

/** What a finished command printed, and its exit code. */
export interface ScriptOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `script` (a path) with the permissions the deno tasks grant; returns its exit
 * code, stdout and stderr.
 *
 * @example
 * ```ts
 * const { code, stderr } = await runScript("src/cli/generate.ts", ["--model", "x"]);
 * ```
 */
export async function runScript(script: string, args: readonly string[]): Promise<ScriptOutput> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-ffi",
      "--allow-read",
      "--allow-write",
      "--allow-run",
      "--allow-env",
      script,
      ...args,
    ],
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder();
  return { code: output.code, stdout: text.decode(output.stdout), stderr: text.decode(output.stderr) };
}
