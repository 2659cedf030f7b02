import * as ort from 'onnxruntime-node';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSchedule } from '../../models/diffusion/schedule.ts';
import { createUniformRng, mixSeed } from '../../models/diffusion/rng.ts';
import { unet } from '../../models/nn/unet.ts';
import { generate } from '../../models/pipeline/generate.ts';
import { batchToImages } from '../../models/pipeline/layout.ts';
import { DIFFUSION_CONVENTIONS, UPSCALE_CONVENTIONS, type Manifest } from '../../models/bundle/manifest.ts';
import { writeAtomic } from '../checkpoint.ts';
import type { RunContext, StageSummary } from '../context.ts';
import { batchIndices } from '../data/dataset.ts';
import { compositionByObjects, scoreScene } from '../data/shapes.ts';
import { encodePng } from '../../node/png.ts';
import { noisedBatch } from '../diffusion-loss.ts';
import { trainLoop } from '../loop.ts';
import type { Objective } from '../objective.ts';
import { inferenceSession, textStates } from '../ort/inference.ts';
import { imageGrid } from '../report/grid.ts';
import { type Series, seriesChart } from '../report/plot.ts';
import type { Preset } from '../presets.ts';
import { loadWeights, saveWeights } from '../weights-io.ts';
import { loadLatents, type LatentSet } from './latents.ts';
import { exportUnet, exportVaeDecoder } from '../../models/onnx/export.ts';
import { ortRuntime } from '../../models/pipeline/ort-runtime.ts';
import type { PipelineManifest } from '../../models/pipeline/runtime.ts';

/** The fields of a manifest the pipeline reads, from the run's configs (before any bundle exists). */
export function pipelineManifest(ctx: RunContext, scaleFactor: number): PipelineManifest {
  const cfg = ctx.configs();
  return {
    latent: { channels: cfg.vae.latentChannels, size: cfg.latentSize, scaleFactor, shiftFactor: 0 },
    ...diffusionManifest(ctx.preset),
  };
}

/** How a preset samples: the manifest's `diffusion` and `upscale` sections. */
export function diffusionManifest(p: Preset): Pick<Manifest, 'diffusion' | 'upscale'> {
  const schedule = createSchedule(p.schedule).config;
  return {
    diffusion: { schedule, predictionType: p.predictionType, defaults: p.defaults, conventions: DIFFUSION_CONVENTIONS },
    upscale: p.upscaler
      ? {
          factor: 2,
          noiseLevel: p.upscaler.noiseLevel,
          steps: p.upscaler.sampleSteps,
          predictionType: p.upscaler.predictionType,
          schedule,
          conventions: UPSCALE_CONVENTIONS,
        }
      : undefined,
  };
}

/** Fixed prompts for sample grids: the first held-out captions. */
export async function samplePrompts(ctx: RunContext, n = 8): Promise<string[]> {
  return (await ctx.data()).heldOut.samples.slice(0, n).map((s) => s.caption);
}

/**
 * Latent diffusion on frozen text states: condition dropout for classifier-free guidance (the empty
 * prompt's states, row 0, are what inference uses as unconditional), the preset's prediction type.
 */
export function unetObjective(ctx: RunContext, data: LatentSet & { latentShape: number[]; contextShape: number[] }): Objective {
  const p = ctx.preset;
  const sched = p.stages.unet;
  const cfg = ctx.configs().unet;
  const schedule = createSchedule(p.schedule);
  const [, h, w, c] = data.latentShape;
  const [, T, D] = data.contextShape;
  const b = sched.batchSize;
  const latentSize = h * w * c;
  const ctxSize = T * D;
  return {
    name: 'unet',
    inputs: {
      sample: { shape: [b, h, w, c], dtype: 'float32', image: true },
      timestep: { shape: [b], dtype: 'float32' },
      context: { shape: [b, T, D], dtype: 'float32' },
      target: { shape: [b, h, w, c], dtype: 'float32', image: true },
    },
    loss(net, x) {
      const ops = net('unet');
      const d = ops.sub(unet(ops, cfg, { sample: x.sample, timestep: x.timestep, context: x.context }), x.target);
      return ops.meanAll(ops.mul(d, d));
    },
    batch(step) {
      const idx = batchIndices(data.captionIndex.length, b, mixSeed(ctx.seed, 4), step);
      const x0 = new Float32Array(b * latentSize);
      const context = new Float32Array(b * ctxSize);
      const dropout = createUniformRng(mixSeed(ctx.seed, step, 0x9));
      idx.forEach((i, k) => {
        x0.set(data.latents.subarray(i * latentSize, (i + 1) * latentSize), k * latentSize);
        const row = dropout() < p.conditionDropout ? 0 : data.captionIndex[i];
        context.set(data.contexts.subarray(row * ctxSize, (row + 1) * ctxSize), k * ctxSize);
      });
      const { t, xt, target } = noisedBatch(schedule, x0, b, p.predictionType, ctx.seed, step);
      return { sample: xt, timestep: t, context, target };
    },
  };
}

/** Text states [n, T, D] of prompts through the trained text encoder's exported graph. */
export function promptStates(ctx: RunContext, prompts: string[]): Promise<Float32Array> {
  return textStates(
    ctx.configs().textEncoder,
    loadWeights(join(ctx.dir, 'clip', 'text_encoder.bin')).weights,
    ctx.tokenizer().encodeBatch(prompts),
    prompts.length,
  );
}

