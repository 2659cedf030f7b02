import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError } from '../models/errors.ts';
import { parseSamplerName } from '../models/diffusion/samplers/index.ts';
import { SAMPLER_NAMES } from '../models/diffusion/samplers/types.ts';
import { generate } from '../models/pipeline/generate.ts';
import { batchToImages, imagesToBatch } from '../models/pipeline/layout.ts';
import { openBundle } from '../node/bundle.ts';
import { defaultCacheDir, openEdgeModel, parseEdgeUrl, type GenerationModel } from './edge-model.ts';
import { parseCli, runCli, type CliSpec } from '../node/cli-args.ts';
import { decodeImage, encodePng } from '../node/png.ts';
import { resizeBilinear } from '../models/image.ts';
import { formatParameters, parseParameters, readPngText, withPngText } from '../models/png-text.ts';
import { ProgressBar } from '../node/progress.ts';
import { promptProblem } from '../models/text/tokenizer.ts';

const SHIPPED = fileURLToPath(new URL('../models/bundles', import.meta.url));

const SPEC: CliSpec = {
  name: 'generate',
  summary: "Generate images on onnxruntime-node with a bundle's networks: the browser's pipeline, from a shell.",
  options: {
    prompt: {
      type: 'string',
      value: 'TEXT',
      description: 'what to draw (required, unless --init is a PNG made here: then its prompt and settings)',
    },
    out: { type: 'string', value: 'FILE.png', description: 'where to write the PNG (required); with --count N, FILE-<seed>.png' },
    model: {
      type: 'string',
      value: 'NAME|DIR',
      description: 'a shipped model (emoji, shapes) or a bundle folder; with --edge, a model the edge serves (NAME or NAME@VERSION)',
      default: 'emoji',
    },
    edge: {
      type: 'string',
      value: 'URL',
      description: `generate against an edge: model files from URL (SHA-256 checked, kept in ${defaultCacheDir()}), prompt embeddings from its /v1/embeddings`,
    },
    negative: { type: 'string', value: 'TEXT', description: 'negative prompt (the unconditional side of guidance)', default: '""' },
    steps: { type: 'string', value: 'N', description: 'sampler steps', default: "the model's" },
    guidance: { type: 'string', value: 'S', description: 'classifier-free guidance scale, 0–50', default: "the model's" },
    rescale: { type: 'string', value: 'R', description: 'guidance rescale φ, 0–1', default: '0' },
    sampler: { type: 'string', value: 'NAME', description: SAMPLER_NAMES.join(' | '), default: "the model's" },
    seed: { type: 'string', value: 'N', description: 'noise seed, 0–4294967295', default: '1' },
    count: { type: 'string', value: 'N', description: 'how many images, seeds S, S+1, …', default: '1' },
    init: { type: 'string', value: 'FILE', description: 'img2img: start from this image' },
    strength: { type: 'string', value: 'X', description: 'img2img: how much to repaint, 0–1 (needs --init)', default: '0.6' },
    upscale: { type: 'boolean', description: "2× with the model's upscaler" },
  },
  examples: [
    'npm run generate -- --prompt "grinning face" --out face.png',
    'npm run generate -- --edge http://127.0.0.1:8787 --prompt "red heart" --out heart.png',
    'npm run generate -- --model shapes --prompt "a large green square" --count 4 --out sq.png',
  ],
};

/** A shipped model's name or a bundle folder. */
function bundleDir(model: string): string {
  if (existsSync(model) && statSync(model).isDirectory()) return model;
  const shipped = resolve(SHIPPED, model);
  if (/^[a-z0-9][a-z0-9-]*$/.test(model) && existsSync(resolve(shipped, 'manifest.json'))) return shipped;
  throw new InvalidArgumentError('model', `'${model}' is neither a bundle folder nor a shipped model (${['emoji', 'shapes'].join(', ')})`);
}

/** A local bundle: the text encoder runs here, on onnxruntime-node. */
async function localModel(dir: string): Promise<GenerationModel> {
  const bundle = await openBundle(dir);
  return {
    manifest: bundle.manifest,
    runtime: () => bundle.runtime(),
    async embed(prompt, negative) {
      for (const [flag, text] of [
        ['prompt', prompt],
        ['negative', negative],
      ] as const) {
        const problem = promptProblem(bundle.tokenizer, text);
        if (problem) throw new InvalidArgumentError(flag, problem.message);
      }
      return { cond: (await bundle.encodeText([prompt])).hidden, uncond: (await bundle.encodeText([negative])).hidden };
    },
  };
}

/** Where image `seed` of a run goes: FILE.png alone, FILE-<seed>.png when there are several. */
const outPath = (out: string, seed: number, count: number) =>
  count === 1 ? out : `${out.slice(0, out.length - extname(out).length)}-${seed}${extname(out) || '.png'}`;

