import { byteLevelAlphabet, SPECIAL_TOKENS } from './tokenizer.ts';

/**
 * JavaScript's `\s` (what normalizePrompt collapses), spelled out for the Rust regex in tokenizer.json so
 * both sides agree on every whitespace character.
 */
const WHITESPACE = '[\t\n\u000b\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+';

type Json = Record<string, unknown> & { model: { vocab: Record<string, number> }; added_tokens: { id: number; content: string }[] };

/**
 * Make a trained byte-level BPE tokenizer.json self-contained, so any Hugging Face tokenizers client gets
 * the ids our runtime gives: the prompt normalisation (NFKC, whitespace collapsed and trimmed, lower case),
 * `<bos> … <eos>` framing, truncation and padding to `maxLength`, and a ByteLevel decoder.
 * `completeAlphabet` adds every byte the captions never used, after the existing ids (so ids already in
 * use keep their meaning), so no input byte is dropped; only a tokenizer whose text encoder is yet to be
 * trained may grow.
 */
export function selfContainedTokenizerJson(json: Json, maxLength: number, options: { completeAlphabet: boolean }): Json {
  const out = structuredClone(json);
  if (options.completeAlphabet) {
    let id = Math.max(...Object.values(out.model.vocab), ...out.added_tokens.map((t) => t.id)) + 1;
    for (const ch of byteLevelAlphabet()) if (!(ch in out.model.vocab)) out.model.vocab[ch] = id++;
  }
  const special = (name: keyof typeof SPECIAL_TOKENS) => {
    const token = out.added_tokens.find((t) => t.content === SPECIAL_TOKENS[name]);
    if (!token) throw new Error(`tokenizer.json has no ${SPECIAL_TOKENS[name]}`);
    return token;
  };
  const [pad, bos, eos] = [special('pad'), special('bos'), special('eos')];
  const tok = (t: { id: number; content: string }) => ({ id: t.content, ids: [t.id], tokens: [t.content] });
  out.normalizer = {
    type: 'Sequence',
    normalizers: [
      { type: 'NFKC' },
      { type: 'Replace', pattern: { Regex: WHITESPACE }, content: ' ' },
      { type: 'Strip', strip_left: true, strip_right: true },
      { type: 'Lowercase' },
    ],
  };
  const seq = (id: 'A' | 'B') => ({ Sequence: { id, type_id: 0 } });
  const sp = (t: { content: string }) => ({ SpecialToken: { id: t.content, type_id: 0 } });
  out.post_processor = {
    type: 'TemplateProcessing',
    single: [sp(bos), seq('A'), sp(eos)],
    pair: [sp(bos), seq('A'), sp(eos), seq('B'), sp(eos)],
    special_tokens: { [bos.content]: tok(bos), [eos.content]: tok(eos) },
  };
  out.truncation = { direction: 'Right', max_length: maxLength, strategy: 'LongestFirst', stride: 0 };
  out.padding = {
    strategy: { Fixed: maxLength },
    direction: 'Right',
    pad_to_multiple_of: null,
    pad_id: pad.id,
    pad_type_id: 0,
    pad_token: pad.content,
  };
  out.decoder = { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true };
  return out;
}
