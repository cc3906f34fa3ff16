/** Renders Vega-Lite chart specs to standalone SVG, headless (no browser, no DOM). */

import * as vega from "vega";
import * as vl from "vega-lite";

/**
 * An SVG document for a Vega-Lite spec (the spec's data inline).
 *
 * @example
 * ```ts
 * const svg = await renderSvg({ data: { values }, mark: "rect", encoding: { ... } });
 * await Deno.writeTextFile("heatmap.svg", svg);
 * ```
 */
export async function renderSvg(spec: Record<string, unknown>): Promise<string> {
  // deno-lint-ignore no-explicit-any -- vega-lite's TopLevelSpec is a deep union; specs are built in this folder
  const compiled = vl.compile(spec as any).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
