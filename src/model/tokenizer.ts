/** Text to token ids and back (tokenizer.json via @huggingface/tokenizers), streaming detokenization, chat templates. */

import { Environment, Interpreter, Template } from "@huggingface/jinja";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { z } from "zod";
import { LukvError, STATUS } from "../backend/errors.ts";
import { CONFIG_LIMITS } from "./config.ts";
import { issueLines, readJsonFile, readTextFile } from "./json_file.ts";

/** One chat turn, as chat templates expect it. */
export interface ChatMessage {
  /** `"system"`, `"user"`, `"assistant"`, ... */
  role: string;
  /** The text of the turn. */
  content: string;
}

/** Options of {@linkcode Tokenizer.decode} and {@linkcode Tokenizer.stream}. */
export interface DecodeOptions {
  /** Drop special tokens (BOS, EOS, ...) from the text; default false. */
  skipSpecialTokens?: boolean;
}

/** Where the tokenizer's pieces came from, for error messages. */
export interface TokenizerSources {
  /** The parsed `tokenizer.json`. */
  tokenizer: unknown;
  /** The parsed `tokenizer_config.json`, if any. */
  config?: unknown;
  /** A chat template that wins over the config's (the `chat_template.jinja` file). */
  chatTemplate?: string;
}

const OP = "tokenizer";
const TOKENIZER_FILE = "tokenizer.json";
const CONFIG_FILE = "tokenizer_config.json";
const TEMPLATE_FILE = "chat_template.jinja";
const MODEL_TYPES = ["BPE", "Unigram", "WordPiece"] as const;

/**
 * Token ids must lie below this (the config's vocabulary bound, 2^22): ids are int32 on
 * every path, and @huggingface/tokenizers builds tables as long as the largest id, so an
 * id of 2^31 would loop for a minute and one of 2^32 would wrap to 0 in an Int32Array.
 */
