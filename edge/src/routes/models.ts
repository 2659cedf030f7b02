import { Hono } from 'hono';
import { z } from 'zod';
import { fileKey } from '../../../models/bundle/keys.ts';
import { bundlePathSchema, sha256Hex } from '../../../models/bundle/manifest.ts';
import type { AppEnv } from '../env.ts';
import { ApiError } from '../errors.ts';
import { getManifest, listModelNames, parseModelRef, resolveVersion } from '../lib/bundles.ts';
import { noneMatch, orNotModified, rangeStillValid } from '../lib/conditional.ts';
import { parseRange } from '../lib/range.ts';
import { parseOr400 } from '../lib/validate.ts';

const IMMUTABLE = 'public, max-age=31536000, immutable';
const TYPES: Record<string, string> = {
  onnx: 'application/octet-stream',
  json: 'application/json',
  txt: 'text/plain; charset=utf-8',
  png: 'image/png',
};

/** GET /v1/models: each published model's latest version and what the page needs to offer it. */
export const modelListSchema = z.object({
  models: z.array(
    z.object({
      name: z.string(),
      version: z.string(),
      imageSize: z.number().int(),
      createdAt: z.string(),
      defaults: z.object({ steps: z.number().int(), guidance: z.number(), sampler: z.string() }),
      upscaler: z.boolean(),
    }),
  ),
});

export const models = new Hono<AppEnv>();

models.get('/', async (c) => {
  const names = await listModelNames(c.env);
  const out: z.infer<typeof modelListSchema>['models'] = [];
  for (const name of names) {
    try {
      const version = await resolveVersion(c.env, name);
      const m = await getManifest(c.env, name, version);
      out.push({
        name,
        version,
        imageSize: m.imageSize,
        createdAt: m.createdAt,
        defaults: m.diffusion.defaults,
        upscaler: Boolean(m.upscale),
      });
    } catch (e) {
      // A model folder without a complete published version is not listed.
      if (!(e instanceof ApiError)) throw e;
    }
  }
  // The list's ETag is a digest of what it lists: each model's current version.
  const etag = `W/"${(await sha256Hex(new TextEncoder().encode(out.map((m) => `${m.name}@${m.version}`).join('\n')))).slice(0, 16)}"`;
  const headers = { 'cache-control': 'public, max-age=30', etag };
  return orNotModified(c, headers, () => c.json({ models: out }, 200, headers));
});

models.get('/:ref', async (c) => {
  const { name, version } = parseModelRef(c.req.param('ref'));
  const v = await resolveVersion(c.env, name, version);
  const manifest = await getManifest(c.env, name, v);
  // A pinned version never changes; "latest" may move, so it is revalidated (its ETag is the version's).
  const headers = { 'cache-control': version ? IMMUTABLE : 'public, max-age=30', etag: `"${v}"` };
  return orNotModified(c, headers, () => c.json(manifest, 200, headers));
});

/** Files by version: ETag, If-None-Match → 304, Range → 206/416, immutable caching. */
models.get('/:name/:version/*', async (c) => {
  const { name, version } = parseModelRef(`${c.req.param('name')}@${c.req.param('version')}`);
  const prefix = `/v1/models/${c.req.param('name')}/${c.req.param('version')}/`;
  const raw = new URL(c.req.url).pathname.slice(prefix.length);
  let path: string;
  try {
    path = decodeURIComponent(raw);
  } catch {
    throw new ApiError(400, 'invalid_path', 'file path is not valid percent-encoding');
  }
  path = parseOr400(bundlePathSchema, path, 'invalid_path');
  const key = fileKey(name, version!, path);
  const head = await c.env.MODELS.head(key);
  if (!head) throw new ApiError(404, 'not_found', `${name}@${version} has no file ${path}`);
  const headers = new Headers({
    etag: head.httpEtag,
    'last-modified': head.uploaded.toUTCString(),
    'cache-control': IMMUTABLE,
    'accept-ranges': 'bytes',
    'content-type': TYPES[path.split('.').pop() ?? ''] ?? 'application/octet-stream',
  });
  if (head.customMetadata?.sha256) headers.set('x-content-sha256', head.customMetadata.sha256);
  if (noneMatch(c.req.header('if-none-match'), head.httpEtag)) return new Response(null, { status: 304, headers });
  // A stale If-Range validator means the client's partial copy is of something else: send it all.
  const range = rangeStillValid(c.req.header('if-range'), head.httpEtag, head.uploaded)
    ? parseRange(c.req.header('range'), head.size)
    : undefined;
  if (range === 'unsatisfiable')
    throw new ApiError(416, 'range_not_satisfiable', `range outside 0-${head.size - 1}`, { 'content-range': `bytes */${head.size}` });
  const obj = await c.env.MODELS.get(key, range ? { range: { offset: range.start, length: range.end - range.start + 1 } } : {});
  if (!obj) throw new ApiError(404, 'not_found', `${name}@${version} has no file ${path}`);
  // workers-types' and the DOM's ReadableStream are the same object at run time, distinct nominal types.
  const stream = c.req.method === 'HEAD' ? null : (obj.body as unknown as ReadableStream);
  if (range) {
    headers.set('content-range', `bytes ${range.start}-${range.end}/${head.size}`);
    headers.set('content-length', String(range.end - range.start + 1));
    return new Response(stream, { status: 206, headers });
  }
  headers.set('content-length', String(head.size));
  return new Response(stream, { status: 200, headers });
});
