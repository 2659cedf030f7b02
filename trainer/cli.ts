import { existsSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { InvalidArgumentError } from '../models/errors.ts';
import { parseCli, runCli, type CliSpec } from '../node/cli-args.ts';
import { loadPresetData } from './data/preset-data.ts';
import { RunContext, type StageSummary } from './context.ts';
import { getPreset, presetNames } from './presets.ts';
import { clipStage } from './stages/clip.ts';
import { evalStage } from './stages/eval.ts';
import { decoderStage } from './stages/decoder.ts';
import { exportStage } from './stages/export.ts';
import { latentsStage } from './stages/latents.ts';
import { tokenizerStage } from './stages/tokenizer.ts';
import { unetStage } from './stages/unet.ts';
import { upscalerStage } from './stages/upscaler.ts';
import { vaeStage } from './stages/vae.ts';
import { BACKENDS, initBackend, type BackendChoice } from './backend.ts';

export const STAGES = ['tokenizer', 'clip', 'vae', 'decoder', 'latents', 'unet', 'upscaler', 'export', 'eval'] as const;
type Stage = (typeof STAGES)[number];

const SPEC: CliSpec = {
  name: 'train',
  summary: 'Train every model of a preset from scratch (resumable stages), export a verified bundle and evaluate it.',
  options: {
    preset: { type: 'string', value: 'NAME', description: `model family: ${presetNames().join(', ')} (required)` },
    out: { type: 'string', value: 'DIR', description: 'run folder: one sub-folder per stage, the bundle in DIR/bundle (required)' },
    stage: { type: 'string', value: 'S[,S…]', description: `all, or any of ${STAGES.join(', ')}`, default: 'all' },
    seed: { type: 'string', value: 'N', description: 'seeds data, shuffling, initial weights and noise', default: '1' },
    resume: { type: 'boolean', description: 'continue each stage from its checkpoint; with --stage all, skip finished stages' },
    'max-steps': { type: 'string', value: 'N', description: 'cap every stage at N steps (smoke runs)', default: "the preset's" },
    'checkpoint-every': { type: 'string', value: 'N', description: 'checkpoint interval in steps', default: '100' },
    backend: {
      type: 'string',
      value: 'B',
      description: `${BACKENDS.join(', ')}; auto = tfjs-node-gpu if installed, else ort`,
      default: 'auto',
    },
    threads: { type: 'string', value: 'N', description: 'onnxruntime intra-op threads of the ort engine', default: 'every core' },
    fp16: { type: 'boolean', description: 'export float16 weights (half the download)' },
    data: { type: 'string', value: 'DIR', description: "train on a folder of images with captions instead of the preset's data" },
  },
  examples: [
    'npm run train -- --preset shapes-tiny --out runs/shapes-tiny',
    'npm run train -- --preset emoji --out runs/emoji --resume --fp16',
  ],
};

runCli('train', async () => {
  const argv = process.argv.slice(2);
  const opts = parseCli(SPEC, argv);
  const presetName = opts.str('preset');
  const out = opts.str('out');
  if (!presetName) throw new InvalidArgumentError('preset', 'is required; see --help');
  if (!out) throw new InvalidArgumentError('out', 'is required; see --help');
  const preset = getPreset(presetName);
  const data = opts.str('data');
  if (data !== undefined) {
    if (!existsSync(data) || !statSync(data).isDirectory()) throw new InvalidArgumentError('data', `no such folder: ${data}`);
    preset.data = { kind: 'folder', path: data, heldOut: preset.data.heldOut };
  }
  const stageArg = opts.str('stage') ?? 'all';
  const stages = stageArg === 'all' ? [...STAGES] : stageArg.split(',');
  for (const s of stages)
    if (!(STAGES as readonly string[]).includes(s))
      throw new InvalidArgumentError('stage', `unknown stage '${s}'; stages are ${STAGES.join(', ')}`);
  const resume = opts.has('resume');
  const backendChoice = opts.str('backend') ?? 'auto';
  if (!(BACKENDS as readonly string[]).includes(backendChoice))
    throw new InvalidArgumentError('backend', `must be one of ${BACKENDS.join(', ')}, got '${backendChoice}'`);
  const threads = opts.int('threads', availableParallelism(), 1, 256);
  const seed = opts.int('seed', 1, 0, 0xffffffff);
  const maxSteps = opts.int('max-steps', undefined, 1);
  const checkpointEvery = opts.int('checkpoint-every', 100, 1);
  if (data !== undefined) {
    // Read the folder before any work: a folder with nothing usable is a usage error, not an empty run.
    const { train } = await loadPresetData(preset.data, seed, preset.imageSize);
    if (train.samples.length === 0)
      throw new InvalidArgumentError('data', `no usable image–caption pairs in ${data} (see the folder format in the README)`);
  }
  const backend = await initBackend(backendChoice as BackendChoice, threads);
  const ctx = new RunContext(preset, out, seed, resume, backend, `npm run train -- ${argv.join(' ')}`, maxSteps, checkpointEvery);
  ctx.log(`train: preset ${preset.name}, back end ${backend.name} (${backend.source}), run folder ${out}`);
  const run: Record<Stage, () => Promise<StageSummary>> = {
    tokenizer: () => tokenizerStage(ctx),
    clip: () => clipStage(ctx),
    vae: () => vaeStage(ctx),
    decoder: () => decoderStage(ctx),
    latents: () => latentsStage(ctx),
    unet: () => unetStage(ctx),
    upscaler: () => upscalerStage(ctx),
    export: () => exportStage(ctx, { fp16: opts.has('fp16') }),
    eval: () => evalStage(ctx),
  };
  for (const stage of stages as Stage[]) {
    if ((stage === 'upscaler' && !preset.upscaler) || (stage === 'decoder' && !preset.stages.decoder)) continue;
    if (resume && stageArg === 'all' && ctx.done(stage)) {
      ctx.log(`${stage}: already done, skipped (--resume)`);
      continue;
    }
    const summary = await run[stage]();
    ctx.markDone(stage, summary);
  }
  ctx.log(`train: finished; bundle in ${out}/bundle`);
});
