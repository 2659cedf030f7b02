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
}

const tokenizerJsonSchema = z.object({ model: z.object({ vocab: z.record(z.number()) }).passthrough(), added_tokens: z.array(z.object({ id: z.number(), content: z.string() })) }).passthrough();

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
  if (!parsed.success) throw new InvalidArgumentError('tokenizer.json', `not a byte-level BPE tokenizer file: ${parsed.error.issues[0].message}`);
  if (!Number.isInteger(maxLength) || maxLength < 3) throw new InvalidArgumentError('maxLength', `must be an integer >= 3, got ${maxLength}`);
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
    encode,
    encodeBatch(prompts) {
      const ids = new Int32Array(prompts.length * maxLength);
      prompts.forEach((p, i) => ids.set(encode(p), i * maxLength));
      return ids;
    },
  };
}
