import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { normalizePrompt, SPECIAL_TOKENS } from '../models/text/tokenizer.ts';
import { selfContainedTokenizerJson } from '../models/text/tokenizer-json.ts';

// The native HF package is CommonJS with N-API bindings.
const native = createRequire(import.meta.url)('tokenizers') as typeof import('tokenizers');

/**
 * Train a byte-level BPE on the captions with HF `tokenizers` (native) and return the tokenizer.json
 * text, self-contained (normalizer, framing, padding, every byte; see selfContainedTokenizerJson). Special
 * tokens are added after training so they take fresh ids past the learned vocabulary.
 */
export function trainTokenizer(captions: string[], maxLength: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'tokenizer-'));
  try {
    const corpus = join(dir, 'captions.txt');
    // Every printable ASCII character once, so prompts with characters absent from the captions still encode.
    const ascii = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('');
    writeFileSync(corpus, [...captions.map(normalizePrompt), ascii].join('\n'));
    const tok = new native.Tokenizer(native.BPE.empty());
    tok.setPreTokenizer(native.byteLevelPreTokenizer(false, true));
    tok.train([corpus]);
    tok.addSpecialTokens([SPECIAL_TOKENS.pad, SPECIAL_TOKENS.bos, SPECIAL_TOKENS.eos]);
    const out = join(dir, 'tokenizer.json');
    tok.save(out);
    return JSON.stringify(selfContainedTokenizerJson(JSON.parse(readFileSync(out, 'utf8')), maxLength, { completeAlphabet: true }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
