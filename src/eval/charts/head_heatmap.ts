/** The one picture of per-(layer, KV head) values lukv draws everywhere: a layer x head heatmap. */

import { renderSvg } from "./render.ts";

/** One cell: a head's value, optionally in a named panel (e.g. a compression ratio). */
export interface HeadCell {
  /** Decoder layer. */
  layer: number;
  /** KV head. */
  head: number;
  /** The value the colour shows. */
  value: number;
  /** Panel title, when the heatmap has several side by side. */
  panel?: string;
}

/**
 * A heatmap SVG: layers down, KV heads across, viridis colours, one panel per distinct
 * `panel` (in order of appearance).
 *
 * @example
 * ```ts
 * const svg = await headHeatmapSvg(cells, { title: "Retrieval score", legend: "share", domain: [0, 1] });
 * ```
 */
export function headHeatmapSvg(
  cells: HeadCell[],
  options: { title: string; legend: string; domain?: [number, number] },
): Promise<string> {
  const layers = Math.max(...cells.map((c) => c.layer)) + 1,
    heads = Math.max(...cells.map((c) => c.head)) + 1;
  const panels = cells.some((c) => c.panel !== undefined);
  const heatmap = {
    width: Math.max(80, heads * 24),
    height: Math.max(80, layers * 24),
    mark: "rect",
    encoding: {
      x: { field: "head", type: "ordinal", title: "KV head" },
      y: { field: "layer", type: "ordinal", title: "layer" },
      color: {
        field: "value",
        type: "quantitative",
        title: options.legend,
        scale: { scheme: "viridis", ...(options.domain && { domain: options.domain }) },
      },
      tooltip: [{ field: "layer" }, { field: "head" }, { field: "value", format: ".3f" }],
    },
  };
  const title = { text: options.title, anchor: "start" };
  return renderSvg(
    panels
      ? {
        title,
        data: { values: cells },
        facet: { column: { field: "panel", type: "ordinal", title: null, sort: null } },
        spec: heatmap,
      }
      : { title, data: { values: cells }, ...heatmap },
  );
}