const MAX_TOKEN_ID = CONFIG_LIMITS.vocabSize - 1;
const ID = `expected a token id (an integer from 0 to ${MAX_TOKEN_ID})`;
const id = z.number({ message: ID }).int({ message: ID }).nonnegative({ message: ID }).max(MAX_TOKEN_ID, {
  message: ID,
});
const idKey = z.string().regex(/^(0|[1-9][0-9]*)$/, { message: ID }).refine(
  (key) => Number(key) <= MAX_TOKEN_ID,
  {
    message: ID,
  },
);
const VOCAB = "expected a map from token to id, or a list of [token, score] pairs";
const MERGE = 'expected a merge ("a b" or ["a", "b"])';
// TemplateProcessing's `single` and `pair` templates: pieces naming a special token or a
// sequence (A, B), each with a type id; the tokenizer library walks them without checks.
const templatePiece = z.union([
  z.object({ SpecialToken: z.object({ id: z.string(), type_id: z.number().int().nonnegative() }).strict() })
    .strict(),
  z.object({
    Sequence: z.object({ id: z.enum(["A", "B"]), type_id: z.number().int().nonnegative() }).strict(),
  })
    .strict(),
], {
  errorMap: () => ({
    message: 'expected {"SpecialToken": {id, type_id}} or {"Sequence": {id: "A"|"B", type_id}}',
  }),
});
// Post-processors name the ids they insert: TemplateProcessing's `special_tokens.*.ids`,
// Bert/Roberta's `sep` and `cls` as [token, id]; a Sequence nests them.
const postProcessorSchema: z.ZodType<unknown> = z.lazy(() =>
  z.object({
    single: z.array(templatePiece).optional(),
    pair: z.array(templatePiece).optional(),
    special_tokens: z.record(z.object({ ids: z.array(id) }).passthrough()).optional(),
    sep: z.tuple([z.string(), id]).optional(),
    cls: z.tuple([z.string(), id]).optional(),
    processors: z.array(postProcessorSchema).optional(),
  }).passthrough().superRefine((processor, ctx) => {
    // The tokenizer library expects a TemplateProcessing's templates and the special
    // tokens they name to be there: check them here rather than fail inside encode().
    if (processor.type !== "TemplateProcessing") return;
    const specials = processor.special_tokens ?? {};
    for (const key of ["single", "pair"] as const) {
      const pieces = processor[key];
      if (!pieces) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: [key],
          message: "a TemplateProcessing needs this template",
        });
        continue;
      }
      pieces.forEach((piece, i) => {
        const name = "SpecialToken" in piece ? piece.SpecialToken.id : null;
        if (name !== null && !Object.hasOwn(specials, name)) {
          ctx.addIssue({
            code: z.ZodIssueCode.custom,
            path: [key, i, "SpecialToken", "id"],
            message: `names ${JSON.stringify(name)}, which special_tokens does not hold`,
          });
        }
      });
    }
  }).nullable()
);
const tokenizerJsonSchema = z.object({
  post_processor: postProcessorSchema.optional(),
  model: z.object({
    unk_id: id.nullable().optional(),
    type: z.enum(MODEL_TYPES, {
      errorMap: () => ({
        message: `expected one of ${MODEL_TYPES.join(", ")} (what @huggingface/tokenizers implements)`,
      }),
    }).optional(),
    vocab: z.union([z.record(id), z.array(z.tuple([z.string(), z.number()]))], {
      errorMap: () => ({ message: VOCAB }),
    }),
    merges: z.array(
      z.union([z.string(), z.tuple([z.string(), z.string()])], { errorMap: () => ({ message: MERGE }) }),
      { message: "expected a list of merges" },
    ).optional(),
  }, { message: "expected an object" }).passthrough(),
  added_tokens: z.array(
    z.object({
      id,
      content: z.string({ message: "expected the token's text" }),
      special: z.boolean({ message: "expected true or false" }).optional(),
    }, { message: "expected {id, content, special, ...}" }).passthrough(),
    { message: "expected a list of added tokens" },
  ).optional(),
}, { message: "expected a JSON object" }).passthrough().superRefine((json, ctx) => {
  if (json.model.type === "BPE" && json.model.merges === undefined) {
    ctx.addIssue({ code: "custom", path: ["model", "merges"], message: "a BPE model needs its merges" });
  }
  // A Unigram vocabulary is a list: its ids are its indices, so the list's length is the bound.
  if (Array.isArray(json.model.vocab) && json.model.vocab.length > MAX_TOKEN_ID + 1) {
    ctx.addIssue({
      code: "custom",
      path: ["model", "vocab"],
      message: `expected at most ${MAX_TOKEN_ID + 1} tokens`,
    });
  }
});

const TOKEN = "expected a token string or {content: ...}";
const tokenValue = z.union([z.string(), z.object({ content: z.string() }).passthrough()], {
  errorMap: () => ({ message: TOKEN }),
});
const specialToken = tokenValue.nullable();
const tokenizerConfigSchema = z.object({
  bos_token: specialToken.optional(),
  eos_token: specialToken.optional(),
  unk_token: specialToken.optional(),
  pad_token: specialToken.optional(),
  additional_special_tokens: z.array(tokenValue, { message: "expected a list of tokens" }).optional(),
  chat_template: z.union([
    z.string(),
    z.array(z.object({ name: z.string(), template: z.string() })),
  ], { errorMap: () => ({ message: "expected a template string or a list of {name, template}" }) }).nullable()
    .optional(),
  clean_up_tokenization_spaces: z.boolean({ message: "expected true or false" }).optional(),
  added_tokens_decoder: z.record(idKey, z.unknown(), { message: "expected a map from token id to token" })
    .optional(),
}, { message: "expected a JSON object" }).passthrough();

function tokenText(value: z.infer<typeof specialToken> | undefined): string | null {
  if (value === undefined || value === null) return null;
  return typeof value === "string" ? value : value.content;
}

function formatError(message: string): LukvError {
  return new LukvError(OP, STATUS.FORMAT, message);
}

/**
 * A Hugging Face tokenizer: `tokenizer.json` run by `@huggingface/tokenizers`, plus what
 * `tokenizer_config.json` adds (special tokens, the chat template). Ids are Int32Array.
 *
 * @example
 * ```ts
 * const tokenizer = await Tokenizer.load("models/tiny");
 * const ids = tokenizer.encode("Hello world"); // Int32Array, BOS first if the post-processor adds it
 * tokenizer.decode(ids, { skipSpecialTokens: true }); // "Hello world"
 * ```
 */
