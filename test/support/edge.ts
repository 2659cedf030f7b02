import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Miniflare, type MiniflareOptions } from 'miniflare';
import * as tf from '@tensorflow/tfjs-core';
import { BUNDLE_FILES } from '../../models/bundle/manifest.ts';
import { validateTextEncoderConfig } from '../../models/nn/configs.ts';
import { exportTextEncoder } from '../../models/onnx/export.ts';
import { textEncoder } from '../../models/nn/text-encoder.ts';
import { loadTokenizer } from '../../models/text/tokenizer.ts';
import { initTrainingBackend } from '../../trainer/tfjs/backend.ts';
import { tfjsOps } from '../../trainer/tfjs/ops.ts';
import { ParamStore } from '../../trainer/tfjs/params.ts';
import { trainTokenizer } from '../../trainer/tokenizer-train.ts';
import { publishBundle } from '../../node/publish.ts';
import { r2BundleStore } from '../../node/publish-stores.ts';
import { ROOT } from './cli.ts';
import { fakeBundle, randomBytes } from './fake-bundle.ts';
import { randomizeWeights } from './tiny-networks.ts';

export const PUBLISH_TOKEN = 'test-publish-token-5f1c';
export const MAX_UPLOAD = 1_000_000;

let built: string | undefined;

/** The worker exactly as `wrangler deploy` would upload it (bundle + precompiled wasm), built once per run. */
export function buildWorker(): string {
  if (built) return built;
  const out = mkdtempSync(join(tmpdir(), 'edge-build-'));
  // The worker build needs an assets folder, not its content: an empty one, so that client/dist (which the
  // deploy test rebuilds) is never read here.
  const assets = mkdtempSync(join(tmpdir(), 'edge-assets-'));
  execFileSync(
    process.execPath,
    [join(ROOT, 'node_modules/wrangler/bin/wrangler.js'), 'deploy', '--dry-run', '--outdir', out, '--assets', assets],
    {
      cwd: ROOT,
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' },
      stdio: 'pipe',
    },
  );
  if (!existsSync(join(out, 'index.js'))) throw new Error('wrangler produced no index.js');
  built = out;
  return out;
}

/** The built worker in workerd; `embeddingsPerMinute` adds the rate-limiting binding wrangler.toml declares. */
export async function startEdge(options: EdgeOptions = {}): Promise<Miniflare> {
  return new Miniflare(edgeOptions(options));
}

export interface EdgeOptions {
  token?: string;
  embeddingsPerMinute?: number;
}

/** Miniflare's options for the built worker; `mf.setOptions(edgeOptions())` restarts it in a fresh isolate, storage kept. */
export function edgeOptions(options: EdgeOptions = {}): MiniflareOptions {
  const dir = buildWorker();
  return {
    // Listed explicitly: Miniflare's own import scanner rejects onnxruntime-web's computed dynamic import.
    modulesRoot: dir,
    modules: [
      { type: 'ESModule', path: join(dir, 'index.js'), contents: readFileSync(join(dir, 'index.js'), 'utf8') },
      ...readdirSync(dir)
        .filter((f) => f.endsWith('.wasm'))
        .map((f) => ({ type: 'CompiledWasm' as const, path: join(dir, f), contents: readFileSync(join(dir, f)) })),
    ],
    compatibilityDate: '2025-09-01',
    compatibilityFlags: ['nodejs_compat'],
    r2Buckets: { MODELS: 'edge-diffusion-models' },
    kvNamespaces: { EMBEDDINGS: 'embeddings' },
    port: 0,
    host: '127.0.0.1',
    bindings: { PUBLISH_TOKEN: options.token ?? PUBLISH_TOKEN, MAX_UPLOAD_BYTES: String(MAX_UPLOAD), EMBEDDINGS_LIMIT_PERIOD: '60' },
    ratelimits: options.embeddingsPerMinute
      ? { EMBEDDINGS_LIMITER: { simple: { limit: options.embeddingsPerMinute, period: 60 } } }
      : undefined,
  };
}

/**
 * A bundle with a real (random-weight) text encoder and a trained tokenizer, other files filler: what the
 * edge needs to answer embeddings. Returns the text encoder's ONNX bytes for reference runs.
 */
export async function textBundle(
  name = 'toy',
  fillerBytes = 50_000,
): Promise<{ dir: string; version: string; textEncoderOnnx: Uint8Array; tokenizerJson: string; maxLength: number }> {
  await initTrainingBackend('wasm');
  const maxLength = 16;
  const tokenizerJson = trainTokenizer(
    ['a small red circle', 'a large blue square above a green triangle', 'an orange emoji face, twitter style'],
    maxLength,
  );
  const tok = loadTokenizer(JSON.parse(tokenizerJson), maxLength);
  const cfg = validateTextEncoderConfig({
    vocabSize: tok.vocabSize,
    maxLength,
    width: 32,
    layers: 2,
    heads: 4,
    padId: tok.padId,
    projectionDim: 16,
  });
  const store = new ParamStore('text', 3);
  tf.tidy(() => textEncoder(tfjsOps(store), cfg, tf.zeros([1, maxLength], 'int32')));
  const textEncoderOnnx = exportTextEncoder(cfg, randomizeWeights(store, 9));
  store.dispose();
  const b = await fakeBundle(
    name,
    {
      [BUNDLE_FILES.textEncoder]: textEncoderOnnx,
      [BUNDLE_FILES.tokenizer]: new TextEncoder().encode(tokenizerJson),
      [BUNDLE_FILES.unet]: randomBytes(fillerBytes, 7),
    },
    undefined,
    { maxLength, vocabSize: tok.vocabSize, padId: tok.padId, textEncoder: cfg },
  );
  return { dir: b.dir, version: b.manifest.version, textEncoderOnnx, tokenizerJson, maxLength };
}

export async function publishTo(mf: Miniflare, dir: string): Promise<void> {
  await publishBundle(r2BundleStore(await mf.getR2Bucket('MODELS')), dir);
}

export const readBytes = (p: string) => new Uint8Array(readFileSync(p));
