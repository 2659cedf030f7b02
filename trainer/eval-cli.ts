import { mkdirSync } from 'node:fs';
import { InvalidArgumentError } from '../models/errors.ts';
import { openBundle } from '../node/bundle.ts';
import { join } from 'node:path';
import { parseCli, runCli, type CliSpec } from '../node/cli-args.ts';
import { getPreset } from './presets.ts';
import { loadPresetData } from './data/preset-data.ts';
import { evaluateOnPresetData } from './stages/eval.ts';

const SPEC: CliSpec = {
  name: 'eval',
  summary: "Evaluate a bundle on the held-out data of the preset that trained it (from its manifest), with the eval stage's metrics.",
  options: {
    model: { type: 'string', value: 'DIR', description: 'bundle folder (required)' },
    json: { type: 'boolean', description: 'print the report as one line of JSON' },
    out: { type: 'string', value: 'DIR', description: "where the report's pictures go", default: 'runs/eval-<model name>' },
    prompts: { type: 'string', value: 'N', description: 'held-out captions to generate for', default: "the preset's" },
    steps: { type: 'string', value: 'N', description: 'sampler steps', default: "the preset's" },
  },
  examples: ['npm run eval -- --model models/bundles/emoji --json --out docs/results/emoji'],
};

/**
 * Evaluate a bundle on the held-out data of the preset that trained it (recorded in its manifest), with
 * the same metrics as the eval stage. Pictures go to --out; --json prints the report on stdout.
 */
runCli('eval', async () => {
  const opts = parseCli(SPEC, process.argv.slice(2));
  const dir = opts.str('model');
  if (!dir) throw new InvalidArgumentError('model', 'is required; see --help');
  const prompts = opts.int('prompts', undefined, 1);
  const steps = opts.int('steps', undefined, 1, 1000);
  const bundle = await openBundle(dir);
  const { training } = bundle.manifest;
  const preset = getPreset(training.preset);
  if (preset.data.kind === 'folder')
    throw new InvalidArgumentError(
      'model',
      `its preset '${training.preset}' trains on a folder; run the eval stage in its run folder instead`,
    );
  // Never beside the bundle by default: that would drop an untracked folder into the model tree.
  const outDir = opts.str('out') ?? join('runs', `eval-${bundle.manifest.name}`);
  mkdirSync(outDir, { recursive: true });
  const report = await evaluateOnPresetData(bundle, preset, training.seed, (size) => loadPresetData(preset.data, training.seed, size), {
    outDir,
    prompts,
    steps,
    log: (l) => process.stderr.write(`${l}\n`),
  });
  const result = { model: `${bundle.manifest.name}@${bundle.manifest.version}`, ...report };
  process.stdout.write(opts.has('json') ? `${JSON.stringify(result)}\n` : `${JSON.stringify(result, null, 2)}\n`);
});
