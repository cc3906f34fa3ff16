/** A TransformStream that splits text into lines (without their "\n" or "\r\n"). */

/** Splits a stream of text chunks into lines; a last line without "\n" is emitted at the end. */
export class TextLineStream extends TransformStream<string, string> {
  constructor() {
    let pending = "";
    super({
      transform(chunk, controller) {
        const parts = (pending + chunk).split("\n");
        pending = parts.pop()!;
        for (const line of parts) controller.enqueue(line.endsWith("\r") ? line.slice(0, -1) : line);
      },
      flush(controller) {
        if (pending !== "") controller.enqueue(pending);
      },
    });
  }
}
