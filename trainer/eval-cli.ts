import { mkdirSync } from 'node:fs';
import { InvalidArgumentError } from '../models/errors.ts';
import { openBundle } from './bundle-node.ts';
import { intOption, parseOptions, runCli } from './cli-args.ts';
import { shapesDataset } from './data/shapes.ts';
import { getPreset } from './presets.ts';
import { evaluateBundle } from './stages/eval.ts';

const USAGE = 'usage: npm run eval -- --model <bundle-dir> [--json] [--out <dir>] [--prompts N] [--steps N]';

/**
 * Evaluate a bundle on the held-out data of the preset that trained it (recorded in its manifest), with
 * the same metrics as the eval stage. Pictures go to --out; --json prints the report on stdout.
 */
runCli('eval', async () => {
  const opts = parseOptions(process.argv.slice(2), ['json'], ['model', 'out', 'prompts', 'steps']);
  const dir = opts.get('model');
  if (!dir) throw new InvalidArgumentError('model', `is required\n${USAGE}`);
  const bundle = await openBundle(dir);
  const { training, imageSize } = bundle.manifest;
  const preset = getPreset(training.preset);
  if (preset.data.kind !== 'shapes') throw new InvalidArgumentError('model', `its preset '${training.preset}' trains on a folder; run the eval stage in its run folder instead`);
  const { count, heldOut, maxObjects } = preset.data;
  const held = shapesDataset(training.seed, heldOut, imageSize, { maxObjects }, count);
  const n = intOption(opts, 'prompts', preset.eval.prompts, 1)!;
  const outDir = opts.get('out') ?? `${dir.replace(/\/$/, '')}-eval`;
  mkdirSync(outDir, { recursive: true });
  const report = await evaluateBundle({
    bundle,
    prompts: held.samples.slice(0, n).map((s) => s.caption),
    real: held.samples.slice(0, n).map((s) => s.image),
    scenes: held.scenes.slice(0, n),
    guidanceScales: preset.eval.guidanceScales,
    steps: intOption(opts, 'steps', preset.eval.steps, 1)!,
    seed: training.seed,
    outDir,
    highRes: bundle.manifest.upscale ? shapesDataset(training.seed, heldOut, 2 * imageSize, { maxObjects }, count).samples.map((s) => s.image) : undefined,
    log: (l) => process.stderr.write(`${l}\n`),
  });
  const result = { model: `${bundle.manifest.name}@${bundle.manifest.version}`, ...report };
  process.stdout.write(opts.has('json') ? `${JSON.stringify(result)}\n` : `${JSON.stringify(result, null, 2)}\n`);
});
