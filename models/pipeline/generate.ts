import { InvalidArgumentError, requireInRange, requireInteger } from '../errors.ts';
import { classifierFreeGuidance } from '../diffusion/guidance.ts';
import { createRng } from '../diffusion/rng.ts';
import { createSampler, img2imgStart, parseSamplerName, type SamplerRun } from '../diffusion/samplers/index.ts';
import { createSchedule } from '../diffusion/schedule.ts';
import { qSample } from '../diffusion/forward.ts';
import { resizeBicubic } from '../image.ts';
import { batchToImages, concatBatch, imagesToBatch } from './layout.ts';
import { type StepLatentSpace, stepCoefficients } from './sampler-graph.ts';
import type { DiffusionRuntime, PipelineManifest, ResidentRun, Tensor } from './runtime.ts';

export interface GenerateOptions {
  /** Per-token text states [batch, T, D] of the prompt and of the negative (or empty) prompt. */
  cond: Tensor;
  uncond: Tensor;
  steps?: number;
  guidance?: number;
  guidanceRescale?: number;
  sampler?: string;
  seed: number;
  /** img2img: the init image [batch, 3, H, W] in [-1, 1] and how much of it to repaint (0..1). */
  init?: { image: Tensor; strength: number };
  upscale?: boolean;
  signal?: AbortSignal;
  /** Called after each step; `preview` is the decoded predicted x₀ every `previewEvery` steps. */
  onStep?: (info: { step: number; total: number; preview?: Tensor }) => void;
  previewEvery?: number;
  /**
   * Awaited before each step. Inference resolves through microtasks only, so without a macrotask break a
   * worker would not see a cancel message until the whole run had finished.
   */
  yieldToEvents?: () => Promise<void>;
}

export class GenerationAbortedError extends Error {
  override readonly name = 'GenerationAbortedError';
  readonly code = 'aborted';
}

/** VAE latents → the diffusion space: (z − shift)·scale; and back, before decoding. */
const toDiffusion = (t: Tensor, { scaleFactor, shiftFactor }: PipelineManifest['latent']): Tensor => ({
  data: t.data.map((v) => (v - shiftFactor) * scaleFactor),
  dims: t.dims,
});
const toVae = (t: Tensor, { scaleFactor, shiftFactor }: PipelineManifest['latent']): Tensor => ({
  data: t.data.map((v) => v / scaleFactor + shiftFactor),
  dims: t.dims,
});

/**
 * Text-to-image (and img2img): seeded initial latents, the sampler loop with classifier-free guidance
 * (unconditional and conditional as one batch per U-Net call), VAE decode and optional 2× upscaling.
 * Shared by the browser worker, the Node CLI and evaluation.
 */
export async function generate(runtime: DiffusionRuntime, manifest: PipelineManifest, o: GenerateOptions): Promise<Tensor> {
  const d = manifest.diffusion;
  const steps = requireInteger('steps', o.steps ?? d.defaults.steps, 1, d.schedule.trainSteps);
  const guidance = requireInRange('guidance', o.guidance ?? d.defaults.guidance, 0, 50);
  const sampler = parseSamplerName(o.sampler ?? d.defaults.sampler);
  requireInteger('seed', o.seed, 0, 0xffffffff);
  if (o.cond.dims.join() !== o.uncond.dims.join())
    throw new InvalidArgumentError('uncond', `dims [${o.uncond.dims}] differ from cond [${o.cond.dims}]`);
  const batch = o.cond.dims[0];
  const { channels, size } = manifest.latent;
  const latentDims = [batch, channels, size, size];
  const schedule = createSchedule(d.schedule);
  const rng = createRng(o.seed);
  const run = createSampler(sampler, schedule, { steps, predictionType: d.predictionType, rng });
  let x: Float32Array = rng.fill(batch * channels * size * size);
  let start = 0;
  if (o.init) {
    if (!runtime.encode) throw new InvalidArgumentError('init', 'this runtime has no VAE encoder for img2img');
    const { startIndex, timestep } = img2imgStart(run.timesteps, o.init.strength);
    start = startIndex;
    const mean = await runtime.encode(o.init.image);
    const latents = toDiffusion(mean, manifest.latent).data;
    x = timestep === undefined ? latents : qSample(schedule, latents, x, timestep);
  }
  const guided = guidance !== 1;
  const rescale = requireInRange('guidanceRescale', o.guidanceRescale ?? 0, 0, 1);
  // Classifier-free guidance: unconditional and conditional halves in one U-Net batch (just cond at g = 1).
  const context = guided ? concatBatch(o.uncond, o.cond) : o.cond;
  const last = run.timesteps.length - 1;
  const previewAt = (i: number) => Boolean(o.previewEvery) && (i + 1) % o.previewEvery! === 0 && i !== last;
  const progress = (i: number, preview?: Tensor) => o.onStep?.({ step: i + 1 - start, total: run.timesteps.length - start, preview });
  let image: Tensor;
  if (runtime.resident && start <= last) {
    // The loop on the device: per step only the plan goes up; previews and the result come down.
    const device = await runtime.resident({ sample: { data: x, dims: latentDims }, context, guided });
    try {
      const step = deviceStep(run, device, { scale: guidance, rescale }, manifest.latent, x.length);
      await denoise(run, start, step, o, async (i) => progress(i, previewAt(i) ? await device.decode('x0') : undefined));
      image = await device.decode('sample');
    } finally {
      device.dispose();
    }
  } else {
    const model = async (data: Float32Array, t: number): Promise<Float32Array> => {
      const sample: Tensor = { data, dims: latentDims };
      const both = await runtime.unet({
        sample: guided ? concatBatch(sample, sample) : sample,
        timestep: new Float32Array(context.dims[0]).fill(t),
        context,
      });
      if (!guided) return both.data;
      const half = both.data.length / 2;
      return classifierFreeGuidance(both.data.subarray(0, half), both.data.subarray(half), { scale: guidance, rescale, batch });
    };
    let x0 = x;
    const step = async (i: number) => {
      ({ prev: x, x0 } = run.step(i, await model(x, run.timesteps[i]), x));
    };
    const decode = (latents: Float32Array) => runtime.decode(toVae({ data: latents, dims: latentDims }, manifest.latent));
    await denoise(run, start, step, o, async (i) => progress(i, previewAt(i) ? await decode(x0) : undefined));
    image = await decode(x);
  }
  if (!o.upscale) return image;
  return upscaleImage(runtime, manifest, image, o.seed, { signal: o.signal, yieldToEvents: o.yieldToEvents });
}

