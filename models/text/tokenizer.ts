import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { z } from 'zod';
import { InvalidArgumentError } from '../errors.ts';

export const SPECIAL_TOKENS = { pad: '<pad>', bos: '<bos>', eos: '<eos>' } as const;

/** The ids a text encoder sees: <bos> prompt <eos> <pad>…, always exactly maxLength long. */
export interface PromptTokenizer {
  readonly maxLength: number;
  readonly padId: number;
  readonly vocabSize: number;
  encode(prompt: string): Int32Array;
  /** Several prompts as one row-major [n, maxLength] id matrix, as the text encoder takes them. */
  encodeBatch(prompts: string[]): Int32Array;
  /** Number of prompt tokens before truncation (without <bos>/<eos>), for "prompt too long" checks. */
  countTokens(prompt: string): number;
  /**
   * Characters of the prompt this vocabulary cannot represent (a byte it lacks): byte-level BPE would
   * silently drop them. Empty for tokenizers with the full byte alphabet (every tokenizer trained now).
   */
  unrepresentable(prompt: string): string[];
}

const tokenizerJsonSchema = z
  .object({
    model: z.object({ vocab: z.record(z.number()) }).passthrough(),
    added_tokens: z.array(z.object({ id: z.number(), content: z.string() })),
  })
  .passthrough();

/** The 256 characters GPT-2's byte-level BPE uses for the bytes 0–255 (printable ones map to themselves). */
export function byteLevelAlphabet(): string[] {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  let next = 256;
  return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(printable(b) ? b : next++));
}

/** Prompts are compared and cached in this form: trimmed, whitespace collapsed, lower case. */
export function normalizePrompt(prompt: string): string {
  return prompt.normalize('NFKC').trim().replace(/\s+/g, ' ').toLowerCase();
}

/**
 * Runtime tokenizer on the pure-JS `@huggingface/tokenizers` (works in Node, browsers and Workers), loading
 * the HF-format tokenizer.json that the trainer writes with the native `tokenizers` package.
 */
export function loadTokenizer(tokenizerJson: unknown, maxLength: number): PromptTokenizer {
  const parsed = tokenizerJsonSchema.safeParse(tokenizerJson);
  if (!parsed.success)
    throw new InvalidArgumentError('tokenizer.json', `not a byte-level BPE tokenizer file: ${parsed.error.issues[0].message}`);
  if (!Number.isInteger(maxLength) || maxLength < 3)
    throw new InvalidArgumentError('maxLength', `must be an integer >= 3, got ${maxLength}`);
  const special = new Map(parsed.data.added_tokens.map((t) => [t.content, t.id]));
  const id = (name: keyof typeof SPECIAL_TOKENS) => {
    const v = special.get(SPECIAL_TOKENS[name]);
    if (v === undefined) throw new InvalidArgumentError('tokenizer.json', `missing special token ${SPECIAL_TOKENS[name]}`);
    return v;
  };
  const pad = id('pad');
  const bos = id('bos');
  const eos = id('eos');
  const vocabSize = Math.max(...Object.values(parsed.data.model.vocab), ...special.values()) + 1;
  const hf = new HfTokenizer(parsed.data, {});
  const alphabet = byteLevelAlphabet();
  const missingBytes = new Set(alphabet.flatMap((ch, b) => (ch in parsed.data.model.vocab ? [] : [b])));
  const utf8 = new TextEncoder();
  const raw = (prompt: string) => hf.encode(normalizePrompt(prompt), { add_special_tokens: false }).ids;
  const encode = (prompt: string) => {
    const body = raw(prompt).slice(0, maxLength - 2);
    const out = new Int32Array(maxLength).fill(pad);
    out[0] = bos;
    out.set(body, 1);
    out[body.length + 1] = eos;
    return out;
  };
  return {
    maxLength,
    padId: pad,
    vocabSize,
    countTokens: (prompt) => raw(prompt).length,
    unrepresentable: (prompt) =>
      missingBytes.size === 0
        ? []
        : [...new Set(normalizePrompt(prompt))].filter((ch) => [...utf8.encode(ch)].some((b) => missingBytes.has(b))),
    encode,
    encodeBatch(prompts) {
      const ids = new Int32Array(prompts.length * maxLength);
      prompts.forEach((p, i) => ids.set(encode(p), i * maxLength));
      return ids;
    },
  };
}

/** Why a prompt cannot be encoded faithfully (too many tokens, or characters the vocabulary lacks), if it cannot. */
export function promptProblem(
  tokenizer: PromptTokenizer,
  prompt: string,
): { code: 'prompt_too_long' | 'unsupported_text'; message: string } | undefined {
  const n = tokenizer.countTokens(prompt);
  if (n > tokenizer.maxLength - 2)
    return { code: 'prompt_too_long', message: `has ${n} tokens; this model takes at most ${tokenizer.maxLength - 2}` };
  const lost = tokenizer.unrepresentable(prompt);
  if (lost.length)
    return { code: 'unsupported_text', message: `has characters this model's vocabulary cannot represent: ${lost.slice(0, 8).join(' ')}` };
  return undefined;
}
