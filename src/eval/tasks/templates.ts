/**
 * The fixed sentence templates of every task, in one place: the trained model learns
 * them, so they are shared across tasks wherever the meaning allows.
 *
 * A prompt is `context + question + answerPrefix`; questions start with "\n" and answer
 * prefixes with " ". The expected continuation ({@linkcode answerList}) is " " + the
 * answers joined by ", " + ".".
 *
 * @module
 */

/**
 * The needle sentence: `The special magic number for {key} is {value}.`
 *
 * @example
 * ```ts
 * needleSentence("lamp", "482913"); // "The special magic number for lamp is 482913."
 * ```
 */
export function needleSentence(key: string, value: string): string {
  return `The special magic number for ${key} is ${value}.`;
}

/**
 * The question of one needle: `\nWhat is the special magic number for {key}?`
 *
 * @example
 * ```ts
 * needleQuestion("lamp"); // "\nWhat is the special magic number for lamp?"
 * ```
 */
export function needleQuestion(key: string): string {
  return `\nWhat is the special magic number for ${key}?`;
}

/**
 * The answer prefix of one needle: ` The special magic number for {key} is`
 *
 * @example
 * ```ts
 * needleAnswerPrefix("lamp"); // " The special magic number for lamp is"
 * ```
 */
export function needleAnswerPrefix(key: string): string {
  return ` The special magic number for ${key} is`;
}

/**
 * The question of several numbers (one key with several values, or several keys):
 * `\nWhat are the special magic numbers for {keys joined by ", "}?`
 *
 * @example
 * ```ts
 * numbersQuestion(["lamp", "river"]); // "\nWhat are the special magic numbers for lamp, river?"
 * ```
 */
export function numbersQuestion(keys: readonly string[]): string {
  return `\nWhat are the special magic numbers for ${keys.join(", ")}?`;
}

/**
 * The answer prefix of several numbers: ` The special magic numbers for {keys joined by ", "} are`
 *
 * @example
 * ```ts
 * numbersAnswerPrefix(["lamp"]); // " The special magic numbers for lamp are"
 * ```
 */
export function numbersAnswerPrefix(keys: readonly string[]): string {
  return ` The special magic numbers for ${keys.join(", ")} are`;
}

/**
 * A variable-tracking statement: `VAR {name} = {value}.`, the value a number or a variable.
 *
 * @example
 * ```ts
 * assignment("QXZ", "482913"); // "VAR QXZ = 482913."
 * assignment("KDW", "QXZ"); // "VAR KDW = QXZ."
 * ```
 */
export function assignment(name: string, value: string): string {
  return `VAR ${name} = ${value}.`;
}

/**
 * The variable-tracking question: `\nWhich variables hold the value {value}?`
 *
 * @example
 * ```ts
 * variablesQuestion("482913"); // "\nWhich variables hold the value 482913?"
 * ```
 */
export function variablesQuestion(value: string): string {
  return `\nWhich variables hold the value ${value}?`;
}

/**
 * The variable-tracking answer prefix: ` The variables that hold the value {value} are`
 *
 * @example
 * ```ts
 * variablesAnswerPrefix("482913"); // " The variables that hold the value 482913 are"
 * ```
 */
export function variablesAnswerPrefix(value: string): string {
  return ` The variables that hold the value ${value} are`;
}

/**
 * The first line of a `common-words` context (the list follows, words joined by ", ", ending ".").
 *
 * @example
 * ```ts
 * COMMON_WORDS_HEADER; // "Below is a list of words. Some words appear more often than others.\n"
 * ```
 */
export const COMMON_WORDS_HEADER = "Below is a list of words. Some words appear more often than others.\n";

/**
 * The `common-words` question: `\nWhat are the {count} most common words in the list?`
 *
 * @example
 * ```ts
 * commonWordsQuestion(5); // "\nWhat are the 5 most common words in the list?"
 * ```
 */
export function commonWordsQuestion(count: number): string {
  return `\nWhat are the ${count} most common words in the list?`;
}

/**
 * The `common-words` answer prefix: ` The {count} most common words in the list are`
 *
 * @example
 * ```ts
 * commonWordsAnswerPrefix(5); // " The 5 most common words in the list are"
 * ```
 */
export function commonWordsAnswerPrefix(count: number): string {
  return ` The ${count} most common words in the list are`;
}

/**
 * The first line of a `frequent-words` context (the coded words follow, joined by " ", ending ".").
 *
 * @example
 * ```ts
 * FREQUENT_WORDS_HEADER; // "Below is a coded text. Some coded words appear more often than others.\n"
 * ```
 */
export const FREQUENT_WORDS_HEADER =
  "Below is a coded text. Some coded words appear more often than others.\n";

/**
 * The `frequent-words` question: `\nWhat are the {count} most frequent coded words in the text?`
 *
 * @example
 * ```ts
 * frequentWordsQuestion(3); // "\nWhat are the 3 most frequent coded words in the text?"
 * ```
 */
export function frequentWordsQuestion(count: number): string {
  return `\nWhat are the ${count} most frequent coded words in the text?`;
}

/**
 * The `frequent-words` answer prefix: ` The {count} most frequent coded words in the text are`
 *
 * @example
 * ```ts
 * frequentWordsAnswerPrefix(3); // " The 3 most frequent coded words in the text are"
 * ```
 */
export function frequentWordsAnswerPrefix(count: number): string {
  return ` The ${count} most frequent coded words in the text are`;
}

/**
 * The expected continuation of the answer prefix: `" " + answers.join(", ") + "."`.
 *
 * @example
 * ```ts
 * answerList(["482913"]); // " 482913."
 * answerList(["QXZ", "KDW"]); // " QXZ, KDW."
 * ```
 */
export function answerList(answers: readonly string[]): string {
  return ` ${answers.join(", ")}.`;
}
