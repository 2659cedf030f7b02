import { selfContainedTokenizerJson } from '../../models/text/tokenizer-json.ts';
import { graphInputs, type GraphSizes, type GraphSpec } from '../../models/bundle/graphs.ts';
import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-node';
import { execSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BUNDLE_FILES, bundleVersion, parseManifest, sha256Hex, type Manifest } from '../../models/bundle/manifest.ts';
import { createRng } from '../../models/diffusion/rng.ts';
import { imageEncoder } from '../../models/nn/image-encoder.ts';
import { textEncoder } from '../../models/nn/text-encoder.ts';
import { unet, type UnetInputs } from '../../models/nn/unet.ts';
import type { Ops } from '../../models/nn/ops.ts';
import { diffusionManifest } from './unet.ts';
import { vaeDecoder, vaeEncoder } from '../../models/nn/vae.ts';
import type { WeightMap } from '../../models/nn/weights.ts';
import {
  exportImageEncoder,
  exportTextEncoder,
  exportUnet,
  exportVaeDecoder,
  exportVaeEncoder,
  graphOf,
} from '../../models/onnx/export.ts';
import { nhwcToNchw } from '../../models/pipeline/layout.ts';
import { relativeMaxError } from '../../models/numeric.ts';
import type { RunContext, StageSummary } from '../context.ts';
import { tfjsOps } from '../tfjs/ops.ts';
import { ParamStore } from '../tfjs/params.ts';
import { loadWeights } from '../weights-io.ts';

/** A check input: its graph name, NHWC shape for images, and what values it takes (token ids, timesteps, or noise). */
type Feed = { name: string; shape: number[]; image: boolean; int?: boolean; timestep?: boolean };

function randomFeed(f: Feed, seed: number, maxId = 2): { tf: tf.Tensor; ort: ort.Tensor } {
  const n = f.shape.reduce((a, b) => a * b, 1);
  if (f.int) {
    const ids = Int32Array.from({ length: n }, (_, i) => (i * 7 + seed) % maxId);
    return {
      tf: tf.tensor(ids, f.shape, 'int32'),
      ort: new ort.Tensor(
        'int64',
        BigInt64Array.from(ids, (x) => BigInt(x)),
        f.shape,
      ),
    };
  }
  const data = createRng(seed).fill(n);
  if (f.timestep) data.forEach((_, i) => (data[i] = 10 + 37 * i));
  const [b, h, w, c] = f.shape;
  return {
    tf: tf.tensor(data, f.shape),
    ort: f.image ? new ort.Tensor('float32', nhwcToNchw(data, f.shape), [b, c, h, w]) : new ort.Tensor('float32', data, f.shape),
  };
}

/**
 * Verify an exported graph against the trained network: the same random inputs through tfjs and
 * onnxruntime-node; returns the largest output error relative to the output's scale.
 */
async function verify(
  bytes: Uint8Array,
  feeds: Feed[],
  forward: (inputs: Record<string, tf.Tensor>) => Record<string, tf.Tensor>,
  maxId: number,
): Promise<number> {
  const inputs = feeds.map((f, i) => ({ f, ...randomFeed(f, 11 + i, maxId) }));
  const expected = tf.tidy(() => forward(Object.fromEntries(inputs.map((x) => [x.f.name, x.tf]))));
  const session = await ort.InferenceSession.create(bytes);
  const got = await session.run(Object.fromEntries(inputs.map((x) => [x.f.name, x.ort])));
  let worst = 0;
  for (const [name, t] of Object.entries(expected)) {
    const want = t.rank === 4 ? nhwcToNchw(t.dataSync(), t.shape) : (t.dataSync() as Float32Array);
    worst = Math.max(worst, relativeMaxError(got[name].data as Float32Array, want));
  }
  tf.dispose([...Object.values(expected), ...inputs.map((x) => x.tf)]);
  return worst;
}

