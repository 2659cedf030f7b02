import * as ort from 'onnxruntime-node';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseManifest, sha256Hex, type Manifest } from '../models/bundle/manifest.ts';
import { InvalidArgumentError } from '../models/errors.ts';
import type { DiffusionRuntime, Tensor } from '../models/pipeline/runtime.ts';
import { bundleRuntime } from '../models/pipeline/ort-runtime.ts';
import { nodeSessions } from '../node/ort-sessions.ts';

/** What generation needs of a model, wherever it lives: the manifest, the image networks, a text encoder. */
export interface GenerationModel {
  manifest: Manifest;
  /** Loads the image networks (downloads them, for an edge): called after the prompt is known to be valid. */
  runtime(): Promise<DiffusionRuntime>;
  /** Per-token states of the prompt and the negative prompt from `/v1/embeddings` (each [1, T, D]). */
  embed(prompt: string, negative: string): Promise<{ cond: Tensor; uncond: Tensor }>;
}

/** Where downloaded model files are kept, by SHA-256 (shared by every edge and model). */
export const defaultCacheDir = () =>
  process.env.EDGE_DIFFUSION_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'edge-diffusion');

/** An HTTP(S) base URL, or an InvalidArgumentError naming --edge. */
export function parseEdgeUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('edge', `'${value}' is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InvalidArgumentError('edge', `must be http(s), got '${url.protocol}'`);
  return url.href.replace(/\/$/, '');
}

async function call(edge: string, path: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(`${edge}${path}`, init);
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new InvalidArgumentError('edge', `cannot reach ${edge} (${cause?.code ?? cause?.message ?? (e as Error).message})`);
  }
}

/** The edge's JSON error (`{error: {code, message}}`) as one line. */
async function edgeError(res: Response, what: string): Promise<string> {
  const body = (await res.json().catch(() => undefined)) as { error?: { code: string; message: string } } | undefined;
  return body?.error ? `${body.error.message} (${body.error.code})` : `${what}: HTTP ${res.status}`;
}

/**
 * A file of the manifest from the disk cache, else from the edge; SHA-256 checked either way (a corrupt
 * cached copy is fetched again). Written atomically, so an interrupted download never poisons the cache.
 */
async function modelFile(edge: string, m: Manifest, path: string, cacheDir: string, log: (line: string) => void): Promise<Uint8Array> {
  const { sha256, size } = m.files[path];
  const cached = join(cacheDir, 'sha256', sha256);
  if (existsSync(cached)) {
    const bytes = new Uint8Array(readFileSync(cached));
    if ((await sha256Hex(bytes)) === sha256) return bytes;
  }
  const res = await call(edge, `/v1/models/${m.name}/${m.version}/${path}`);
  if (!res.ok) throw new Error(`edge: ${await edgeError(res, path)}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (bytes.length !== size || (await sha256Hex(bytes)) !== sha256)
    throw new Error(`edge: ${path} does not match the manifest's SHA-256 (${bytes.length} bytes)`);
  mkdirSync(join(cacheDir, 'sha256'), { recursive: true });
  writeFileSync(`${cached}.part`, bytes);
  renameSync(`${cached}.part`, cached);
  log(`edge: downloaded ${path} (${(size / 1e6).toFixed(1)} MB) into ${cacheDir}`);
  return bytes;
}

/**
 * Open `model` (a name, or name@version) on an edge, as the browser does: the manifest and the image
 * networks are downloaded (and cached), the prompts are encoded by the edge.
 */
export async function openEdgeModel(
  edge: string,
  model: string,
  options: { cacheDir?: string; log?: (line: string) => void } = {},
): Promise<GenerationModel> {
  const log = options.log ?? (() => undefined);
  const res = await call(edge, `/v1/models/${encodeURIComponent(model)}`);
  if (res.status === 404) throw new InvalidArgumentError('model', `${edge} serves no model '${model}'`);
  if (!res.ok) throw new Error(`edge: ${await edgeError(res, 'manifest')}`);
  const manifest = parseManifest(await res.json());
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const sessions = nodeSessions((path) => modelFile(edge, manifest, path, cacheDir, log));
  return {
    manifest,
    runtime: () => bundleRuntime(ort, manifest.files, sessions),
    async embed(prompt, negative) {
      const r = await call(edge, '/v1/embeddings', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: `${manifest.name}@${manifest.version}`,
          prompts: [prompt],
          negative_prompt: negative,
          format: 'f32',
        }),
      });
      if (r.status === 400) throw new InvalidArgumentError('prompt', await edgeError(r, 'embeddings'));
      if (!r.ok) throw new Error(`edge: ${await edgeError(r, 'embeddings')}`);
      const [n, T, D] = (r.headers.get('x-embedding-dims') ?? '').split(',').map(Number);
      const data = new Float32Array(await r.arrayBuffer());
      if (n !== 2 || data.length !== n * T * D)
        throw new Error(`edge: embeddings of ${data.length} floats do not match x-embedding-dims ${n},${T},${D}`);
      return { cond: { data: data.slice(0, T * D), dims: [1, T, D] }, uncond: { data: data.slice(T * D), dims: [1, T, D] } };
    },
  };
}
