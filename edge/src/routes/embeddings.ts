import { Hono } from 'hono';
import { z } from 'zod';
import { promptProblem } from '../../../models/text/tokenizer.ts';
import { toFloat16Array } from '../../../models/onnx/fp16.ts';
import type { AppEnv } from '../env.ts';
import { ApiError } from '../errors.ts';
import { getManifest, parseModelRef, resolveVersion } from '../lib/bundles.ts';
import { textEncoderFor } from '../lib/text-encoder.ts';
import { embeddingKey, lookup, remember, store } from '../lib/embedding-cache.ts';
import { MAX_PROMPT_CHARS, MAX_PROMPTS } from '../lib/limits.ts';
import { jsonBody, parseOr400 } from '../lib/validate.ts';
import { openAiEmbeddings } from './openai-embeddings.ts';

export const embeddingsRequestSchema = z
  .object({
    model: z.string().min(1).max(200),
    prompts: z
      .array(z.string().max(MAX_PROMPT_CHARS, `at most ${MAX_PROMPT_CHARS} characters`))
      .min(1)
      .max(MAX_PROMPTS, `at most ${MAX_PROMPTS} prompts`),
    negative_prompt: z.string().max(MAX_PROMPT_CHARS).optional(),
    format: z.enum(['json', 'f32', 'f16']).default('json'),
  })
  .strict();

/** The JSON answer to a `prompts` request (format json): states [T][D] per prompt and for the negative. */
export const embeddingsResponseSchema = z.object({
  model: z.string(),
  version: z.string(),
  dims: z.tuple([z.number().int(), z.number().int()]),
  cache: z.enum(['hit', 'miss', 'partial']),
  per_prompt_cache: z.array(z.enum(['hit', 'miss'])),
  embeddings: z.array(z.array(z.array(z.number()))),
  negative: z.array(z.array(z.number())),
});

export const embeddings = new Hono<AppEnv>();

/**
 * Per-token text-encoder states for each prompt plus the negative (or empty) prompt, which the client
 * uses as the unconditional input of classifier-free guidance. Cached per (model version, normalized prompt).
 */
embeddings.post('/', async (c) => {
  const raw = await jsonBody(c.req.raw);
  // OpenAI's shape names its texts `input`; ours `prompts`.
  if (raw && typeof raw === 'object' && 'input' in raw) return openAiEmbeddings(c, raw);
  const body = parseOr400(embeddingsRequestSchema, raw);
  const ref = parseModelRef(body.model);
  const version = await resolveVersion(c.env, ref.name, ref.version);
  const manifest = await getManifest(c.env, ref.name, version);
  const encoder = await textEncoderFor(c.env, manifest);
  const all = [...body.prompts, body.negative_prompt ?? ''];
  all.forEach((p, i) => {
    const problem = promptProblem(encoder.tokenizer, p);
    if (problem)
      throw new ApiError(400, problem.code, `${i < body.prompts.length ? `prompts.${i}` : 'negative_prompt'} ${problem.message}`);
  });
  const keys = await Promise.all(all.map((p) => embeddingKey(manifest, p)));
  const found = await Promise.all(keys.map((k) => lookup(c.env, k)));
  const missing = all.map((p, i) => ({ p, i })).filter(({ i }) => !found[i]);
  const [T, D] = [manifest.tokenizer.maxLength, manifest.networks.textEncoder.width];
  const size = T * D;
  const states: Float32Array[] = found.map((f) => f?.bytes ?? new Float32Array(0));
  if (missing.length) {
    const out = await encoder.encode(missing.map((m) => m.p));
    missing.forEach(({ i }, k) => (states[i] = out.hidden.data.slice(k * size, (k + 1) * size)));
  }
  all.forEach((_, i) => remember(keys[i], states[i]));
  // Write back misses everywhere, and KV-only hits into this colo's cache, after answering.
  const writes = all
    .map((_, i) => (found[i] && found[i].source !== 'kv' ? undefined : store(c.env, keys[i], states[i], !found[i])))
    .filter(Boolean);
  c.executionCtx.waitUntil(Promise.all(writes));
  const cacheState = missing.length === 0 ? 'hit' : missing.length === all.length ? 'miss' : 'partial';
  const perPrompt = found.map((f) => (f ? 'hit' : 'miss') as 'hit' | 'miss');
  const headers = { 'x-cache': cacheState, 'x-embedding-dims': `${all.length},${T},${D}`, 'cache-control': 'no-store' };
  if (body.format !== 'json') {
    const flat = new Float32Array(all.length * size);
    states.forEach((s, i) => flat.set(s, i * size));
    const bytes = body.format === 'f16' ? new Uint8Array(toFloat16Array(flat).buffer) : flat;
    return new Response(bytes as Uint8Array<ArrayBuffer> | Float32Array<ArrayBuffer>, {
      headers: {
        ...headers,
        'content-type': 'application/octet-stream',
        'x-embedding-dtype': body.format === 'f16' ? 'float16' : 'float32',
      },
    });
  }
  const rows = (s: Float32Array) => Array.from({ length: T }, (_, t) => Array.from(s.subarray(t * D, (t + 1) * D)));
  const answer: z.infer<typeof embeddingsResponseSchema> = {
    model: manifest.name,
    version: manifest.version,
    dims: [T, D],
    cache: cacheState,
    per_prompt_cache: perPrompt,
    embeddings: states.slice(0, body.prompts.length).map(rows),
    negative: rows(states[states.length - 1]),
  };
  return c.json(answer, 200, headers);
});
