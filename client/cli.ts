import { readFileSync, writeFileSync } from 'node:fs';
import { InvalidArgumentError } from '../models/errors.ts';
import { generate } from '../models/pipeline/generate.ts';
import { batchToImages, imagesToBatch } from '../models/pipeline/layout.ts';
import { openBundle } from '../trainer/bundle-node.ts';
import { intOption, parseOptions, runCli } from '../trainer/cli-args.ts';
import { decodeImage, encodePng } from '../trainer/data/png.ts';
import { resizeBilinear } from '../models/image.ts';
import { ProgressBar } from '../trainer/progress.ts';

const USAGE = `usage: npm run generate -- --prompt "…" --out out.png [--model models/bundles/emoji] [--negative "…"]
       [--steps N] [--guidance S] [--rescale R] [--sampler dpmpp-2m|ddim|ddpm|euler-a] [--seed 1]
       [--init image.png --strength 0.6] [--upscale]`;

/** The generation pipeline on onnxruntime-node against a local bundle: the browser's pipeline, from a shell. */
runCli('generate', async () => {
  const argv = process.argv.slice(2);
  if (argv.includes('--help')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const o = parseOptions(argv, ['upscale'], ['prompt', 'negative', 'steps', 'guidance', 'rescale', 'sampler', 'seed', 'init', 'strength', 'out', 'model']);
  const prompt = o.get('prompt');
  const out = o.get('out');
  if (prompt === undefined || !out) throw new InvalidArgumentError('arguments', `--prompt and --out are required\n${USAGE}`);
  const num = (name: string) => {
    const v = o.get(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(name, `must be a number, got '${v}'`);
    return n;
  };
  const bundle = await openBundle(o.get('model') ?? 'models/bundles/emoji');
  const m = bundle.manifest;
  const tokens = bundle.tokenizer.countTokens(prompt);
  if (tokens > m.tokenizer.maxLength - 2) throw new InvalidArgumentError('prompt', `has ${tokens} tokens; this model takes at most ${m.tokenizer.maxLength - 2}`);
  const cond = (await bundle.encodeText([prompt])).hidden;
  const uncond = (await bundle.encodeText([o.get('negative') ?? ''])).hidden;
  let init;
  const initPath = o.get('init');
  if (initPath) {
    let img = decodeImage(readFileSync(initPath));
    if (img.width !== m.imageSize || img.height !== m.imageSize) img = resizeBilinear(img, m.imageSize, m.imageSize);
    init = { image: imagesToBatch([img]), strength: num('strength') ?? 0.6 };
  }
  const steps = intOption(o, 'steps', m.diffusion.defaults.steps, 1)!;
  const bar = new ProgressBar('generate', steps);
  const t0 = performance.now();
  const image = await generate(await bundle.runtime(), m, {
    cond,
    uncond,
    steps,
    guidance: num('guidance'),
    guidanceRescale: num('rescale'),
    sampler: o.get('sampler'),
    seed: intOption(o, 'seed', 1)!,
    init,
    upscale: o.has('upscale'),
    onStep: ({ step, total }) => bar.update(step, `step ${step}/${total}`),
  });
  const [png] = batchToImages(image.data, image.dims);
  writeFileSync(out, encodePng(png));
  bar.done(`${out} (${png.width}×${png.height}, ${((performance.now() - t0) / steps).toFixed(1)} ms/step, onnxruntime-node)`);
});
