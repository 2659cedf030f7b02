import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseManifest, sha256Hex, type Manifest } from '../../models/bundle/manifest.ts';
import { createSchedule } from '../../models/diffusion/schedule.ts';
import { TINY } from './tiny-networks.ts';

/**
 * A bundle folder with a schema-valid manifest and arbitrary file contents: enough for storage and
 * transport tests, which never run the models.
 */
export interface TextOverrides {
  maxLength: number;
  vocabSize: number;
  padId: number;
  textEncoder: Manifest['networks']['textEncoder'];
}

export async function fakeBundle(
  name: string,
  files: Record<string, Uint8Array>,
  version?: string,
  text?: TextOverrides,
): Promise<{ dir: string; manifest: Manifest }> {
  const dir = mkdtempSync(join(tmpdir(), 'bundle-'));
  const entries: Manifest['files'] = {};
  for (const [path, bytes] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), bytes);
    entries[path] = { sha256: await sha256Hex(bytes), size: bytes.length };
  }
  const schedule = createSchedule({ kind: 'scaled-linear', trainSteps: 1000 }).config;
  const manifest = parseManifest({
    schemaVersion: 1,
    name,
    version: version ?? (await sha256Hex(new TextEncoder().encode(JSON.stringify(entries)))).slice(0, 16),
    createdAt: new Date(0).toISOString(),
    imageSize: 16,
    latent: { channels: 4, size: 4, scaleFactor: 1 },
    tokenizer: text
      ? { maxLength: text.maxLength, padId: text.padId, vocabSize: text.vocabSize }
      : { maxLength: 8, padId: 0, vocabSize: 50 },
    networks: { textEncoder: text?.textEncoder ?? TINY.text, imageEncoder: TINY.image, vae: TINY.vae, unet: TINY.unet },
    diffusion: { schedule, predictionType: 'epsilon', defaults: { steps: 4, guidance: 3, sampler: 'ddim' } },
    files: entries,
    weights: 'float32',
    training: { preset: 'test', seed: 1, command: 'test', commit: 'test', backend: 'none', data: [], stages: {} },
    exportCheck: {},
  });
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  return { dir, manifest };
}

export function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
