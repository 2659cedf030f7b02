import { join } from 'node:path';
import type { FloatImage } from '../../models/image.ts';
import type { WeightMap } from '../../models/nn/weights.ts';
import { imageData, type RunContext, type StageSummary } from '../context.ts';
import type { Dataset } from '../data/dataset.ts';
import { loadCheckpoint, saveCheckpoint } from '../checkpoint.ts';
import { textStates, vaeSessions } from '../ort/inference.ts';
import { loadWeights } from '../weights-io.ts';

export interface LatentSet {
  /** Scaled latents [N, h, w, c]. */
  latents: Float32Array;
  /** Text hidden states of each distinct caption [K, T, D]; row 0 is the empty prompt (the unconditional context). */
  contexts: Float32Array;
  /** For each sample, its caption's row in `contexts`. */
  captionIndex: Int32Array;
  captions: string[];
}

/**
 * A dataset through the run's trained VAE encoder (scaled posterior means) and frozen text encoder (states of
 * every distinct caption, the empty prompt first): what the U-Net trains on.
 */
export async function encodeDataset(ctx: RunContext, ds: Dataset): Promise<LatentSet & { latentShape: number[]; contextShape: number[] }> {
  const cfg = ctx.configs();
  const scaleFactor = loadWeights(join(ctx.dir, 'vae', 'vae_encoder.bin')).meta.scaleFactor as number;
  const captions = ['', ...new Set(ds.samples.map((s) => s.caption))];
  const row = new Map(captions.map((c, i) => [c, i]));
  const l = cfg.latentSize;
  const latents = (await posteriorMeans(ctx, ds)).map((v) => v * scaleFactor);
  const tok = ctx.tokenizer();
  const width = cfg.textEncoder.width;
  const textWeights = loadWeights(join(ctx.dir, 'clip', 'text_encoder.bin')).weights;
  const contexts = new Float32Array(captions.length * tok.maxLength * width);
  for (let i = 0; i < captions.length; i += 256) {
    const chunk = captions.slice(i, i + 256);
    contexts.set(await textStates(cfg.textEncoder, textWeights, tok.encodeBatch(chunk), chunk.length), i * tok.maxLength * width);
  }
  return {
    latents,
    latentShape: [ds.samples.length, l, l, cfg.vae.latentChannels],
    contexts,
    contextShape: [captions.length, tok.maxLength, width],
    captionIndex: Int32Array.from(ds.samples, (s) => row.get(s.caption)!),
    captions,
  };
}

/** A dataset's posterior means [N, h, w, c] (unscaled) through the VAE stage's encoder. */
export async function posteriorMeans(ctx: RunContext, ds: Dataset): Promise<Float32Array> {
  const cfg = ctx.configs();
  const load = (file: string) => loadWeights(join(ctx.dir, 'vae', file)).weights;
  const vae = await vaeSessions(cfg.vae, ctx.preset.imageSize, load('vae_encoder.bin'), load('vae_decoder.bin'));
  const per = cfg.latentSize ** 2 * cfg.vae.latentChannels;
  const means = new Float32Array(ds.samples.length * per);
  for (let i = 0; i < ds.samples.length; i += 64) {
    const idx = ds.samples.slice(i, i + 64).map((_, k) => i + k);
    means.set(await vae.encode(imageData(ds, idx), idx.length), i * per);
  }
  await vae.release();
  return means;
}

/** A dataset's images through the VAE stage's encoder (to the posterior mean) and `decoder`, clamped to [-1, 1]. */
export async function vaeReconstructions(ctx: RunContext, ds: Dataset, decoder: WeightMap): Promise<FloatImage[]> {
  const encoder = loadWeights(join(ctx.dir, 'vae', 'vae_encoder.bin')).weights;
  const vae = await vaeSessions(ctx.configs().vae, ctx.preset.imageSize, encoder, decoder);
  const out: FloatImage[] = [];
  const s = ds.imageSize;
  for (let i = 0; i < ds.samples.length; i += 64) {
    const idx = ds.samples.slice(i, i + 64).map((_, k) => i + k);
    const recon = await vae.decode(await vae.encode(imageData(ds, idx), idx.length), idx.length);
    idx.forEach((_, k) =>
      out.push({ width: s, height: s, data: recon.slice(k * s * s * 3, (k + 1) * s * s * 3).map((v) => Math.max(-1, Math.min(1, v))) }),
    );
  }
  await vae.release();
  return out;
}

/** Encode the training set once for the U-Net stage. */
export async function latentsStage(ctx: RunContext): Promise<StageSummary> {
  const t0 = Date.now();
  const ds = (await ctx.data()).train;
  const set = await encodeDataset(ctx, ds);
  saveCheckpoint(join(ctx.stageDir('latents'), 'latents.bin'), {
    step: 0,
    meta: { captions: set.captions },
    tensors: new Map([
      ['latents', { shape: set.latentShape, data: set.latents }],
      ['contexts', { shape: set.contextShape, data: set.contexts }],
      ['captionIndex', { shape: [ds.samples.length], data: Float32Array.from(set.captionIndex) }],
    ]),
  });
  ctx.log(`latents: ${ds.samples.length} images → ${set.latentShape.slice(1).join('×')} latents, ${set.captions.length} distinct captions`);
  return { steps: 0, wallSeconds: (Date.now() - t0) / 1000, samples: ds.samples.length, captions: set.captions.length };
}

export function loadLatents(ctx: RunContext): LatentSet & { latentShape: number[]; contextShape: number[] } {
  const ckpt = loadCheckpoint(join(ctx.dir, 'latents', 'latents.bin'));
  if (!ckpt) throw new Error('missing latents: run the latents stage first');
  const l = ckpt.tensors.get('latents')!;
  const c = ckpt.tensors.get('contexts')!;
  return {
    latents: l.data,
    latentShape: l.shape,
    contexts: c.data,
    contextShape: c.shape,
    captionIndex: Int32Array.from(ckpt.tensors.get('captionIndex')!.data),
    captions: ckpt.meta.captions as string[],
  };
}
