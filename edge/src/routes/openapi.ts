import { extendZodWithOpenApi, OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { Hono } from 'hono';
import { z } from 'zod';
import { manifestObject, modelNameSchema, sha256Hex, versionSchema } from '../../../models/bundle/manifest.ts';
import { orNotModified } from '../lib/conditional.ts';
import type { AppEnv } from '../env.ts';
import { latestRequestSchema } from './admin.ts';
import { embeddingsRequestSchema, embeddingsResponseSchema } from './embeddings.ts';
import { modelListSchema } from './models.ts';
import { openAiEmbeddingsRequestSchema, openAiEmbeddingsResponseSchema } from './openai-embeddings.ts';

extendZodWithOpenApi(z);

/**
 * The API description, generated from the zod schemas the routes validate requests with (and type their
 * responses by), so the two cannot drift; test/edge/openapi.test.ts checks it against the routes the app
 * really has and against the OpenAPI 3.1 schema.
 */
const registry = new OpenAPIRegistry();
const bearer = registry.registerComponent('securitySchemes', 'publishToken', { type: 'http', scheme: 'bearer' });
const ErrorBody = registry.register('Error', z.object({ error: z.object({ code: z.string(), message: z.string() }) }));
const json = (schema: z.ZodTypeAny) => ({ 'application/json': { schema } });
const errors = (...codes: number[]) =>
  Object.fromEntries(codes.map((c) => [c, { description: 'error: `{error: {code, message}}`', content: json(ErrorBody) }]));
const header = (description: string) => ({ description, schema: { type: 'string' as const } });

registry.registerPath({
  method: 'get',
  path: '/v1/health',
  summary: 'Liveness',
  responses: { 200: { description: 'ok', content: json(z.object({ ok: z.literal(true) })) } },
});
registry.registerPath({
  method: 'get',
  path: '/openapi.json',
  summary: 'This document',
  responses: { 200: { description: 'OpenAPI 3.1' } },
});
registry.registerPath({
  method: 'get',
  path: '/docs',
  summary: 'This document as a page',
  responses: { 200: { description: 'HTML', content: { 'text/html': { schema: z.string() } } } },
});
registry.registerPath({
  method: 'get',
  path: '/v1/models',
  summary: 'Published models and their latest versions (ETag; If-None-Match → 304)',
  responses: {
    200: { description: 'models', headers: { etag: header('changes when any latest version moves') }, content: json(modelListSchema) },
    304: { description: 'not modified' },
  },
});
registry.registerPath({
  method: 'get',
  path: '/v1/models/{ref}',
  summary: 'Manifest of a model: NAME (latest, max-age 30) or NAME@VERSION (immutable); ETag = "VERSION"',
  request: { params: z.object({ ref: z.string().describe('NAME or NAME@VERSION') }) },
  responses: {
    200: { description: 'the bundle manifest (docs/bundle-format.md)', content: json(manifestObject) },
    304: { description: 'not modified' },
    ...errors(400, 404),
  },
});
registry.registerPath({
  method: 'get',
  path: '/v1/models/{name}/{version}/{path}',
  summary: 'A bundle file: ETag and Last-Modified, If-None-Match (weak) → 304, Range → 206/416, If-Range, immutable caching',
  request: {
    params: z.object({
      name: modelNameSchema,
      version: versionSchema,
      path: z.string().describe("the file's path in the bundle; may contain '/'"),
    }),
    headers: z.object({ range: z.string().optional(), 'if-none-match': z.string().optional(), 'if-range': z.string().optional() }),
  },
  responses: {
    200: {
      description: 'the file',
      headers: { 'x-content-sha256': header('SHA-256 of the file') },
      content: { 'application/octet-stream': { schema: z.string() } },
    },
    206: { description: 'the byte range', content: { 'application/octet-stream': { schema: z.string() } } },
    304: { description: 'not modified' },
    ...errors(400, 404, 416),
  },
});
registry.registerPath({
  method: 'post',
  path: '/v1/embeddings',
  summary:
    'Prompt embeddings. With `prompts`: per-token text-encoder states of each prompt and of the negative (or empty) prompt, cached at the edge, as JSON or binary float32/float16 ((n+1)·T·D little-endian, x-embedding-dims: n+1,T,D). With `input` (OpenAI shape): pooled, L2-normalised CLIP text embeddings.',
  request: { body: { required: true, content: json(z.union([embeddingsRequestSchema, openAiEmbeddingsRequestSchema])) } },
  responses: {
    200: {
      description: 'states (prompts) or OpenAI embeddings (input)',
      headers: { 'x-cache': header('hit | miss | partial'), 'x-embedding-dims': header('n+1,T,D') },
      content: {
        'application/json': { schema: z.union([embeddingsResponseSchema, openAiEmbeddingsResponseSchema]) },
        'application/octet-stream': { schema: z.string() },
      },
    },
    ...errors(400, 404, 415, 429),
  },
});
registry.registerPath({
  method: 'put',
  path: '/v1/admin/objects/{key}',
  summary: 'Upload one bundle object (immutable: a second upload must be identical)',
  security: [{ [bearer.name]: [] }],
  request: {
    params: z.object({ key: z.string().describe('models/NAME/VERSION/manifest.json or models/NAME/VERSION/files/PATH') }),
    headers: z.object({
      'x-content-sha256': z
        .string()
        .regex(/^[0-9a-f]{64}$/)
        .describe('SHA-256 of the body, hex'),
    }),
    body: { required: true, content: { 'application/octet-stream': { schema: z.string() } } },
  },
  responses: {
    200: {
      description: 'already stored, identical',
      content: json(z.object({ key: z.string(), sha256: z.string(), size: z.number().int(), stored: z.literal(false) })),
    },
    201: {
      description: 'stored',
      content: json(z.object({ key: z.string(), sha256: z.string(), size: z.number().int(), stored: z.literal(true) })),
    },
    ...errors(400, 401, 403, 409, 413, 503),
  },
});
registry.registerPath({
  method: 'head',
  path: '/v1/admin/objects/{key}',
  summary: 'Whether a bundle object is stored (x-content-sha256, content-length)',
  security: [{ [bearer.name]: [] }],
  request: { params: z.object({ key: z.string() }) },
  responses: { 200: { description: 'stored' }, 404: { description: 'not stored' }, ...errors(400, 401, 403, 503) },
});
registry.registerPath({
  method: 'put',
  path: '/v1/admin/models/{name}/latest',
  summary: "Switch a model's latest version, once its manifest and every file are stored intact",
  security: [{ [bearer.name]: [] }],
  request: { params: z.object({ name: modelNameSchema }), body: { required: true, content: json(latestRequestSchema) } },
  responses: {
    200: { description: 'switched', content: json(z.object({ name: z.string(), latest: z.string() })) },
    ...errors(400, 401, 403, 409, 415, 503),
  },
});

export const openApiDocument = new OpenApiGeneratorV31(registry.definitions).generateDocument({
  openapi: '3.1.0',
  info: {
    title: 'edge-diffusion edge API',
    version: '1.0.0',
    description: 'Prompt embeddings, model bundles and publishing for in-browser text-to-image.',
  },
});

const escapeHtml = (s: string) => s.replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch]!);

