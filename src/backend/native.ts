/**
 * The native layer itself, for advanced use and tooling: the ABI's symbol table (one
 * entry per function of `ffi/lukv.h`), its version, and the library loader. Everything
 * here passes raw pointers: the typed `ops` of the main entry point are the safe way.
 *
 * @example
 * ```ts
 * import { ABI_VERSION, loadLibrary } from "@lukv/lukv/native";
 *
 * const { library, path } = await loadLibrary("cpu");
 * console.log(path, library.symbols.lukv_abi_version() === ABI_VERSION);
 * ```
 *
 * @module
 */

export type { LibraryKind } from "../../ffi/build.ts";
export { loadLibrary, type NativeLibrary } from "./library.ts";
export { ABI_VERSION, type LukvSymbols, SYMBOLS } from "./symbols.ts";
