import * as ort from 'onnxruntime-node';
import { GRAPHS } from '../models/bundle/graphs.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLE_FILES, parseManifest, sha256Hex, type Manifest } from '../models/bundle/manifest.ts';
import { loadTokenizer, type PromptTokenizer } from '../models/text/tokenizer.ts';
import type { DiffusionRuntime, Tensor } from '../models/pipeline/runtime.ts';
import { bundleRuntime } from '../models/pipeline/ort-runtime.ts';

export interface NodeBundle {
  dir: string;
  manifest: Manifest;
  tokenizer: PromptTokenizer;
  session(file: string): Promise<ort.InferenceSession>;
  runtime(): Promise<DiffusionRuntime>;
  /** Text encoder outputs for prompts: per-token states [B, T, D] and normalised CLIP embeddings [B, P]. */
  encodeText(prompts: string[]): Promise<{ hidden: Tensor; embeds: Float32Array[] }>;
  embedImages(images: Tensor): Promise<Float32Array[]>;
}

const normalize = (v: Float32Array) => {
  const n = Math.hypot(...v) || 1;
  return v.map((x) => x / n);
};

/** Open a bundle folder with onnxruntime-node, checking every file against the manifest's SHA-256 first. */
export async function openBundle(dir: string): Promise<NodeBundle> {
  const manifest = parseManifest(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));
  for (const [path, f] of Object.entries(manifest.files)) {
    const bytes = readFileSync(join(dir, path));
    const hash = await sha256Hex(bytes);
    if (hash !== f.sha256 || bytes.length !== f.size)
      throw new Error(`${join(dir, path)} does not match the manifest (sha256 ${hash}, ${bytes.length} bytes)`);
  }
  const tokenizer = loadTokenizer(JSON.parse(readFileSync(join(dir, BUNDLE_FILES.tokenizer), 'utf8')), manifest.tokenizer.maxLength);
  const sessions = new Map<string, Promise<ort.InferenceSession>>();
  const session = (file: string) => {
    if (!sessions.has(file)) sessions.set(file, ort.InferenceSession.create(join(dir, file)));
    return sessions.get(file)!;
  };
  const vectors = (data: Float32Array, n: number) =>
    Array.from({ length: n }, (_, i) => normalize(data.slice((i * data.length) / n, ((i + 1) * data.length) / n)));
  return {
    dir,
    manifest,
    tokenizer,
    session,
    runtime: () => bundleRuntime(ort, manifest.files, session),
    async encodeText(prompts) {
      const ids = BigInt64Array.from(tokenizer.encodeBatch(prompts), (id) => BigInt(id));
      const g = GRAPHS.textEncoder;
      const out = await (await session(g.file)).run({
        [g.inputs.ids]: new ort.Tensor('int64', ids, [prompts.length, manifest.tokenizer.maxLength]),
      });
      const h = out[g.outputs.hidden];
      return {
        hidden: { data: h.data as Float32Array, dims: [...h.dims] },
        embeds: vectors(out[g.outputs.pooled].data as Float32Array, prompts.length),
      };
    },
    async embedImages(images) {
      const g = GRAPHS.imageEncoder;
      const out = await (await session(g.file)).run({ [g.inputs.pixels]: new ort.Tensor('float32', images.data, images.dims) });
      return vectors(out[g.outputs.embeds].data as Float32Array, images.dims[0]);
    },
  };
}
