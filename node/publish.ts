import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseManifest, sha256Hex, type Manifest } from '../models/bundle/manifest.ts';
import { latestKey, manifestKey, fileKey } from '../models/bundle/keys.ts';

/** Where bundles go: local R2 (the state wrangler dev uses) or the edge's authenticated publish API. */
export interface BundleStore {
  has(key: string, sha256: string): Promise<boolean>;
  put(key: string, bytes: Uint8Array, sha256: string, contentType: string): Promise<void>;
  setLatest(name: string, version: string): Promise<void>;
}

export interface PublishOptions {
  /** Test hook: fail after this many uploads, as a crash or lost connection would. */
  failAfter?: number;
  log?: (line: string) => void;
}

const contentType = (path: string) => (path.endsWith('.json') ? 'application/json' : 'application/octet-stream');

/**
 * Upload every file (skipping those already stored with the same hash), then the manifest, and only then
 * move `latest`: a reader sees the old version or the complete new one, never half a bundle.
 */
export async function publishBundle(store: BundleStore, dir: string, options: PublishOptions = {}): Promise<Manifest> {
  const manifestBytes = new Uint8Array(readFileSync(join(dir, 'manifest.json')));
  const manifest = parseManifest(JSON.parse(new TextDecoder().decode(manifestBytes)));
  let uploads = 0;
  const upload = async (key: string, bytes: Uint8Array, sha: string, type: string) => {
    if (options.failAfter !== undefined && uploads >= options.failAfter)
      throw new Error(`publish interrupted after ${uploads} uploads (failAfter)`);
    if (await store.has(key, sha)) return;
    await store.put(key, bytes, sha, type);
    uploads++;
    options.log?.(`publish: ${key} (${bytes.length} bytes)`);
  };
  for (const [path, f] of Object.entries(manifest.files)) {
    const bytes = new Uint8Array(readFileSync(join(dir, path)));
    const sha = await sha256Hex(bytes);
    if (sha !== f.sha256 || bytes.length !== f.size)
      throw new Error(`${path}: file does not match the manifest (sha256 ${sha}); re-export the bundle`);
    await upload(fileKey(manifest.name, manifest.version, path), bytes, sha, contentType(path));
  }
  await upload(manifestKey(manifest.name, manifest.version), manifestBytes, await sha256Hex(manifestBytes), 'application/json');
  if (options.failAfter !== undefined && uploads >= options.failAfter)
    throw new Error(`publish interrupted after ${uploads} uploads (failAfter)`);
  await store.setLatest(manifest.name, manifest.version);
  options.log?.(`publish: ${latestKey(manifest.name)} → ${manifest.version}`);
  return manifest;
}
