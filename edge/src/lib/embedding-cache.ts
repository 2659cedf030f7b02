import { sha256Hex, type Manifest } from '../../../models/bundle/manifest.ts';
import { normalizePrompt } from '../../../models/text/tokenizer.ts';
import type { Env } from '../env.ts';

/**
 * The prompt-embedding cache, three tiers keyed by (model version, SHA-256 of the normalised prompt): this
 * isolate's memory, this colo's Cache API, then KV (global). Values are the float32 states of one prompt.
 */

/** A prompt's key: prompts equal after normalisation share it, and a new model version never sees old states. */
export async function embeddingKey(manifest: Pick<Manifest, 'name' | 'version'>, prompt: string): Promise<string> {
  return `emb/${manifest.name}/${manifest.version}/${await sha256Hex(new TextEncoder().encode(normalizePrompt(prompt)))}`;
}

type Cached = { bytes: Float32Array; source: 'memory' | 'cache' | 'kv' };

const cacheUrl = (key: string) => `https://embeddings.cache.invalid/${key}`;

/** Most recently used states in this isolate: hot prompts skip even the Cache API round trip. */
const MEMORY_ENTRIES = 512;
const memory = new Map<string, Float32Array>();
export function remember(key: string, bytes: Float32Array): void {
  memory.delete(key);
  memory.set(key, bytes);
  if (memory.size > MEMORY_ENTRIES) memory.delete(memory.keys().next().value!);
}

/** Look up one prompt's states: this isolate's memory, this colo's Cache API, then KV. */
export async function lookup(env: Env, key: string): Promise<Cached | undefined> {
  const hot = memory.get(key);
  if (hot) {
    remember(key, hot);
    return { bytes: hot, source: 'memory' };
  }
  const cache = await caches.open('embeddings');
  const hit = await cache.match(cacheUrl(key));
  if (hit) return { bytes: new Float32Array(await hit.arrayBuffer()), source: 'cache' };
  const kv = await env.EMBEDDINGS.get(key, 'arrayBuffer');
  if (kv) return { bytes: new Float32Array(kv), source: 'kv' };
  return undefined;
}

export async function store(env: Env, key: string, bytes: Float32Array, alsoKv: boolean): Promise<void> {
  const cache = await caches.open('embeddings');
  const body = bytes.slice().buffer;
  await Promise.all([
    cache.put(cacheUrl(key), new Response(body, { headers: { 'cache-control': 'public, max-age=31536000, immutable' } })),
    alsoKv ? env.EMBEDDINGS.put(key, body) : Promise.resolve(),
  ]);
}