/** Held-out scenes the composition probe draws at every sample step: two batches, enough to see a trend. */
const PROBE_SCENES = 64;
const PROBE_BATCH = 32;

/** The first held-out scenes and their text states, when the data has ground truth (synthetic shapes). */
async function compositionProbe(ctx: RunContext) {
  const { heldOut } = await ctx.data();
  if (!heldOut.scenes?.length) return undefined;
  const scenes = heldOut.scenes.slice(0, PROBE_SCENES);
  const captions = heldOut.samples.slice(0, scenes.length).map((s) => s.caption);
  return {
    scenes,
    cond: await promptStates(ctx, captions),
    uncond: await promptStates(
      ctx,
      captions.map(() => ''),
    ),
  };
}

/**
 * The probe's learning curve: fully right (red), one-object (green) and two-object scenes (blue) against step,
 * grey line at 0.9. A step probed twice (a resumed run repeats its last sample step) keeps its latest line.
 */
function compositionChart(jsonl: string) {
  const byStep = new Map<number, ReturnType<typeof compositionByObjects> & { step: number }>();
  for (const l of jsonl.trim().split('\n')) {
    const r = JSON.parse(l);
    byStep.set(r.step, r);
  }
  const rows = [...byStep.values()].sort((a, b) => a.step - b.step);
  const series: Series[] = [{ values: rows.map((r) => r.accuracy), rgb: [0.85, 0.15, 0.1] }];
  if (rows.every((r) => r.oneObject !== undefined)) series.push({ values: rows.map((r) => r.oneObject!), rgb: [0.1, 0.6, 0.2] });
  if (rows.every((r) => r.twoObjects !== undefined)) series.push({ values: rows.map((r) => r.twoObjects!), rgb: [0.1, 0.3, 0.9] });
  return seriesChart(
    rows.map((r) => r.step),
    series,
    0.9,
  );
}

export async function unetStage(ctx: RunContext): Promise<StageSummary> {
  const dir = ctx.stageDir('unet');
  const p = ctx.preset;
  const cfg = ctx.configs().unet;
  const data = loadLatents(ctx);
  const [, h] = data.latentShape;
  const [, T, D] = data.contextShape;
  const engine = await ctx.engine(unetObjective(ctx, data), { emaDecay: p.emaDecay });
  const prompts = await samplePrompts(ctx);
  const cond = await promptStates(ctx, prompts);
  const uncond = await promptStates(
    ctx,
    prompts.map(() => ''),
  );
  const vae = loadWeights(ctx.vaeDecoderPath());
  const decoder = await inferenceSession(exportVaeDecoder(ctx.configs().vae, p.imageSize, vae.weights));
  const manifest = pipelineManifest(ctx, vae.meta.scaleFactor as number);

  const probe = await compositionProbe(ctx);

  const sampleGrid = async (step: number, file: string) => {
    const net = await inferenceSession(exportUnet(cfg, h, T, engine.weights('unet', 'ema')));
    const runtime = ortRuntime(ort, { unet: net, vaeDecoder: decoder });
    const draw = async (c: Float32Array, u: Float32Array, guidance: number, seed: number) => {
      const dims = [c.length / (T * D), T, D];
      const out = await generate(runtime, manifest, {
        cond: { data: c, dims },
        uncond: { data: u, dims },
        seed,
        guidance,
        steps: p.defaults.steps,
      });
      return batchToImages(out.data, out.dims);
    };
    const rows = [];
    for (const guidance of [1, p.defaults.guidance]) rows.push(...(await draw(cond, uncond, guidance, 1234)));
    writeAtomic(join(dir, file), encodePng(imageGrid(rows, prompts.length)));
    ctx.log(`\nunet: sample grid at step ${step} → ${join(dir, file)} (rows: guidance 1, ${p.defaults.guidance})`);
    if (probe) {
      const images = [];
      for (let i = 0; i < probe.scenes.length; i += PROBE_BATCH) {
        const [a, b] = [i * T * D, Math.min(i + PROBE_BATCH, probe.scenes.length) * T * D];
        images.push(...(await draw(probe.cond.subarray(a, b), probe.uncond.subarray(a, b), p.defaults.guidance, 99 + i)));
      }
      const line = {
        step,
        guidance: p.defaults.guidance,
        ...compositionByObjects(
          images.map((im, i) => scoreScene(im, probe.scenes[i])),
          probe.scenes,
        ),
      };
      const log = join(dir, 'composition.jsonl');
      appendFileSync(log, `${JSON.stringify(line)}\n`);
      writeAtomic(join(dir, 'composition.png'), encodePng(compositionChart(readFileSync(log, 'utf8'))));
      const pct = (x: number | undefined) => (x === undefined ? '–' : `${(100 * x).toFixed(1)} %`);
      ctx.log(
        `unet: composition at step ${step} (ground-truth detector, ${probe.scenes.length} held-out scenes, EMA, guidance ${line.guidance}): ${pct(line.accuracy)} fully right; one object ${pct(line.oneObject)}, two objects ${pct(line.twoObjects)}`,
      );
    }
    await net.release();
  };

  const result = await trainLoop({
    ...ctx.loopOptions('unet', p.stages.unet),
    sampleEvery: 500,
    engine,
    onSample: (step) => sampleGrid(step, `samples-${String(step).padStart(6, '0')}.png`),
  });
  saveWeights(join(dir, 'unet.bin'), engine.weights('unet', 'ema'));
  engine.dispose();
  await decoder.release();
  return { steps: result.steps, wallSeconds: result.wallSeconds, finalLoss: result.finalLoss };
}
