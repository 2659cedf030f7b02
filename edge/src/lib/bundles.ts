import { z } from 'zod';
import { fileKey, latestKey, manifestKey } from '../../../models/bundle/keys.ts';
import { modelNameSchema, parseManifest, versionSchema, type Manifest } from '../../../models/bundle/manifest.ts';
import { ApiError } from '../errors.ts';
import type { Env } from '../env.ts';
import { parseOr400 } from './validate.ts';

const latestSchema = z.object({ version: versionSchema });

/** "name" or "name@version" → validated parts (400 on anything else). */
export function parseModelRef(ref: string): { name: string; version?: string } {
  const [name, version, extra] = ref.split('@');
  if (extra !== undefined) throw new ApiError(400, 'invalid_model', `'${ref}' is not name or name@version`);
  return {
    name: parseOr400(modelNameSchema, name, 'invalid_model'),
    version: version === undefined ? undefined : parseOr400(versionSchema, version, 'invalid_model'),
  };
}

/** How long an isolate trusts its answer for `latest` (a publish is visible everywhere within this). */
const LATEST_TTL_MS = 5_000;
const latestSeen = new Map<string, { version: string; at: number }>();

export async function resolveVersion(env: Env, name: string, version?: string): Promise<string> {
  if (version) return version;
  const seen = latestSeen.get(name);
  if (seen && Date.now() - seen.at < LATEST_TTL_MS) return seen.version;
  const latest = await env.MODELS.get(latestKey(name));
  if (!latest) throw new ApiError(404, 'unknown_model', `no model named '${name}'`);
  const v = latestSchema.parse(await latest.json()).version;
  latestSeen.set(name, { version: v, at: Date.now() });
  return v;
}

const manifests = new Map<string, Manifest>();

/** A version's manifest; immutable, so cached in memory for the isolate's lifetime. */
export async function getManifest(env: Env, name: string, version: string): Promise<Manifest> {
  const key = manifestKey(name, version);
  const hit = manifests.get(key);
  if (hit) return hit;
  const obj = await env.MODELS.get(key);
  if (!obj) throw new ApiError(404, 'unknown_version', `model '${name}' has no version '${version}'`);
  const manifest = parseManifest(await obj.json());
  manifests.set(key, manifest);
  return manifest;
}

export async function getFileBytes(env: Env, manifest: Manifest, path: string): Promise<Uint8Array> {
  const obj = await env.MODELS.get(fileKey(manifest.name, manifest.version, path));
  if (!obj) throw new ApiError(404, 'missing_file', `${manifest.name}@${manifest.version} has no file ${path}`);
  return new Uint8Array(await obj.arrayBuffer());
}

/** Model names: the folders under models/ in R2. */
export async function listModelNames(env: Env): Promise<string[]> {
  const names: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await env.MODELS.list({ prefix: 'models/', delimiter: '/', cursor });
    for (const p of page.delimitedPrefixes) names.push(p.slice('models/'.length, -1));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return names;
}
