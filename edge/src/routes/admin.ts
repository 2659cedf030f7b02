import { Hono } from 'hono';
import { z } from 'zod';
import { fileKey, latestKey, manifestKey } from '../../../models/bundle/keys.ts';
import { bundlePathSchema, modelNameSchema, parseManifest, sha256Hex, versionSchema } from '../../../models/bundle/manifest.ts';
import type { AppEnv } from '../env.ts';
import { ApiError } from '../errors.ts';
import { requirePublishToken } from '../middleware/auth.ts';
import { jsonBody, parseOr400 } from '../lib/validate.ts';

const DEFAULT_MAX_UPLOAD = 64 * 1024 * 1024;
const KEY = /^models\/([^/]+)\/([^/]+)\/(manifest\.json|files\/(.+))$/;

/** Only bundle keys may be written: models/<name>/<version>/manifest.json or …/files/<bundle path>. */
function parseObjectKey(key: string): { name: string; version: string; path?: string } {
  const m = KEY.exec(key);
  if (!m)
    throw new ApiError(400, 'invalid_key', 'key must be models/<name>/<version>/manifest.json or models/<name>/<version>/files/<path>');
  const name = parseOr400(modelNameSchema, m[1], 'invalid_key');
  const version = parseOr400(versionSchema, m[2], 'invalid_key');
  const path = m[4] === undefined ? undefined : parseOr400(bundlePathSchema, m[4], 'invalid_key');
  return { name, version, path };
}

export const latestRequestSchema = z.object({ version: versionSchema }).strict();

export const admin = new Hono<AppEnv>();
admin.use('*', requirePublishToken);

admin.on('HEAD', '/objects/*', async (c) => {
  const key = c.req.path.slice('/v1/admin/objects/'.length);
  parseObjectKey(key);
  const head = await c.env.MODELS.head(key);
  if (!head) return c.body(null, 404);
  return c.body(null, 200, { 'x-content-sha256': head.customMetadata?.sha256 ?? '', 'content-length': String(head.size) });
});

/**
 * Upload one object of a bundle. The body's SHA-256 must equal x-content-sha256; a manifest must pass the
 * schema and name its own key's model and version. Objects are immutable: a second upload must be identical.
 */
admin.put('/objects/*', async (c) => {
  const key = c.req.path.slice('/v1/admin/objects/'.length);
  const { name, version, path } = parseObjectKey(key);
  const limit = Number(c.env.MAX_UPLOAD_BYTES ?? DEFAULT_MAX_UPLOAD);
  const declared = Number(c.req.header('content-length') ?? NaN);
  if (declared > limit) throw new ApiError(413, 'payload_too_large', `at most ${limit} bytes per object`);
  const expected = c.req.header('x-content-sha256');
  if (!expected || !/^[0-9a-f]{64}$/.test(expected))
    throw new ApiError(400, 'missing_hash', 'send the body SHA-256 (hex) in x-content-sha256');
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  if (bytes.length > limit) throw new ApiError(413, 'payload_too_large', `at most ${limit} bytes per object`);
  const actual = await sha256Hex(bytes);
  if (actual !== expected) throw new ApiError(400, 'hash_mismatch', `body SHA-256 is ${actual}, not ${expected}`);
  if (!path) {
    let manifest: ReturnType<typeof parseManifest>;
    try {
      manifest = parseManifest(JSON.parse(new TextDecoder().decode(bytes)));
    } catch (e) {
      throw new ApiError(400, 'invalid_manifest', e instanceof Error ? e.message : 'not a manifest');
    }
    if (manifest.name !== name || manifest.version !== version)
      throw new ApiError(400, 'invalid_manifest', `manifest is ${manifest.name}@${manifest.version}, key says ${name}@${version}`);
  }
  const existing = await c.env.MODELS.head(key);
  if (existing) {
    if (existing.customMetadata?.sha256 === actual) return c.json({ key, sha256: actual, size: bytes.length, stored: false });
    throw new ApiError(409, 'immutable', `${key} exists with different content; publish a new version`);
  }
  await c.env.MODELS.put(key, bytes, {
    customMetadata: { sha256: actual },
    httpMetadata: { contentType: c.req.header('content-type') ?? 'application/octet-stream' },
  });
  return c.json({ key, sha256: actual, size: bytes.length, stored: true }, 201);
});

/** Switch a model's latest version, only once its manifest and every file it lists are stored intact. */
admin.put('/models/:name/latest', async (c) => {
  const name = parseOr400(modelNameSchema, c.req.param('name'), 'invalid_model');
  const { version } = parseOr400(latestRequestSchema, await jsonBody(c.req.raw));
  const obj = await c.env.MODELS.get(manifestKey(name, version));
  if (!obj) throw new ApiError(409, 'incomplete_bundle', `${name}@${version} has no manifest yet`);
  const manifest = parseManifest(await obj.json());
  for (const [path, f] of Object.entries(manifest.files)) {
    const head = await c.env.MODELS.head(fileKey(name, version, path));
    if (!head || head.customMetadata?.sha256 !== f.sha256 || head.size !== f.size)
      throw new ApiError(409, 'incomplete_bundle', `${name}@${version} is missing ${path} or it does not match the manifest`);
  }
  await c.env.MODELS.put(latestKey(name), JSON.stringify({ version }), { httpMetadata: { contentType: 'application/json' } });
  return c.json({ name, latest: version });
});
