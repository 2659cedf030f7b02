import type { Context } from 'hono';
import { z } from 'zod';
import { promptProblem } from '../../../models/text/tokenizer.ts';
import type { AppEnv } from '../env.ts';
import { ApiError } from '../errors.ts';
import { getManifest, parseModelRef, resolveVersion } from '../lib/bundles.ts';
import { textEncoderFor } from '../lib/text-encoder.ts';
import { parseOr400 } from '../lib/validate.ts';
import { MAX_PROMPT_CHARS, MAX_PROMPTS } from '../lib/limits.ts';

const text = z.string().max(MAX_PROMPT_CHARS, `at most ${MAX_PROMPT_CHARS} characters`);

/** The OpenAI embeddings request, as its clients send it (token-id inputs are not supported). */
export const openAiEmbeddingsRequestSchema = z
  .object({
    model: z.string().min(1).max(200),
    input: z.union([text, z.array(text).min(1).max(MAX_PROMPTS, `at most ${MAX_PROMPTS} inputs`)]),
    encoding_format: z.enum(['float', 'base64']).default('float'),
    dimensions: z.number().int().positive().optional(),
    user: z.string().max(256).optional(),
  })
  .strict();

export const openAiEmbeddingsResponseSchema = z.object({
  object: z.literal('list'),
  data: z.array(
    z.object({
      object: z.literal('embedding'),
      index: z.number().int(),
      embedding: z.union([z.array(z.number()), z.string().describe('base64 of little-endian float32')]),
    }),
  ),
  model: z.string(),
  usage: z.object({ prompt_tokens: z.number().int(), total_tokens: z.number().int() }),
});

/** Little-endian float32 bytes in base64, as OpenAI's `encoding_format: "base64"` returns them. */
function base64Floats(v: Float32Array): string {
  const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

/**
 * `POST /v1/embeddings` in the OpenAI shape: one pooled, L2-normalised CLIP text embedding per input (the
 * vector for similarity and retrieval; the per-token diffusion states stay in the project's own format).
 * Not cached in KV: a pooled vector is cheap, and uncached work must not be a way to fill KV.
 */
export async function openAiEmbeddings(c: Context<AppEnv>, raw: unknown): Promise<Response> {
  const body = parseOr400(openAiEmbeddingsRequestSchema, raw);
  const inputs = typeof body.input === 'string' ? [body.input] : body.input;
  const ref = parseModelRef(body.model);
  const manifest = await getManifest(c.env, ref.name, await resolveVersion(c.env, ref.name, ref.version));
  const dims = manifest.networks.textEncoder.projectionDim;
  if (body.dimensions !== undefined && body.dimensions !== dims)
    throw new ApiError(400, 'invalid_request', `dimensions: this model's embeddings have ${dims} dimensions`);
  const encoder = await textEncoderFor(c.env, manifest);
  let tokens = 0;
  inputs.forEach((p, i) => {
    const problem = promptProblem(encoder.tokenizer, p);
    if (problem) throw new ApiError(400, problem.code, `input${typeof body.input === 'string' ? '' : `.${i}`} ${problem.message}`);
    tokens += encoder.tokenizer.countTokens(p);
  });
  const { embeds } = await encoder.encode(inputs);
  const answer: z.infer<typeof openAiEmbeddingsResponseSchema> = {
    object: 'list',
    data: embeds.map((v, index) => ({
      object: 'embedding',
      index,
      embedding: body.encoding_format === 'base64' ? base64Floats(v) : Array.from(v),
    })),
    model: `${manifest.name}@${manifest.version}`,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  };
  return c.json(answer, 200, { 'cache-control': 'no-store' });
}
