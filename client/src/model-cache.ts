import { sha256Hex } from '../../models/bundle/manifest.ts';

const CACHE = 'edge-diffusion-models-v1';

export class IntegrityError extends Error {
  override readonly name = 'IntegrityError';
}

const cacheKey = (sha256: string) => `https://model-cache.invalid/sha256/${sha256}`;

/** Whether a file is in Cache Storage already (not verified: fetchVerified does that on use). */
export async function isCached(sha256: string): Promise<boolean> {
  if (typeof caches === 'undefined') return false;
  return Boolean(await (await caches.open(CACHE)).match(cacheKey(sha256)));
}

/**
 * Model files from Cache Storage, keyed by content hash, verified against the manifest's SHA-256 before
 * use. A corrupt or partial entry is deleted and fetched again; quota errors surface to the caller.
 */
export async function fetchVerified(
  url: string,
  sha256: string,
  size: number,
  onProgress: (loaded: number, total: number, cached: boolean) => void,
): Promise<Uint8Array> {
  const cache = typeof caches === 'undefined' ? undefined : await caches.open(CACHE);
  const key = cacheKey(sha256);
  const hit = await cache?.match(key);
  if (hit) {
    const bytes = new Uint8Array(await hit.arrayBuffer());
    if ((await sha256Hex(bytes)) === sha256) {
      onProgress(bytes.length, bytes.length, true);
      return bytes;
    }
    await cache!.delete(key); // corrupt or truncated: discard and download again
  }
  const res = await fetch(url);
  if (!res.ok || !res.body) throw new Error(`download of ${url} failed: HTTP ${res.status}`);
  const reader = res.body.getReader();
  const bytes = new Uint8Array(size);
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (loaded + value.length > size) throw new IntegrityError(`${url} is larger than the manifest says (${size} bytes)`);
    bytes.set(value, loaded);
    loaded += value.length;
    onProgress(loaded, size, false);
  }
  if (loaded !== size || (await sha256Hex(bytes)) !== sha256) throw new IntegrityError(`${url} does not match the manifest's SHA-256`);
  // Storage errors (quota) propagate: the page shows them rather than silently re-downloading every time.
  await cache?.put(key, new Response(bytes, { headers: { 'content-type': 'application/octet-stream' } }));
  return bytes;
}
