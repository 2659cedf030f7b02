import * as tf from '@tensorflow/tfjs-core';
import { join } from 'node:path';
import { imageBatch, type RunContext, type StageSummary } from '../context.ts';
import { loadCheckpoint, saveCheckpoint } from '../checkpoint.ts';
import { loadClip } from './clip.ts';
import { loadVae } from './vae.ts';

export interface LatentSet {
  /** Scaled latents [N, h, w, c]. */
  latents: Float32Array;
  /** Text hidden states of each distinct caption [K, T, D]; row 0 is the empty prompt (the unconditional context). */
  contexts: Float32Array;
  /** For each sample, its caption's row in `contexts`. */
  captionIndex: Int32Array;
  captions: string[];
}

/** Encode the dataset once: VAE latent means (scaled) and the frozen text encoder's states of every caption. */
export async function latentsStage(ctx: RunContext): Promise<StageSummary> {
  const t0 = Date.now();
  const dir = ctx.stageDir('latents');
  const ds = (await ctx.data()).train;
  const vae = loadVae(ctx);
  const clip = loadClip(ctx);
  const captions = ['', ...new Set(ds.samples.map((s) => s.caption))];
  const row = new Map(captions.map((c, i) => [c, i]));
  const chunk = 64;
  const parts: Float32Array[] = [];
  let shape: number[] = [];
  for (let i = 0; i < ds.samples.length; i += chunk) {
    const idx = ds.samples.slice(i, i + chunk).map((_, k) => i + k);
    parts.push(tf.tidy(() => {
      const mean = vae.encode(imageBatch(ds, idx)).mean;
      shape = mean.shape;
      return tf.mul(mean, vae.scaleFactor).dataSync() as Float32Array;
    }));
  }
  const latents = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  parts.reduce((at, p) => (latents.set(p, at), at + p.length), 0);
  const { maxLength } = ctx.tokenizer();
  const width = ctx.configs().textEncoder.width;
  // In chunks: one batch of thousands of captions aborts the wasm back end (heap exhausted).
  const contexts = new Float32Array(captions.length * maxLength * width);
  for (let i = 0; i < captions.length; i += 256) contexts.set(tf.tidy(() => clip.hidden(captions.slice(i, i + 256)).dataSync() as Float32Array), i * maxLength * width);
  saveCheckpoint(join(dir, 'latents.bin'), {
    step: 0,
    meta: { captions },
    tensors: new Map([
      ['latents', { shape: [ds.samples.length, ...shape.slice(1)], data: latents }],
      ['contexts', { shape: [captions.length, maxLength, width], data: contexts }],
      ['captionIndex', { shape: [ds.samples.length], data: Float32Array.from(ds.samples, (s) => row.get(s.caption)!) }],
    ]),
  });
  [vae.encoder, vae.decoder, clip.text, clip.image].forEach((s) => s.dispose());
  ctx.log(`latents: ${ds.samples.length} images → ${shape.slice(1).join('×')} latents, ${captions.length} distinct captions`);
  return { steps: 0, wallSeconds: (Date.now() - t0) / 1000, samples: ds.samples.length, captions: captions.length };
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
