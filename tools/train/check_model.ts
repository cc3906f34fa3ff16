/**
 * Checks a model folder (default models/tiny) in lukv against tools/train's PyTorch model: logits of
 * a short text, a needle prompt and a full-context window must agree within 1e-4 relative.
 *
 *   deno run -A tools/train/check_model.ts [MODEL_DIR]
 */

import { loadModel } from "../../src/pipeline/model.ts";
import { readNpy } from "../../src/lukv/npy.ts";

const modelDir = Deno.args[0] ?? "models/tiny";
const outDir = "tools/train/runs/check_logits";
const python = new Deno.Command("/usr/bin/python3", {
  args: ["tools/train/evaluate.py", "logits", outDir, "--model", modelDir],
});
const { success, stderr } = await python.output();
if (!success) throw new Error(new TextDecoder().decode(stderr));

const cases: { ids: number[]; logits: string }[] = JSON.parse(
  await Deno.readTextFile(`${outDir}/cases.json`),
);
using model = await loadModel(modelDir, { device: "cpu" });
let worst = 0;
for (const { ids, logits } of cases) {
  const want = readNpy(await Deno.readFile(`${outDir}/${logits}`)).data;
  const got = await model.logits(Int32Array.from(ids));
  let diff = 0, scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  const error = diff / scale;
  worst = Math.max(worst, error);
  console.log(`${ids.length} tokens: max relative error ${error.toExponential(2)}`);
}
if (!(worst <= 1e-4)) throw new Error(`logits differ: ${worst.toExponential(2)} > 1e-4`);
console.log(`ok: ${modelDir} matches PyTorch within 1e-4`);