export class Tokenizer {
  /** The BOS token's text (from tokenizer_config.json), or null. */
  readonly bosToken: string | null;
  /** The EOS token's text (from tokenizer_config.json), or null. */
  readonly eosToken: string | null;
  /** The chat template's source, or null when the model has none. */
  readonly chatTemplate: string | null;
  /** One more than the largest token id the tokenizer knows (added tokens included). */
  readonly vocabSize: number;
  readonly #hf: HfTokenizer;
  readonly #template: Template | null;
  readonly #templateSource: string;
  readonly #templateVariables: Record<string, string>;
  readonly #cleanUpSpaces: boolean;

  /**
   * Builds a tokenizer from parsed files; each malformed part is a LukvError (FORMAT)
   * naming its file and field.
   *
   * @example
   * ```ts
   * const tokenizer = new Tokenizer({ tokenizer: JSON.parse(tokenizerJson), config: JSON.parse(configJson) });
   * ```
   */
  constructor(sources: TokenizerSources) {
    const json = tokenizerJsonSchema.safeParse(sources.tokenizer);
    if (!json.success) {
      throw formatError(issueLines(TOKENIZER_FILE, json.error.issues, sources.tokenizer).join("\n"));
    }
    const rawConfig = sources.config ?? {};
    const config = tokenizerConfigSchema.safeParse(rawConfig);
    if (!config.success) {
      throw formatError(issueLines(CONFIG_FILE, config.error.issues, rawConfig).join("\n"));
    }

    const c = config.data;
    const tokens = {
      bos_token: tokenText(c.bos_token),
      eos_token: tokenText(c.eos_token),
      unk_token: tokenText(c.unk_token),
      pad_token: tokenText(c.pad_token),
    };
    try {
      this.#hf = new HfTokenizer(
        {
          normalizer: null,
          pre_tokenizer: null,
          post_processor: null,
          decoder: null,
          ...json.data,
          added_tokens: json.data.added_tokens ?? [],
        },
        {
          ...c,
          ...Object.fromEntries(Object.entries(tokens).filter(([, v]) => v !== null)),
          additional_special_tokens: c.additional_special_tokens?.map((t) => tokenText(t)),
        },
      );
    } catch (error) {
      throw formatError(
        `${TOKENIZER_FILE}: @huggingface/tokenizers cannot build it: ${(error as Error).message}`,
      );
    }
    this.bosToken = tokens.bos_token;
    this.eosToken = tokens.eos_token;
    // transformers' default since 4.45; @huggingface/tokenizers would default to true.
    this.#cleanUpSpaces = c.clean_up_tokenization_spaces ?? false;
    let largestId = -1;
    for (const id of this.#hf.get_vocab(true).values()) largestId = Math.max(largestId, id);
    this.vocabSize = largestId + 1;
    this.#templateVariables = Object.fromEntries(
      Object.entries(tokens).filter(([, v]) => v !== null),
    ) as Record<
      string,
      string
    >;

