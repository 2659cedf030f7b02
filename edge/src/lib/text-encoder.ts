import { BUNDLE_FILES, type Manifest } from '../../../models/bundle/manifest.ts';
import { encodeText } from '../../../models/pipeline/ort-runtime.ts';
import type { Tensor } from '../../../models/pipeline/runtime.ts';
import { loadTokenizer, type PromptTokenizer } from '../../../models/text/tokenizer.ts';
import type { Env } from '../env.ts';
import { getFileBytes } from './bundles.ts';
import { edgeSessions } from './ort-sessions.ts';
import { workerdOrt } from './ort-workerd.ts';

export interface TextEncoder_ {
  tokenizer: PromptTokenizer;
  /**
   * Per-token hidden states [n, T, D] for n prompts (the diffusion condition), and each prompt's pooled CLIP
   * text embedding, L2-normalised (what retrieval and similarity use).
   */
  encode(prompts: string[]): Promise<{ hidden: Tensor; embeds: Float32Array[] }>;
}

const encoders = new Map<string, Promise<TextEncoder_>>();

async function load(env: Env, manifest: Manifest): Promise<TextEncoder_> {
  const ort = workerdOrt();
  const sessions = edgeSessions(env, manifest);
  const [tokenizerJson] = await Promise.all([
    getFileBytes(env, manifest, BUNDLE_FILES.tokenizer),
    sessions.session(BUNDLE_FILES.textEncoder),
  ]);
  const tokenizer = loadTokenizer(JSON.parse(new TextDecoder().decode(tokenizerJson)), manifest.tokenizer.maxLength);
  return { tokenizer, encode: (prompts) => encodeText(ort, sessions, tokenizer, prompts) };
}

/** The text encoder of one model version, loaded once per isolate (the version is immutable). */
export function textEncoderFor(env: Env, manifest: Manifest): Promise<TextEncoder_> {
  const key = `${manifest.name}@${manifest.version}`;
  let e = encoders.get(key);
  if (!e) {
    e = load(env, manifest);
    // A failed load must not poison the cache for later requests.
    e.catch(() => encoders.delete(key));
    encoders.set(key, e);
  }
  return e;
}