/** A readable page of the same document, rendered here (no script or stylesheet from elsewhere). */
function docsPage(): string {
  const ops = Object.entries(openApiDocument.paths ?? {}).flatMap(([path, item]) =>
    Object.entries(
      item as Record<
        string,
        {
          summary?: string;
          parameters?: { name: string; in: string; description?: string }[];
          requestBody?: unknown;
          responses?: Record<string, { description?: string }>;
        }
      >,
    ).map(
      ([method, op]) => `<section><h2><code>${method.toUpperCase()} ${escapeHtml(path)}</code></h2><p>${escapeHtml(op.summary ?? '')}</p>
${op.parameters?.length ? `<p>Parameters: ${op.parameters.map((p) => `<code>${escapeHtml(p.name)}</code> (${p.in}${p.description ? `: ${escapeHtml(p.description)}` : ''})`).join(', ')}</p>` : ''}
${op.requestBody ? `<details><summary>Request body</summary><pre>${escapeHtml(JSON.stringify(op.requestBody, null, 2))}</pre></details>` : ''}
<p>Responses: ${Object.entries(op.responses ?? {})
        .map(([code, r]) => `<code>${code}</code> ${escapeHtml(r.description ?? '')}`)
        .join('; ')}</p></section>`,
    ),
  );
  return `<!doctype html><html lang="en"><meta charset="utf-8"><title>${escapeHtml(openApiDocument.info.title)}</title>
<style>body{font:15px/1.45 system-ui,sans-serif;max-width:900px;margin:0 auto;padding:12px;color:#222}pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:12px}section{border-top:1px solid #ddd}</style>
<h1>${escapeHtml(openApiDocument.info.title)}</h1><p>${escapeHtml(openApiDocument.info.description ?? '')} Machine-readable: <a href="/openapi.json">/openapi.json</a>. Errors are <code>{"error": {"code", "message"}}</code>.</p>
${ops.join('\n')}</html>`;
}

const documentJson = JSON.stringify(openApiDocument);
const page = docsPage();
// Both change only with a deployment: revalidated by their ETag (a digest of the content).
const digest = async (text: string) => `"${(await sha256Hex(new TextEncoder().encode(text))).slice(0, 16)}"`;
// Computed on the first request: Workers allow no crypto work at module scope.
const once = (text: string) => {
  let tag: Promise<string> | undefined;
  return () => (tag ??= digest(text));
};
const [documentEtag, pageEtag] = [once(documentJson), once(page)];

export const openapi = new Hono<AppEnv>();
openapi.get('/openapi.json', async (c) => {
  const headers = { etag: await documentEtag(), 'cache-control': 'public, max-age=0, must-revalidate', 'content-type': 'application/json' };
  return orNotModified(c, headers, () => c.body(documentJson, 200, headers));
});
openapi.get('/docs', async (c) => {
  const headers = {
    etag: await pageEtag(),
    'cache-control': 'public, max-age=0, must-revalidate',
    'content-type': 'text/html; charset=utf-8',
  };
  return orNotModified(c, headers, () => c.body(page, 200, headers));
});
