import * as ort from 'onnxruntime-node';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downscale } from '../../models/image.ts';
import type { WeightMap } from '../../models/nn/weights.ts';
import { exportUnet, exportVaeDecoder } from '../../models/onnx/export.ts';
import { generate } from '../../models/pipeline/generate.ts';
import { batchToImages } from '../../models/pipeline/layout.ts';
import { ortRuntime } from '../../models/pipeline/ort-runtime.ts';
import { initBackend } from '../../trainer/backend.ts';
import type { StoredTensor } from '../../trainer/checkpoint.ts';
import { RunContext } from '../../trainer/context.ts';
import type { Objective } from '../../trainer/objective.ts';
import { createOrtEngine } from '../../trainer/ort/engine.ts';
import { createTfjsEngine } from '../../trainer/tfjs/engine.ts';
import { learningRate } from '../../trainer/loop.ts';
import { inferenceSession } from '../../trainer/ort/inference.ts';
import { getPreset, type StageSchedule } from '../../trainer/presets.ts';
import { decoderStage } from '../../trainer/stages/decoder.ts';
import { encodeDataset } from '../../trainer/stages/latents.ts';
import { pipelineManifest, promptStates, unetObjective } from '../../trainer/stages/unet.ts';
import { upscalerObjective } from '../../trainer/stages/upscaler.ts';
import { vaeObjective } from '../../trainer/stages/vae.ts';
import { loadWeights } from '../../trainer/weights-io.ts';
import { runCli } from '../support/cli.ts';
import { decodeImage } from '../../node/png.ts';

/**
 * Does training learn? One shapes-tiny run of every training stage on the default engine, then each stage's
 * objective on held-out data at the initial weights (same seed) and at the trained ones. A stage whose
 * target, inputs or conditioning broke stays near its starting loss, or draws the same picture for every prompt.
 */
const dir = mkdtempSync(join(tmpdir(), 'learning-'));
let ctx: RunContext;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(async () => {
  const r = await runCli('trainer/cli.ts', [
    '--preset',
    'shapes-tiny',
    '--out',
    dir,
    '--stage',
    'tokenizer,clip,vae,latents,unet,upscaler',
  ]);
  expect(r.code, r.output).toBe(0);
  ctx = new RunContext(getPreset('shapes-tiny'), dir, 1, false, await initBackend('ort'), 'test');
}, 300_000);

/** Mean loss over the first `batches` batches of an objective, at initial weights or at given ones. */
async function heldOutLoss(objective: Objective, trained?: Record<string, WeightMap>, batches = 4): Promise<number> {
  const engine = await createOrtEngine(objective, { seed: ctx.seed, weightDecay: 0, clipNorm: 1 }, { threads: 2 });
  if (trained) {
    const tensors = new Map<string, StoredTensor>(engine.checkpointTensors());
    for (const [network, weights] of Object.entries(trained)) for (const [name, w] of weights) tensors.set(`param:${network}/${name}`, w);
    engine.restore(tensors, 'trained weights');
  }
  let sum = 0;
  for (let b = 0; b < batches; b++) sum += await engine.step(b, 0);
  engine.dispose();
  return sum / batches;
}
const weights = (stage: string, file: string) => loadWeights(join(dir, stage, file)).weights;

/** Train an objective for `steps` steps on one engine at its stage's learning-rate schedule; its networks' weights. */
async function trainBriefly(
  objective: Objective,
  engineName: 'ort' | 'tfjs',
  sched: StageSchedule,
  steps: number,
  networks: string[],
): Promise<Record<string, WeightMap>> {
  const settings = { seed: ctx.seed, weightDecay: 0.01, clipNorm: 1 };
  const engine =
    engineName === 'ort' ? await createOrtEngine(objective, settings, { threads: 2 }) : await createTfjsEngine(objective, settings);
  for (let step = 0; step < steps; step++) await engine.step(step, learningRate({ ...sched, steps }, step));
  const out = Object.fromEntries(networks.map((n) => [n, engine.weights(n, 'param')]));
  engine.dispose();
  return out;
}

/** The same data at twice the size, box-downscaled as the condition: the upscaler objective on a split. */
async function upscalerSplit(split: 'train' | 'heldOut'): Promise<Objective> {
  const hi = (await ctx.data(2 * ctx.preset.imageSize))[split];
  return upscalerObjective(
    ctx,
    hi,
    hi.samples.map((s) => downscale(s.image, 2)),
  );
}