    const [template, source] = sources.chatTemplate !== undefined
      ? [sources.chatTemplate, TEMPLATE_FILE]
      : [pickTemplate(c.chat_template), `${CONFIG_FILE}: field \`chat_template\``];
    this.chatTemplate = template;
    this.#templateSource = source;
    try {
      this.#template = template === null ? null : new Template(template);
    } catch (error) {
      throw formatError(`${source}: the chat template cannot be parsed: ${(error as Error).message}`);
    }
  }

  /**
   * Reads `tokenizer.json` (required), `tokenizer_config.json` and `chat_template.jinja`
   * (both optional) from a model folder.
   *
   * @example
   * ```ts
   * const tokenizer = await Tokenizer.load("models/Llama-3.2-1B-Instruct");
   * ```
   */
  static async load(dir: string): Promise<Tokenizer> {
    return new Tokenizer({
      tokenizer: await readJsonFile(OP, dir, TOKENIZER_FILE),
      config: await readJsonFile(OP, dir, CONFIG_FILE, { optional: true }),
      chatTemplate: await readTextFile(OP, dir, TEMPLATE_FILE, { optional: true }),
    });
  }

  /**
   * Token ids of `text`. With `addSpecialTokens` (default true) the tokenizer's
   * post-processor adds what the model expects (e.g. BOS); pass false for text that
   * already holds them, such as a rendered chat template.
   *
   * @example
   * ```ts
   * const prompt = tokenizer.encode(tokenizer.applyChatTemplate(messages), { addSpecialTokens: false });
   * ```
   */
  encode(text: string, options: { addSpecialTokens?: boolean } = {}): Int32Array {
    if (typeof text !== "string") throw new TypeError(`encode expects a string, got ${typeof text}`);
    return Int32Array.from(
      this.#hf.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids,
    );
  }

  /**
   * The text of token ids. Ids the tokenizer does not know are skipped (as the Rust
   * `tokenizers` library does); a non-integer id is a RangeError. Bytes of a character
   * that is not complete yet decode to U+FFFD.
   *
   * @example
   * ```ts
   * tokenizer.decode([9906, 4435]); // "Hello World"
   * ```
   */
  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const known: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id)) throw new RangeError(`token ids must be integers, got ${id} at index ${i}`);
      if (this.#hf.id_to_token(id) !== undefined) known.push(id);
    }
    if (known.length === 0) return "";
    return this.#hf.decode(known, {
      skip_special_tokens: options.skipSpecialTokens ?? false,
      clean_up_tokenization_spaces: this.#cleanUpSpaces,
    });
  }

  /**
   * The id of a token's text (e.g. `"<|eot_id|>"`), or undefined.
   *
   * @example
   * ```ts
   * const eot = tokenizer.tokenToId("<|eot_id|>");
   * ```
   */
  tokenToId(token: string): number | undefined {
    return this.#hf.token_to_id(token);
  }

  /**
   * A streaming detokenizer: push ids one at a time, get text pieces whose
   * concatenation is the decoded text.
   *
   * @example
   * ```ts
   * const stream = tokenizer.stream({ skipSpecialTokens: true });
   * for (const id of newIds) out.write(stream.push(id));
   * out.write(stream.flush());
   * ```
   */
  stream(options: DecodeOptions = {}): StreamingDetokenizer {
    return new StreamingDetokenizer(this, options);
  }

  /**
   * Renders `messages` with the model's chat template (`@huggingface/jinja`), passing
   * `messages`, `add_generation_prompt` (default true: the prompt ends where the assistant
   * answers), `bos_token`, `eos_token`, `unk_token`, `pad_token` and any extra `variables`.
   * No template: LukvError (UNSUPPORTED); a template that refuses the messages (its
   * `raise_exception`): LukvError (INVALID_ARGUMENT). Encode the result with
   * `addSpecialTokens: false`, since templates write BOS themselves.
   *
   * @example
   * ```ts
   * const text = tokenizer.applyChatTemplate([{ role: "user", content: "Hi!" }]);
   * ```
   */
  applyChatTemplate(
    messages: readonly ChatMessage[],
    options: { addGenerationPrompt?: boolean; variables?: Record<string, unknown> } = {},
  ): string {
    if (this.#template === null) {
      throw new LukvError(
        "chat_template",
        STATUS.UNSUPPORTED,
        `this model has no chat template (no ${TEMPLATE_FILE} and no chat_template in ${CONFIG_FILE})`,
      );
    }
    if (
      !Array.isArray(messages) ||
      !messages.every((m) => typeof m?.role === "string" && typeof m.content === "string")
    ) {
      throw new TypeError("messages must be a list of {role: string, content: string}");
    }
    const source = this.#templateSource;
    try {
      return renderBounded(
        this.#template,
        {
          ...this.#templateVariables,
          ...options.variables,
          messages,
          add_generation_prompt: options.addGenerationPrompt ?? true,
        },
        templateBudget(messages, options.variables),
        source,
      );
    } catch (error) {
      if (error instanceof LukvError) throw error;
      throw new LukvError(
        "chat_template",
        STATUS.INVALID_ARGUMENT,
        `the chat template refused the messages: ${(error as Error).message}`,
      );
    }
  }
}