runCli('generate', async () => {
  const o = parseCli(SPEC, process.argv.slice(2));
  // Every argument is checked before any model is loaded or step is run.
  const out = o.str('out');
  const initPath = o.str('init');
  if (initPath !== undefined && !existsSync(initPath)) throw new InvalidArgumentError('init', `no such file: ${initPath}`);
  // An init image this CLI or the page made carries its parameters: without --prompt, they are reused.
  const initBytes = initPath !== undefined ? readFileSync(initPath) : undefined;
  const previous = initBytes && initBytes[0] === 0x89 ? parseParameters(readPngText(initBytes).parameters ?? '') : undefined;
  const prompt = o.str('prompt') ?? previous?.prompt;
  if (prompt === undefined)
    throw new InvalidArgumentError(
      'prompt',
      initPath ? `is required: ${initPath} carries no generation parameters` : 'is required; see --help',
    );
  if (!out) throw new InvalidArgumentError('out', 'is required; see --help');
  if (!existsSync(dirname(resolve(out)))) throw new InvalidArgumentError('out', `folder ${dirname(resolve(out))} does not exist`);
  if (o.has('strength') && initPath === undefined) throw new InvalidArgumentError('strength', 'applies to img2img only; add --init IMAGE');
  const strength = o.num('strength', 0, 1) ?? 0.6;
  const guidance = o.num('guidance', 0, 50) ?? (o.has('prompt') ? undefined : previous?.guidance);
  const rescale = o.num('rescale', 0, 1);
  const seed = o.int('seed', 1, 0, 0xffffffff);
  const count = o.int('count', 1, 1, 64);
  if (seed + count - 1 > 0xffffffff) throw new InvalidArgumentError('count', `seeds ${seed}…${seed + count - 1} pass 4294967295`);
  const sampler = o.str('sampler') ?? (o.has('prompt') ? undefined : previous?.sampler);
  if (sampler !== undefined) parseSamplerName(sampler);
  const stepsArg = o.int('steps', undefined, 1, 1000) ?? (o.has('prompt') ? undefined : previous?.steps);
  const edgeArg = o.str('edge');
  const edge = edgeArg === undefined ? undefined : parseEdgeUrl(edgeArg);
  const modelArg = o.str('model') ?? 'emoji';
  const dir = edge ? undefined : bundleDir(modelArg);
  const negative = o.str('negative') ?? (o.has('prompt') ? undefined : previous?.negative) ?? '';

  const model = edge ? await openEdgeModel(edge, modelArg, { log: (line) => process.stderr.write(`${line}\n`) }) : await localModel(dir!);
  const m = model.manifest;
  if (previous && !o.has('prompt')) process.stderr.write(`generate: the parameters of ${initPath}: "${prompt}"\n`);
  const { cond, uncond } = await model.embed(prompt, negative);
  const initImage = initBytes && decodeImage(initBytes);
  const init = initImage && {
    image: imagesToBatch([
      initImage.width === m.imageSize && initImage.height === m.imageSize ? initImage : resizeBilinear(initImage, m.imageSize, m.imageSize),
    ]),
    strength,
  };
  const runtime = await model.runtime();
  for (let k = 0; k < count; k++) {
    const file = outPath(out, seed + k, count);
    let bar: ProgressBar | undefined;
    const t0 = performance.now();
    let ran = 0;
    const image = await generate(runtime, m, {
      cond,
      uncond,
      steps: stepsArg,
      guidance,
      guidanceRescale: rescale,
      sampler,
      seed: seed + k,
      init,
      upscale: o.has('upscale'),
      // The run's own count: img2img runs only the tail of the schedule.
      onStep: ({ step, total }) => {
        bar ??= new ProgressBar(count > 1 ? `generate ${k + 1}/${count}` : 'generate', total);
        bar.update(step, '', 1, 'steps');
        ran = total;
      },
    });
    const [png] = batchToImages(image.data, image.dims);
    const parameters = formatParameters({
      prompt,
      negative,
      steps: stepsArg ?? m.diffusion.defaults.steps,
      guidance: guidance ?? m.diffusion.defaults.guidance,
      sampler: sampler ?? m.diffusion.defaults.sampler,
      seed: seed + k,
      model: `${m.name}@${m.version}`,
      size: png.width,
      strength: init?.strength,
      upscale: o.has('upscale'),
    });
    writeFileSync(file, withPngText(encodePng(png), { parameters }));
    const line = `${file} (${png.width}×${png.height}, seed ${seed + k}, ${((performance.now() - t0) / Math.max(ran, 1)).toFixed(1)} ms/step, onnxruntime-node)`;
    if (bar) bar.done(line);
    else process.stderr.write(`${line}\n`);
  }
});