describe('training learns (shapes-tiny, default engine)', () => {
  it('VAE: held-out reconstruction loss ≤ 0.7× its starting value', async () => {
    const objective = vaeObjective(ctx, (await ctx.data()).heldOut);
    const before = await heldOutLoss(objective);
    const after = await heldOutLoss(objective, {
      vae_encoder: weights('vae', 'vae_encoder.bin'),
      vae_decoder: weights('vae', 'vae_decoder.bin'),
    });
    expect(after, `${before} → ${after}`).toBeLessThan(0.7 * before);
  });

  it('decoder stage: fine-tunes the VAE stage decoder alone; held-out PSNR rises, the encoder and latent scale stay as they were', async () => {
    const preset = getPreset('shapes-tiny');
    preset.stages.decoder = { steps: 120, batchSize: 16, lr: 1e-3, warmupSteps: 10, lrSchedule: 'cosine', l1: 1 };
    const run = new RunContext(preset, dir, ctx.seed, false, ctx.backend, 'test');
    const encoder = join(dir, 'vae', 'vae_encoder.bin');
    const encoderBytes = readFileSync(encoder);
    const summary = await decoderStage(run);
    expect(summary.psnr as number, JSON.stringify(summary)).toBeGreaterThan((summary.psnrBefore as number) + 0.5);
    expect(readFileSync(encoder).equals(encoderBytes)).toBe(true);
    expect(run.vaeDecoderPath()).toBe(join(dir, 'decoder', 'vae_decoder.bin'));
    expect(loadWeights(run.vaeDecoderPath()).meta.scaleFactor).toBe(loadWeights(encoder).meta.scaleFactor);
    // A preset without the stage keeps the VAE stage's decoder.
    expect(ctx.vaeDecoderPath()).toBe(join(dir, 'vae', 'vae_decoder.bin'));
  }, 120_000);

  it('U-Net: held-out denoising loss ≤ 0.7× its starting value', async () => {
    const objective = unetObjective(ctx, await encodeDataset(ctx, (await ctx.data()).heldOut));
    const before = await heldOutLoss(objective);
    const after = await heldOutLoss(objective, { unet: weights('unet', 'unet.bin') });
    expect(after, `${before} → ${after}`).toBeLessThan(0.7 * before);
  });

  it('mutation check: the same U-Net run trained towards zeros (its target broken) fails the loss test above', {
    timeout: 180_000,
  }, async () => {
    const sched = ctx.preset.stages.unet;
    const train = unetObjective(ctx, await encodeDataset(ctx, (await ctx.data()).train));
    const zeros = new Float32Array(train.inputs.target.shape.reduce((a, b) => a * b, 1));
    const broken: Objective = { ...train, batch: (step) => ({ ...train.batch(step), target: zeros }) };
    const mutant = await trainBriefly(broken, 'ort', sched, sched.steps, ['unet']);
    const objective = unetObjective(ctx, await encodeDataset(ctx, (await ctx.data()).heldOut));
    const before = await heldOutLoss(objective);
    const after = await heldOutLoss(objective, mutant);
    expect(after, `${before} → ${after}`).toBeGreaterThan(0.7 * before);
  });

  it('mutation check: a VAE trained on blank images (its input and target broken) fails the VAE loss test', {
    timeout: 180_000,
  }, async () => {
    const train = vaeObjective(ctx, (await ctx.data()).train);
    const blank = new Float32Array(train.inputs.image.shape.reduce((a, b) => a * b, 1));
    const broken: Objective = { ...train, batch: (step) => ({ ...train.batch(step), image: blank }) };
    const mutant = await trainBriefly(broken, 'ort', ctx.preset.stages.vae, ctx.preset.stages.vae.steps, ['vae_encoder', 'vae_decoder']);
    const objective = vaeObjective(ctx, (await ctx.data()).heldOut);
    const before = await heldOutLoss(objective);
    expect(await heldOutLoss(objective, mutant)).toBeGreaterThan(0.7 * before);
  });

  // The second engine (tfjs-wasm, ~1 s a step here): fewer steps than the presets', the presets' learning rates.
  it('the second engine learns too: U-Net, VAE and upscaler trained briefly on tfjs (wasm) lower their held-out losses', {
    timeout: 400_000,
  }, async () => {
    const unetHeld = unetObjective(ctx, await encodeDataset(ctx, (await ctx.data()).heldOut));
    const unetTrain = unetObjective(ctx, await encodeDataset(ctx, (await ctx.data()).train));
    const vaeHeld = vaeObjective(ctx, (await ctx.data()).heldOut);
    // [stage, train, held-out, schedule, steps, networks, required ratio]. Measured: U-Net 1.02 → 0.40 after
    // 60 steps; the upscaler 0.0050 → 0.0044 (0.90×) after 40 — it starts as exact bicubic (zero-initialised
    // output), so little loss is left to remove that soon; the default-engine test asks ≤ 0.7× of the full run.
    const cases: [string, Objective, Objective, StageSchedule, number, string[], number][] = [
      ['unet', unetTrain, unetHeld, ctx.preset.stages.unet, 60, ['unet'], 0.7],
      ['vae', vaeObjective(ctx, (await ctx.data()).train), vaeHeld, ctx.preset.stages.vae, 40, ['vae_encoder', 'vae_decoder'], 0.7],
      ['upscaler', await upscalerSplit('train'), await upscalerSplit('heldOut'), ctx.preset.upscaler!, 40, ['upscaler'], 0.95],
    ];
    for (const [name, train, held, sched, steps, networks, ratio] of cases) {
      const before = await heldOutLoss(held);
      const after = await heldOutLoss(held, await trainBriefly(train, 'tfjs', sched, steps, networks));
      expect(after, `${name}: ${before} → ${after}`).toBeLessThan(ratio * before);
    }
  });

  it('upscaler: held-out loss ≤ 0.7× its starting value (bicubic)', async () => {
    const objective = await upscalerSplit('heldOut');
    const before = await heldOutLoss(objective);
    const after = await heldOutLoss(objective, { upscaler: weights('upscaler', 'upscaler.bin') });
    expect(after, `${before} → ${after}`).toBeLessThan(0.7 * before);
  });

  it('mutation check: an upscaler trained without its condition (the low-resolution input blanked) fails the upscaler loss test', {
    timeout: 180_000,
  }, async () => {
    const train = await upscalerSplit('train');
    const blank = new Float32Array(train.inputs.lowRes.shape.reduce((a, b) => a * b, 1));
    const broken: Objective = { ...train, batch: (step) => ({ ...train.batch(step), lowRes: blank }) };
    const mutant = await trainBriefly(broken, 'ort', ctx.preset.upscaler!, ctx.preset.upscaler!.steps, ['upscaler']);
    const objective = await upscalerSplit('heldOut');
    const before = await heldOutLoss(objective);
    const after = await heldOutLoss(objective, mutant);
    expect(after, `${before} → ${after}`).toBeGreaterThan(0.7 * before);
  });

  it('the U-Net stage logs composition on held-out scenes by the ground-truth detector at its last step', () => {
    const lines = readFileSync(join(dir, 'unet', 'composition.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const last = lines.at(-1);
    expect(last).toMatchObject({ step: ctx.preset.stages.unet.steps, guidance: ctx.preset.defaults.guidance, scenes: 64 });
    // shapes-tiny has one object per scene: the two-object share is absent, not 0.
    expect(last.oneObject).toBe(last.accuracy);
    expect(last.twoObjects).toBeUndefined();
    expect(last.accuracy).toBeGreaterThanOrEqual(0);
    expect(last.accuracy).toBeLessThanOrEqual(1);
    const chart = decodeImage(readFileSync(join(dir, 'unet', 'composition.png')));
    expect([chart.width, chart.height]).toEqual([480, 240]);
  });

  it('U-Net: follows the prompt — "red" prompts draw redder pictures than "blue" ones, seed for seed', async () => {
    const prompts = ['a large red square', 'a large blue square'];
    const states = await promptStates(ctx, [...prompts, '', '']);
    const [, T, D] = [0, ctx.preset.maxLength, ctx.configs().textEncoder.width];
    const per = T * D;
    const vae = loadWeights(join(dir, 'vae', 'vae_decoder.bin'));
    const runtime = ortRuntime(ort, {
      unet: await inferenceSession(exportUnet(ctx.configs().unet, ctx.configs().latentSize, T, weights('unet', 'unet.bin'))),
      vaeDecoder: await inferenceSession(exportVaeDecoder(ctx.configs().vae, ctx.preset.imageSize, vae.weights)),
    });
    const manifest = pipelineManifest(ctx, vae.meta.scaleFactor as number);
    const redness = async (which: number, seed: number) => {
      const one = (row: number) => ({ data: states.slice(row * per, (row + 1) * per), dims: [1, T, D] });
      const out = await generate(runtime, manifest, { cond: one(which), uncond: one(2), seed, guidance: 4 });
      const [im] = batchToImages(out.data, out.dims);
      let r = 0;
      for (let i = 0; i < im.data.length; i += 3) r += im.data[i] - im.data[i + 2];
      return r / (im.data.length / 3);
    };
    let ordered = 0;
    for (let seed = 1; seed <= 8; seed++) if ((await redness(0, seed)) > (await redness(1, seed))) ordered++;
    // Chance is 4 of 8.
    expect(ordered).toBeGreaterThanOrEqual(7);
  });
});