/** What one chat template rendering may spend before it is stopped. */
interface TemplateBudget {
  /** Nodes the interpreter may evaluate (each loop iteration costs at least one). */
  steps: number;
  /** The longest string or list any expression may produce, the output included. */
  length: number;
}

/**
 * The budget of one rendering: far above what chat templates spend (Llama 3, Qwen and
 * Mistral templates take ~50 steps per message and write a few characters per input
 * character), and small enough that exhausting it takes well under a second.
 */
function templateBudget(messages: readonly ChatMessage[], variables: Record<string, unknown> | undefined) {
  let inputChars = 0;
  for (const m of messages) inputChars += m.content.length + m.role.length;
  try {
    inputChars += JSON.stringify(variables ?? {})?.length ?? 0;
  } catch {
    // Variables that are not JSON (functions, cycles) count as nothing extra.
  }
  return {
    steps: 200_000 + 1_000 * messages.length,
    length: 2 ** 22 + 8 * inputChars,
  };
}

/**
 * An interpreter that counts the nodes it evaluates and measures what each produces, so
 * that a template looping 10^8 times or building a gigabyte string stops with a
 * LukvError instead of hanging the process.
 */
class BoundedInterpreter extends Interpreter {
  #steps = 0;

  constructor(env: Environment, readonly budget: TemplateBudget, readonly source: string) {
    super(env);
    // Every loop iteration renders its body through evaluateBlock, even an empty body that
    // evaluates no node: counting it there bounds `{% for i in range(N) %}{% endfor %}`
    // nested loops too. (evaluateBlock is private in the library's types, public in its code.)
    const self = this as unknown as { evaluateBlock: (...args: unknown[]) => unknown };
    const block = self.evaluateBlock.bind(this);
    self.evaluateBlock = (...args: unknown[]) => {
      this.#step();
      return block(...args);
    };
  }

  override evaluate(...args: Parameters<Interpreter["evaluate"]>): ReturnType<Interpreter["evaluate"]> {
    this.#step();
    const value = super.evaluate(...args);
    const length = (value as { value?: unknown }).value;
    if ((typeof length === "string" || Array.isArray(length)) && length.length > this.budget.length) {
      throw budgetError(this.source, `produced a value longer than ${this.budget.length}`);
    }
    return value;
  }

  #step(): void {
    if (++this.#steps > this.budget.steps) {
      throw budgetError(this.source, `evaluated more than ${this.budget.steps} steps`);
    }
  }
}

function budgetError(source: string, what: string): LukvError {
  return new LukvError(
    "chat_template",
    STATUS.INVALID_ARGUMENT,
    `${source}: the chat template ${what} (a runaway loop or output?); rendering stopped`,
  );
}

/**
 * `Template.render` with a budget: the same globals as @huggingface/jinja's
 * `setupGlobals` (0.5.x), but `range` refuses more items than the budget allows before
 * allocating them, and the interpreter counts steps.
 */
function renderBounded(
  template: Template,
  items: Record<string, unknown>,
  budget: TemplateBudget,
  source: string,
): string {
  const env = new Environment();
  const globals: Record<string, unknown> = {
    false: false,
    true: true,
    none: null,
    False: false,
    True: true,
    None: null,
    raise_exception: (message: unknown) => {
      throw new Error(String(message));
    },
    range: (start: number, stop?: number, step = 1) => boundedRange(start, stop, step, budget, source),
    strftime_now: strftimeNow,
    ...items,
  };
  for (const [name, value] of Object.entries(globals)) env.set(name, value);
  const result = new BoundedInterpreter(env, budget, source).run(template.parsed);
  return (result as { value: string }).value;
}

/** Python's `range`, refusing (before allocating) more items than `budget.length`. */
function boundedRange(
  start: number,
  stop: number | undefined,
  step: number,
  budget: TemplateBudget,
  source: string,
) {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) throw new Error("range() step must not be zero");
  const count = Math.max(0, Math.ceil((stop - start) / step));
  if (!(count <= budget.length)) throw budgetError(source, `asked for range() of ${count} items`);
  return Array.from({ length: count }, (_, i) => start + i * step);
}

