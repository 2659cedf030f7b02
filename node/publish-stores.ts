import { Miniflare } from 'miniflare';
import { latestKey } from '../models/bundle/keys.ts';
import type { BundleStore } from './publish.ts';

export const R2_BUCKET = 'edge-diffusion-models';
export const DEFAULT_STATE_DIR = '.state';

/**
 * Local R2 through Miniflare, persisted where `wrangler dev --persist-to .state` keeps it, so `npm start`
 * serves what was published. The caller disposes the returned Miniflare.
 */
export async function localR2Store(
  stateDir = DEFAULT_STATE_DIR,
): Promise<{ store: BundleStore; dispose: () => Promise<void>; bucket: Awaited<ReturnType<Miniflare['getR2Bucket']>> }> {
  const mf = new Miniflare({
    modules: true,
    script: 'export default { fetch() { return new Response(null, { status: 404 }); } }',
    r2Buckets: { MODELS: R2_BUCKET },
    r2Persist: `${stateDir}/v3/r2`,
  });
  const bucket = await mf.getR2Bucket('MODELS');
  return { bucket, dispose: () => mf.dispose(), store: r2BundleStore(bucket) };
}

type Bucket = Awaited<ReturnType<Miniflare['getR2Bucket']>>;

/** A BundleStore on an R2 bucket binding (Miniflare's, in tests and local publishing). */
export function r2BundleStore(bucket: Bucket): BundleStore {
  return {
    has: async (key, sha256) => (await bucket.head(key))?.customMetadata?.sha256 === sha256,
    put: async (key, bytes, sha256, contentType) => {
      await bucket.put(key, bytes, { httpMetadata: { contentType }, customMetadata: { sha256 }, sha256 });
    },
    setLatest: async (name, version) => {
      await bucket.put(latestKey(name), JSON.stringify({ version }), { httpMetadata: { contentType: 'application/json' } });
    },
  };
}

/** The edge's publish API: bearer token from the environment, never from a file in the repository. */
export function remoteStore(baseUrl: string, token: string): BundleStore {
  const auth = { authorization: `Bearer ${token}` };
  const check = async (res: Response, what: string) => {
    if (!res.ok) throw new Error(`${what}: HTTP ${res.status} ${await res.text()}`);
  };
  // fetch reports an unreachable host as a bare 'fetch failed'; say which host and why.
  const fetch = async (url: string, init: RequestInit) => {
    try {
      return await globalThis.fetch(url, init);
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new Error(`cannot reach ${baseUrl} (${cause?.code ?? cause?.message ?? (e as Error).message})`);
    }
  };
  return {
    has: async (key, sha256) => {
      const res = await fetch(`${baseUrl}/v1/admin/objects/${key}`, { method: 'HEAD', headers: auth });
      return res.ok && res.headers.get('x-content-sha256') === sha256;
    },
    put: async (key, bytes, sha256, contentType) =>
      check(
        await fetch(`${baseUrl}/v1/admin/objects/${key}`, {
          method: 'PUT',
          headers: { ...auth, 'content-type': contentType, 'x-content-sha256': sha256 },
          body: bytes as Uint8Array<ArrayBuffer>,
        }),
        `upload ${key}`,
      ),
    setLatest: async (name, version) =>
      check(
        await fetch(`${baseUrl}/v1/admin/models/${name}/latest`, {
          method: 'PUT',
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify({ version }),
        }),
        `switch latest of ${name}`,
      ),
  };
}
