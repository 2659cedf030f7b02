import { availableParallelism } from 'node:os';
import { InvalidArgumentError } from '../models/errors.ts';
import { intOption, parseOptions, runCli } from './cli-args.ts';
import { RunContext, type StageSummary } from './context.ts';
import { getPreset, presetNames } from './presets.ts';
import { clipStage } from './stages/clip.ts';
import { evalStage } from './stages/eval.ts';
import { exportStage } from './stages/export.ts';
import { latentsStage } from './stages/latents.ts';
import { tokenizerStage } from './stages/tokenizer.ts';
import { unetStage } from './stages/unet.ts';
import { upscalerStage } from './stages/upscaler.ts';
import { vaeStage } from './stages/vae.ts';
import { BACKENDS, initBackend, type BackendChoice } from './backend.ts';

export const STAGES = ['tokenizer', 'clip', 'vae', 'latents', 'unet', 'upscaler', 'export', 'eval'] as const;
type Stage = (typeof STAGES)[number];

const USAGE = `usage: npm run train -- --preset <${presetNames().join('|')}> --out <dir> [--stage all|${STAGES.join('|')}[,…]]
       [--seed 1] [--resume] [--max-steps N] [--checkpoint-every 100] [--backend ${BACKENDS.join('|')}] [--threads N] [--fp16] [--data <folder>]`;

runCli('train', async () => {
  const argv = process.argv.slice(2);
  if (argv.includes('--help')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const opts = parseOptions(argv, ['resume', 'fp16'], ['preset', 'out', 'stage', 'seed', 'max-steps', 'checkpoint-every', 'backend', 'threads', 'data']);
  const presetName = opts.get('preset');
  const out = opts.get('out');
  if (!presetName || !out) throw new InvalidArgumentError('arguments', `--preset and --out are required\n${USAGE}`);
  const preset = getPreset(presetName);
  const data = opts.get('data');
  if (data) preset.data = { kind: 'folder', path: data, heldOut: preset.data.heldOut };
  const stageArg = opts.get('stage') ?? 'all';
  const stages = stageArg === 'all' ? [...STAGES] : stageArg.split(',');
  for (const s of stages) if (!(STAGES as readonly string[]).includes(s)) throw new InvalidArgumentError('stage', `unknown stage '${s}'; stages are ${STAGES.join(', ')}`);
  const resume = opts.has('resume');
  const backend = await initBackend((opts.get('backend') ?? 'auto') as BackendChoice, intOption(opts, 'threads', availableParallelism(), 1));
  const ctx = new RunContext(preset, out, intOption(opts, 'seed', 1)!, resume, backend, `npm run train -- ${argv.join(' ')}`, intOption(opts, 'max-steps', undefined, 1), intOption(opts, 'checkpoint-every', 100, 1));
  ctx.log(`train: preset ${preset.name}, back end ${backend.name} (${backend.source}), run folder ${out}`);
  const run: Record<Stage, () => Promise<StageSummary>> = {
    tokenizer: () => tokenizerStage(ctx),
    clip: () => clipStage(ctx),
    vae: () => vaeStage(ctx),
    latents: () => latentsStage(ctx),
    unet: () => unetStage(ctx),
    upscaler: () => upscalerStage(ctx),
    export: () => exportStage(ctx, { fp16: opts.has('fp16') }),
    eval: () => evalStage(ctx),
  };
  for (const stage of stages as Stage[]) {
    if (stage === 'upscaler' && !preset.upscaler) continue;
    if (resume && stageArg === 'all' && ctx.done(stage)) {
      ctx.log(`${stage}: already done, skipped (--resume)`);
      continue;
    }
    const summary = await run[stage]();
    ctx.markDone(stage, summary);
  }
  ctx.log(`train: finished; bundle in ${out}/bundle`);
});