function gitCommit(): string {
  try {
    return execSync('git rev-parse HEAD', { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return 'unknown';
  }
}

export interface ExportOptions {
  fp16: boolean;
}

/** Write the bundle: ONNX graphs (each verified against tfjs), tokenizer, and a manifest with hashes and provenance. */
export async function exportStage(ctx: RunContext, options: ExportOptions): Promise<StageSummary> {
  const t0 = Date.now();
  const out = join(ctx.dir, 'bundle');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const cfg = ctx.configs();
  const S = ctx.preset.imageSize;
  const L = cfg.latentSize;
  const { maxLength, padId, vocabSize } = ctx.tokenizer();
  const w = (stage: string, file: string) => loadWeights(join(ctx.dir, stage, file));
  const vaeMeta = w('vae', 'vae_encoder.bin').meta;
  const tolerance = options.fp16 ? 2e-2 : 1e-3;
  const exportCheck: Record<string, number> = {};
  const files: Manifest['files'] = {};

  const write = async (path: string, bytes: Uint8Array) => {
    mkdirSync(dirname(join(out, path)), { recursive: true });
    writeFileSync(join(out, path), bytes);
    files[path] = { sha256: await sha256Hex(bytes), size: bytes.length };
  };
  /**
   * Export one network and check it: the same random inputs (every graph input GRAPHS declares, at the
   * exporter's sizes) through tfjs and the exported graph in onnxruntime-node.
   */
  const one = async (
    { graph, sizes }: { graph: GraphSpec; sizes: GraphSizes },
    weights: WeightMap,
    bytes: (w: WeightMap) => Uint8Array,
    forward: (ops: Ops<tf.Tensor>, x: Record<string, tf.Tensor>) => Record<string, tf.Tensor>,
  ) => {
    const inputs = graphInputs(graph, sizes);
    const feeds: Feed[] = inputs.map((i) => ({
      name: i.name,
      shape: i.image ? [2, i.tail[1], i.tail[2], i.tail[0]] : [2, ...i.tail],
      image: i.image,
      int: i.kind === 'ids',
      timestep: i.kind === 'step',
    }));
    const outputs = Object.entries(graph.outputs) as [string, string][];
    const run = (store: ParamStore, x: Record<string, tf.Tensor>) => {
      const r = forward(tfjsOps(store), Object.fromEntries(inputs.map((i) => [i.key, x[i.name]])));
      return Object.fromEntries(outputs.map(([key, name]) => [name, r[key]]));
    };
    const store = new ParamStore('export', ctx.seed);
    const zeros = Object.fromEntries(feeds.map((f) => [f.name, f.int ? tf.zeros(f.shape, 'int32') : tf.zeros(f.shape)]));
    tf.tidy(() => run(store, zeros));
    store.load(weights);
    const model = bytes(weights);
    const err = await verify(model, feeds, (x) => run(store, x), vocabSize);
    store.dispose();
    if (!(err <= tolerance)) throw new Error(`export check failed for ${graph.file}: error ${err} exceeds ${tolerance}`);
    exportCheck[graph.file] = err;
    await write(graph.file, model);
    ctx.log(`export: ${graph.file} ${(model.length / 1024).toFixed(0)} KiB, max error vs tfjs ${err.toExponential(2)}`);
  };
  const o = { fp16Weights: options.fp16 };
  await one(
    graphOf.textEncoder(cfg.textEncoder),
    w('clip', 'text_encoder.bin').weights,
    (x) => exportTextEncoder(cfg.textEncoder, x, o),
    (ops, x) => textEncoder(ops, cfg.textEncoder, x.ids),
  );
  await one(
    graphOf.imageEncoder(cfg.imageEncoder),
    w('clip', 'image_encoder.bin').weights,
    (x) => exportImageEncoder(cfg.imageEncoder, x, o),
    (ops, x) => ({ embeds: imageEncoder(ops, cfg.imageEncoder, x.pixels) }),
  );
  await one(
    graphOf.vaeEncoder(cfg.vae, S),
    w('vae', 'vae_encoder.bin').weights,
    (x) => exportVaeEncoder(cfg.vae, S, x, o),
    (ops, x) => vaeEncoder(ops, cfg.vae, x.image),
  );
  await one(
    graphOf.vaeDecoder(cfg.vae, S),
    loadWeights(ctx.vaeDecoderPath()).weights,
    (x) => exportVaeDecoder(cfg.vae, S, x, o),
    (ops, x) => ({ image: vaeDecoder(ops, cfg.vae, x.latents) }),
  );
  // The network definition reads its inputs by these keys: an input added to GRAPHS reaches it with no change here.
  await one(
    graphOf.unet(cfg.unet, L, maxLength),
    w('unet', 'unet.bin').weights,
    (x) => exportUnet(cfg.unet, L, maxLength, x, o),
    (ops, x) => ({ out: unet(ops, cfg.unet, x as unknown as UnetInputs<tf.Tensor>) }),
  );
  const u = cfg.upscaler;
  if (u && ctx.preset.upscaler) {
    await one(
      graphOf.unet(u, 2 * S, 0),
      w('upscaler', 'upscaler.bin').weights,
      (x) => exportUnet(u, 2 * S, 0, x, o),
      (ops, x) => ({ out: unet(ops, u, x as unknown as UnetInputs<tf.Tensor>) }),
    );
  }
  // Self-contained for any HF tokenizers client; a run's older tokenizer keeps its vocabulary (its text encoder was trained on it).
  const tokenizerJson = selfContainedTokenizerJson(JSON.parse(readFileSync(ctx.tokenizerPath(), 'utf8')), maxLength, {
    completeAlphabet: false,
  });
  await write(BUNDLE_FILES.tokenizer, new TextEncoder().encode(JSON.stringify(tokenizerJson)));

  const stages: Manifest['training']['stages'] = {};
  for (const st of ['tokenizer', 'clip', 'vae', 'decoder', 'latents', 'unet', 'upscaler']) {
    const d = ctx.done(st);
    if (d) stages[st] = { steps: d.steps, wallSeconds: d.wallSeconds, finalLoss: d.finalLoss };
  }
  const p = ctx.preset;
  const { train } = await ctx.data();
  const manifest: Manifest = parseManifest({
    schemaVersion: 2,
    name: p.name,
    version: await bundleVersion(files),
    createdAt: new Date().toISOString(),
    imageSize: S,
    latent: { channels: cfg.vae.latentChannels, size: L, scaleFactor: vaeMeta.scaleFactor as number, shiftFactor: 0 },
    tokenizer: { maxLength, padId, vocabSize },
    networks: { textEncoder: cfg.textEncoder, imageEncoder: cfg.imageEncoder, vae: cfg.vae, unet: cfg.unet, upscaler: cfg.upscaler },
    ...diffusionManifest(p),
    files,
    weights: options.fp16 ? 'float16' : 'float32',
    training: {
      preset: p.name,
      seed: ctx.seed,
      command: ctx.command,
      commit: gitCommit(),
      backend: `${ctx.backend.name} (${ctx.backend.source})`,
      data: [train.source],
      stages,
    },
    exportCheck,
    attribution: train.source.attribution,
    examples: p.examples,
  });
  writeFileSync(join(out, 'manifest.json'), JSON.stringify(manifest, null, 2));
  const total = Object.values(files).reduce((s, f) => s + f.size, 0);
  ctx.log(`export: bundle ${manifest.name}@${manifest.version} → ${out} (${(total / 1024 / 1024).toFixed(2)} MiB)`);
  return { steps: 0, wallSeconds: (Date.now() - t0) / 1000, version: manifest.version, bytes: total };
}
