import { GRAPHS } from '../../../models/bundle/graphs.ts';
import { BUNDLE_FILES, type Manifest } from '../../../models/bundle/manifest.ts';
import { loadTokenizer, type PromptTokenizer } from '../../../models/text/tokenizer.ts';
import type { Env } from '../env.ts';
import { getFileBytes } from './bundles.ts';
import { workerdOrt } from './ort-workerd.ts';

export interface TextEncoder_ {
  tokenizer: PromptTokenizer;
  /**
   * Per-token hidden states [n, T, D] for n prompts, as one float32 array (the diffusion condition), and
   * each prompt's pooled CLIP text embedding, L2-normalised (what retrieval and similarity use).
   */
  encode(prompts: string[]): Promise<{ data: Float32Array; dims: [number, number, number]; pooled: Float32Array[] }>;
}

const encoders = new Map<string, Promise<TextEncoder_>>();

async function load(env: Env, manifest: Manifest): Promise<TextEncoder_> {
  const ort = workerdOrt();
  const [model, tokenizerJson] = await Promise.all([
    getFileBytes(env, manifest, BUNDLE_FILES.textEncoder),
    getFileBytes(env, manifest, BUNDLE_FILES.tokenizer),
  ]);
  const tokenizer = loadTokenizer(JSON.parse(new TextDecoder().decode(tokenizerJson)), manifest.tokenizer.maxLength);
  const session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'] });
  const T = tokenizer.maxLength;
  return {
    tokenizer,
    async encode(prompts) {
      const ids = BigInt64Array.from(tokenizer.encodeBatch(prompts), (id) => BigInt(id));
      const g = GRAPHS.textEncoder;
      const out = await session.run({ [g.inputs.ids]: new ort.Tensor('int64', ids, [prompts.length, T]) });
      const h = out[g.outputs.hidden];
      const e = out[g.outputs.pooled].data as Float32Array;
      const P = e.length / prompts.length;
      const pooled = prompts.map((_, i) => {
        const v = e.slice(i * P, (i + 1) * P);
        const norm = Math.hypot(...v) || 1;
        return v.map((x) => x / norm);
      });
      return { data: h.data as Float32Array, dims: [prompts.length, T, h.dims[2]], pooled };
    },
  };
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
