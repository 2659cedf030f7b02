import { mkdirSync } from 'node:fs';
import { InvalidArgumentError } from '../models/errors.ts';
import { openBundle } from './bundle-node.ts';
import { intOption, parseOptions, runCli } from './cli-args.ts';
import { getPreset } from './presets.ts';
import { loadPresetData } from './data/preset-data.ts';
import { evaluateOnPresetData } from './stages/eval.ts';

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
  const { training } = bundle.manifest;
  const preset = getPreset(training.preset);
  if (preset.data.kind === 'folder') throw new InvalidArgumentError('model', `its preset '${training.preset}' trains on a folder; run the eval stage in its run folder instead`);
  const outDir = opts.get('out') ?? `${dir.replace(/\/$/, '')}-eval`;
  mkdirSync(outDir, { recursive: true });
  const report = await evaluateOnPresetData(bundle, preset, training.seed, (size) => loadPresetData(preset.data, training.seed, size), {
    outDir,
    prompts: intOption(opts, 'prompts', undefined, 1),
    steps: intOption(opts, 'steps', undefined, 1),
    log: (l) => process.stderr.write(`${l}\n`),
  });
  const result = { model: `${bundle.manifest.name}@${bundle.manifest.version}`, ...report };
  process.stdout.write(opts.has('json') ? `${JSON.stringify(result)}\n` : `${JSON.stringify(result, null, 2)}\n`);
});