/** @huggingface/jinja's `strftime_now`: %Y %m %d %b %B %H %M %% of the current local time. */
function strftimeNow(format: string): string {
  const date = new Date();
  const pad2 = (n: number) => n < 10 ? "0" + n : n.toString();
  return format.replace(/%[YmdbBHM%]/g, (token) => {
    switch (token) {
      case "%Y":
        return date.getFullYear().toString();
      case "%m":
        return pad2(date.getMonth() + 1);
      case "%d":
        return pad2(date.getDate());
      case "%b":
        return new Intl.DateTimeFormat(undefined, { month: "short" }).format(date);
      case "%B":
        return new Intl.DateTimeFormat(undefined, { month: "long" }).format(date);
      case "%H":
        return pad2(date.getHours());
      case "%M":
        return pad2(date.getMinutes());
      default:
        return "%";
    }
  });
}

function pickTemplate(
  template: string | { name: string; template: string }[] | null | undefined,
): string | null {
  if (template === undefined || template === null) return null;
  if (typeof template === "string") return template;
  return (template.find((t) => t.name === "default") ?? template[0])?.template ?? null;
}

/**
 * Turns token ids arriving one at a time into text pieces. Each push decodes a short
 * window of recent ids (the text-generation-inference scheme, so the cost per token does
 * not grow with the output) and emits what the window adds beyond its already-emitted
 * prefix; a piece that would end in U+FFFD (a character whose bytes have not all arrived)
 * is held back until it completes. The pieces concatenate to `decode(allIds)` for
 * decoders whose output for a prefix of ids is a prefix of the whole text.
 *
 * @example
 * ```ts
 * const stream = new StreamingDetokenizer(tokenizer);
 * stream.push(id1) + stream.push(id2) + stream.flush() === tokenizer.decode([id1, id2]);
 * ```
 */
export class StreamingDetokenizer {
  readonly #tokenizer: Tokenizer;
  readonly #options: DecodeOptions;
  readonly #ids: number[] = [];
  #prefixOffset = 0;
  #readOffset = 0;

  /**
   * A detokenizer for `tokenizer`, with its decode options.
   *
   * @example
   * ```ts
   * const stream = new StreamingDetokenizer(tokenizer, { skipSpecialTokens: true });
   * ```
   */
  constructor(tokenizer: Tokenizer, options: DecodeOptions = {}) {
    this.#tokenizer = tokenizer;
    this.#options = options;
  }

  /**
   * Every id pushed so far.
   *
   * @example
   * ```ts
   * stream.ids.length; // tokens generated
   * ```
   */
  get ids(): readonly number[] {
    return this.#ids;
  }

  /**
   * Adds one id; returns the new text it completes ("" when nothing is complete yet).
   *
   * @example
   * ```ts
   * const piece = stream.push(nextId);
   * ```
   */
  push(id: number): string {
    if (!Number.isInteger(id)) throw new RangeError(`token ids must be integers, got ${id}`);
    this.#ids.push(id);
    const emitted = this.#decode(this.#prefixOffset, this.#readOffset);
    const text = this.#decode(this.#prefixOffset, this.#ids.length);
    if (text.length <= emitted.length || text.endsWith("\uFFFD")) return "";
    this.#prefixOffset = this.#readOffset;
    this.#readOffset = this.#ids.length;
    return text.slice(emitted.length);
  }

  /**
   * Ends the stream: returns whatever was held back (an incomplete character stays U+FFFD).
   *
   * @example
   * ```ts
   * const tail = stream.flush();
   * ```
   */
  flush(): string {
    const emitted = this.#decode(this.#prefixOffset, this.#readOffset);
    const text = this.#decode(this.#prefixOffset, this.#ids.length);
    this.#prefixOffset = this.#readOffset = this.#ids.length;
    return text.length > emitted.length ? text.slice(emitted.length) : "";
  }

  #decode(start: number, end: number): string {
    return start === end ? "" : this.#tokenizer.decode(this.#ids.slice(start, end), this.#options);
  }
}