/** Step i on the device: the shared sampler's plan, applied there by the sampler-step graph. */
const deviceStep =
  (run: SamplerRun, device: ResidentRun, guidance: { scale: number; rescale: number }, latent: StepLatentSpace, size: number) =>
  (i: number) => {
    const plan = run.plan(i, size);
    return device.step(run.timesteps[i], stepCoefficients(plan, guidance, latent), plan.noise);
  };

/**
 * The sampler loop both diffusions share (base latents and upscaler pixels): from step `start`, one step at a
 * time (the model's output and the sampler's update, wherever they run), a cancellation check between steps.
 */
async function denoise(
  run: SamplerRun,
  start: number,
  step: (i: number) => Promise<void>,
  { signal, yieldToEvents }: Pick<GenerateOptions, 'signal' | 'yieldToEvents'>,
  afterStep?: (i: number) => Promise<void>,
): Promise<void> {
  const check = () => {
    if (signal?.aborted) throw new GenerationAbortedError('generation cancelled');
  };
  for (let i = start; i < run.timesteps.length; i++) {
    await yieldToEvents?.();
    check();
    await step(i);
    await afterStep?.(i);
  }
  check();
}

/** 2× super-resolution by the upscaler's own diffusion, conditioned on the noise-augmented low-res image. */
export async function upscaleImage(
  runtime: DiffusionRuntime,
  manifest: PipelineManifest,
  low: Tensor,
  seed: number,
  { signal, steps, yieldToEvents }: Pick<GenerateOptions, 'signal' | 'yieldToEvents'> & { steps?: number } = {},
): Promise<Tensor> {
  const up = manifest.upscale;
  if (!runtime.upscale || !up) throw new InvalidArgumentError('upscale', 'this bundle has no upscaler');
  const schedule = createSchedule(up.schedule);
  const rng = createRng((seed ^ 0x9e3779b9) >>> 0);
  const [b, c, h, w] = low.dims;
  const noiseLevel = new Float32Array(b).fill(up.noiseLevel);
  const lowAug: Tensor = {
    data: up.noiseLevel > 0 ? qSample(schedule, low.data, rng.fill(low.data.length), up.noiseLevel) : low.data,
    dims: low.dims,
  };
  const run = createSampler('dpmpp-2m', schedule, {
    steps: requireInteger('steps', steps ?? up.steps, 1, up.schedule.trainSteps),
    predictionType: up.predictionType,
  });
  const dims = [b, c, h * up.factor, w * up.factor];
  const upscale = runtime.upscale;
  let x = rng.fill(dims.reduce((p, q) => p * q, 1));
  if (runtime.resident) {
    // Pixels, not latents: the step graph's "VAE space" is the identity here, and only the result comes back.
    const device = await runtime.resident({ sample: { data: x, dims }, guided: false, lowRes: lowAug, noiseLevel });
    try {
      const step = deviceStep(run, device, { scale: 1, rescale: 0 }, { scaleFactor: 1, shiftFactor: 0 }, x.length);
      await denoise(run, 0, step, { signal, yieldToEvents });
      x = (await device.read()).data;
    } finally {
      device.dispose();
    }
  } else {
    const step = async (i: number) => {
      const t = run.timesteps[i];
      const out = await upscale({ sample: { data: x, dims }, timestep: new Float32Array(b).fill(t), lowRes: lowAug, noiseLevel });
      x = run.step(i, out.data, x).prev;
    };
    await denoise(run, 0, step, { signal, yieldToEvents });
  }
  const base = bicubicUpsample(low, up.factor).data;
  return { data: x.map((r, i) => r + base[i]), dims };
}

/** Bicubic upsampling of an NCHW RGB batch: the base the upscaler's residual is added to. */
function bicubicUpsample(low: Tensor, factor: number): Tensor {
  return imagesToBatch(batchToImages(low.data, low.dims).map((im) => resizeBicubic(im, im.width * factor, im.height * factor)));
}
