import * as ort from 'onnxruntime-node';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLE_FILES, parseManifest, sha256Hex, type Manifest } from '../models/bundle/manifest.ts';
import { loadTokenizer, type PromptTokenizer } from '../models/text/tokenizer.ts';
import type { DiffusionRuntime, Tensor } from '../models/pipeline/runtime.ts';
import { bundleRuntime, embedImages, encodeText } from '../models/pipeline/ort-runtime.ts';
import { type NodeSessionOptions, nodeSessions } from './ort-sessions.ts';

export interface NodeBundle {
  dir: string;
  manifest: Manifest;
  tokenizer: PromptTokenizer;
  runtime(): Promise<DiffusionRuntime>;
  /** Text encoder outputs for prompts: per-token states [B, T, D] and normalised CLIP embeddings [B, P]. */
  encodeText(prompts: string[]): Promise<{ hidden: Tensor; embeds: Float32Array[] }>;
  embedImages(images: Tensor): Promise<Float32Array[]>;
}

/** Open a bundle folder with onnxruntime-node, checking every file against the manifest's SHA-256 first. */
export async function openBundle(dir: string, options: NodeSessionOptions = {}): Promise<NodeBundle> {
  const manifest = parseManifest(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));
  for (const [path, f] of Object.entries(manifest.files)) {
    const bytes = readFileSync(join(dir, path));
    const hash = await sha256Hex(bytes);
    if (hash !== f.sha256 || bytes.length !== f.size)
      throw new Error(`${join(dir, path)} does not match the manifest (sha256 ${hash}, ${bytes.length} bytes)`);
  }
  const tokenizer = loadTokenizer(JSON.parse(readFileSync(join(dir, BUNDLE_FILES.tokenizer), 'utf8')), manifest.tokenizer.maxLength);
  const sessions = nodeSessions((file) => join(dir, file), options);
  return {
    dir,
    manifest,
    tokenizer,
    runtime: () => bundleRuntime(ort, manifest.files, sessions),
    encodeText: (prompts) => encodeText(ort, sessions, tokenizer, prompts),
    embedImages: (images) => embedImages(ort, sessions, images),
  };
}
