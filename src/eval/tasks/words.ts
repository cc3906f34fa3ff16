/** The fixed word lists of the task generators (keys, common words) and the made-up words and variable names they draw. */

import type { Rng } from "./rng.ts";

/**
 * Needle keys: 334 common, concrete English nouns (lowercase, one word each), so a key
 * is one or two tokens of a small vocabulary.
 *
 * @example
 * ```ts
 * rng.sample(KEYS, 4); // e.g. ["lamp", "river", "coin", "horse"]
 * ```
 */
export const KEYS: readonly string[] = `
apple arm baby bag ball band bank basket bath bean bear bed bee bell belt bench bird blanket boat body bone
book boot bottle bowl box boy branch bread brick bridge brush bucket button cake camera camp candle cap car
card carpet cart castle cat chain chair cheese cherry chest chicken child church circle city clock cloud coat
coin collar corn cotton cow crab crow crown cup curtain cushion desk dinner dog doll door dragon dress drum
duck eagle egg engine eye face farm feather fence field finger fish flag flame floor flower fork fox frog
garden gate ghost girl glass glove goat gold grape grass guitar hammer hand harbor hat heart hill honey hook
horn horse hospital house island jacket jar jewel kettle key king kitchen kite knee knife ladder lake lamp
leaf lemon letter library lion lip lock map market mask meadow milk mirror monkey moon mountain mouse mouth
nail needle nest net nose nut ocean office onion orange oven owl palace pan paper parrot pear pencil pepper
piano picture pig pillow pipe plane plate pocket pond potato prince pump queen rabbit rail rain ring river
road robot rock roof room rope rose sail salt sand scarf school sheep shelf shell ship shirt shoe shop
silver sister skirt sky snail snake sock soup spoon square stamp star station stick stone storm street
sugar sun swan sword table tail teacher temple tent thread throat thumb ticket tiger toe tomato tongue tooth
tower town toy train tree truck tunnel turtle umbrella valley van vase village violin wagon wall wallet
watch water wheel whistle window wing wire wolf worm yard zebra anchor arrow axe badge barrel beard blade
cabin canal cannon carrot cave chalk cliff comb compass cord crystal dice drawer feast fiddle forest
fountain garage hedge helmet hut jungle kitten lantern lizard magnet marble medal mill mitten mule oak oar
orchard palm parcel pebble pie plum puppy quilt raft rake ribbon saddle seed shovel sled spade spider
sponge statue stove tray trumpet tulip wasp
`.trim().split(/\s+/);

/**
 * Adjectives that, with {@linkcode KEYS}, make the vocabulary of the `common-words` lists.
 *
 * @example
 * ```ts
 * [...KEYS, ...ADJECTIVES].length; // 436
 * ```
 */
export const ADJECTIVES: readonly string[] = `
big small tall short long wide narrow thick thin heavy light dark bright loud quiet soft hard smooth rough
warm cold hot cool wet dry clean dirty new old young fresh rich poor happy sad angry calm brave shy kind
proud lazy busy quick slow sharp dull sweet sour bitter salty empty full round flat deep shallow strong weak
loose tight fancy plain wild gentle noisy silent early late cheap dear rare common simple strange famous
secret hidden golden wooden woolen silky rusty dusty sandy rocky sunny rainy windy snowy foggy stormy green
red blue yellow purple brown pink gray black white
`.trim().split(/\s+/);

const CONSONANTS = "bdfgklmnprstvz";
const VOWELS = "aeiou";

/**
 * A made-up word of two consonant-vowel syllables, such as `"bako"` or `"tefu"`
 * (14 * 5 * 14 * 5 = 4900 of them).
 *
 * @example
 * ```ts
 * madeUpWord(rng); // "zimo"
 * ```
 */
export function madeUpWord(rng: Rng): string {
  return rng.pick([...CONSONANTS]) + rng.pick([...VOWELS]) + rng.pick([...CONSONANTS]) +
    rng.pick([...VOWELS]);
}

/**
 * A variable name of three uppercase letters, such as `"QXZ"`, never `"VAR"`.
 *
 * @example
 * ```ts
 * variableName(rng); // "KDW"
 * ```
 */
export function variableName(rng: Rng): string {
  for (;;) {
    const name = String.fromCharCode(65 + rng.int(26), 65 + rng.int(26), 65 + rng.int(26));
    if (name !== "VAR") return name;
  }
}

/**
 * `count` distinct strings from `draw`, in the order drawn (draws again on a repeat).
 *
 * @example
 * ```ts
 * distinct(5, () => variableName(rng)); // ["QXZ", "KDW", ...]
 * ```
 */
export function distinct(
  count: number,
  draw: () => string,
  exclude: ReadonlySet<string> = new Set(),
): string[] {
  const seen = new Set(exclude);
  const out: string[] = [];
  while (out.length < count) {
    const item = draw();
    if (seen.has(item)) continue;
    seen.add(item);
    out.push(item);
  }
  return out;
}

/**
 * A random 6-digit number as text, `"100000"` to `"999999"`.
 *
 * @example
 * ```ts
 * sixDigits(rng); // "482913"
 * ```
 */
export function sixDigits(rng: Rng): string {
  return String(100000 + rng.int(900000));
}
