import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../models/bundle/manifest.ts';
import { selfContainedTokenizerJson } from '../../models/text/tokenizer-json.ts';
import { byteLevelAlphabet, loadTokenizer, normalizePrompt, promptProblem } from '../../models/text/tokenizer.ts';
import { emojiCaptions } from '../../trainer/data/emoji.ts';
import { caption, generateScene } from '../../trainer/data/shapes.ts';
import { trainTokenizer } from '../../trainer/tokenizer-train.ts';
import { ROOT } from '../support/cli.ts';
import { openBundle } from '../../node/bundle.ts';

// The reference implementation: Hugging Face's native tokenizers, given nothing but the file.
const native = createRequire(import.meta.url)('tokenizers') as typeof import('tokenizers');

const ODD = [
  'Grinning Face',
  '  RED\t\n heart  ',
  'a\u00a0b\u2003c\u3000d\ufeffe',
  'ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ',
  'İstanbul ÉTÉ straße',
  'waving hand: medium-dark skin tone',
  'a small red circle above a large blue square '.repeat(6),
  '',
  '!!!???',
];

async function nativeIds(json: string, texts: string[]): Promise<number[][]> {
  const hf = native.Tokenizer.fromString(json);
  return Promise.all(texts.map(async (t) => (await hf.encode(t)).getIds()));
}

describe('tokenizer.json is self-contained', () => {
  for (const model of ['emoji', 'shapes']) {
    it(`${model}: the native HF tokenizer loading only the file gives the runtime's ids, on every caption and odd input`, async () => {
      const dir = join(ROOT, 'models/bundles', model);
      const manifest = parseManifest(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));
      const text = readFileSync(join(dir, 'tokenizer/tokenizer.json'), 'utf8');
      const ours = loadTokenizer(JSON.parse(text), manifest.tokenizer.maxLength);
      // The vocabulary is the one the text encoder was trained on.
      expect(ours.vocabSize).toBe(manifest.tokenizer.vocabSize);
      expect(ours.vocabSize).toBe(manifest.networks.textEncoder.vocabSize);
      const captions =
        model === 'emoji'
          ? emojiCaptions().captions.map((c) => c.caption)
          : Array.from({ length: 400 }, (_, i) => caption(generateScene(1, i, { maxObjects: 2 })));
      const texts = [...captions, ...ODD];
      const theirs = await nativeIds(text, texts);
      const mismatches = texts.filter((t, i) => theirs[i].join(',') !== Array.from(ours.encode(t)).join(','));
      expect(mismatches).toEqual([]);
      expect(theirs.every((ids) => ids.length === manifest.tokenizer.maxLength)).toBe(true);
      // Every byte has a token (the bytes its captions never used were added with zero embedding rows), so
      // no text is dropped or refused, and the text encoder takes the new ids.
      const vocab = (JSON.parse(text) as { model: { vocab: Record<string, number> } }).model.vocab;
      expect(byteLevelAlphabet().filter((ch) => !(ch in vocab))).toEqual([]);
      expect(ours.unrepresentable('café 日本語 ☃')).toEqual([]);
      const hf = native.Tokenizer.fromString(text);
      // Whatever fits the context decodes back to its normalised text.
      for (const t of ['Grinning Face', '  a  small RED circle ', 'waving hand: medium-dark skin tone'].filter(
        (x) => ours.countTokens(x) <= manifest.tokenizer.maxLength - 2,
      )) {
        expect(await hf.decode((await hf.encode(t)).getIds(), true)).toBe(normalizePrompt(t));
      }
      const { hidden } = await (await openBundle(dir)).encodeText(['café 日本語 ☃', 'red heart']);
      expect(hidden.data.every(Number.isFinite)).toBe(true);
    });
  }

  it('a newly trained tokenizer has every byte: non-ASCII text round-trips instead of vanishing', async () => {
    const json = trainTokenizer(['a small red circle', 'a large blue square'], 24);
    const ours = loadTokenizer(JSON.parse(json), 24);
    const vocab = (JSON.parse(json) as { model: { vocab: Record<string, number> } }).model.vocab;
    expect(byteLevelAlphabet().filter((ch) => !(ch in vocab))).toEqual([]);
    const hf = native.Tokenizer.fromString(json);
    for (const t of ['café au lait', '日本語', 'Ünïcödé  Text', 'a small red circle']) {
      expect(ours.unrepresentable(t)).toEqual([]);
      const ids = Array.from(ours.encode(t));
      expect((await hf.encode(t)).getIds()).toEqual(ids);
      expect(await hf.decode(ids, true)).toBe(normalizePrompt(t).trim());
    }
  });

  it('an older vocabulary that lacks bytes refuses text it would drop, instead of encoding less than it was given', () => {
    const full = JSON.parse(trainTokenizer(['abc'], 16));
    const legacy = structuredClone(full);
    for (const ch of byteLevelAlphabet().slice(128)) delete legacy.model.vocab[ch]; // no byte ≥ 0x80
    const tok = loadTokenizer(selfContainedTokenizerJson(legacy, 16, { completeAlphabet: false }), 16);
    expect(tok.unrepresentable('café 日本')).toEqual(['é', '日', '本']);
    expect(promptProblem(tok, 'café')).toEqual({
      code: 'unsupported_text',
      message: "has characters this model's vocabulary cannot represent: é",
    });
    expect(promptProblem(tok, 'cafe')).toBeUndefined();
    expect(promptProblem(tok, 'abc '.repeat(20))?.code).toBe('prompt_too_long');
  });
});
