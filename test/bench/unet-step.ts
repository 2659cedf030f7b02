import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseManifest } from '../../models/bundle/manifest.ts';
import { createRng } from '../../models/diffusion/rng.ts';
import { launchChromium } from '../support/browser.ts';
import { ROOT } from '../support/cli.ts';
import { startStaticServer } from '../support/static-server.ts';
import type { BenchArgs } from './args.ts';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Times one U-Net call (batch 2, as classifier-free guidance runs it) in the page, after warm-up.
const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
  import * as ort from '/ort/ort.wasm.min.mjs';
  ort.env.wasm.wasmPaths = '/ort/';
  ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  window.timeUnet = async (feeds, runs) => {
    const session = await ort.InferenceSession.create('/unet.onnx', { executionProviders: ['wasm'] });
    const inputs = Object.fromEntries(Object.entries(feeds).map(([k, f]) => [k, new ort.Tensor('float32', Float32Array.from(f.data), f.dims)]));
    const w0 = performance.now();
    for (let i = 0; i < 10 || performance.now() - w0 < 3000; i++) await session.run(inputs);
    const times = [];
    for (let i = 0; i < runs; i++) { const t0 = performance.now(); await session.run(inputs); times.push(performance.now() - t0); }
    return { times, threads: ort.env.wasm.numThreads, isolated: self.crossOriginIsolated };
  };
  window.ready = true;
</script>`;

/** ms per U-Net call of the shipped model: onnxruntime-node, onnxruntime-web (WASM) in Node, and in Chromium. */
export async function unetStepBench(args: BenchArgs): Promise<unknown> {
  const dir = join(ROOT, 'models/bundles', args.str('model', 'emoji'));
  const runs = args.int('runs', 30);
  const manifest = parseManifest(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));
  const bytes = new Uint8Array(readFileSync(join(dir, 'unet/model.onnx')));
  const { channels, size } = manifest.latent;
  const [T, D] = [manifest.tokenizer.maxLength, manifest.networks.textEncoder.width];
  const rng = createRng(1);
  const feeds = {
    sample: { data: rng.fill(2 * channels * size * size), dims: [2, channels, size, size] },
    timestep: { data: Float32Array.of(500, 500), dims: [2] },
    encoder_hidden_states: { data: rng.fill(2 * T * D), dims: [2, T, D] },
  };
  const time = async (ort: typeof ortNode | typeof ortWeb, options: object) => {
    const session = await (ort as typeof ortNode).InferenceSession.create(bytes, options);
    const inputs = Object.fromEntries(
      Object.entries(feeds).map(([k, f]) => [k, new (ort as typeof ortNode).Tensor('float32', f.data, f.dims)]),
    );
    // Warm up for 3 s: V8 first runs wasm with its baseline compiler and tiers up to optimised code in
    // the background; timing too early measures the baseline tier (seen here: 3–4× slower).
    const w0 = performance.now();
    for (let i = 0; i < 10 || performance.now() - w0 < 3000; i++) await session.run(inputs);
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await session.run(inputs);
      times.push(performance.now() - t0);
    }
    return median(times);
  };
  const node = await time(ortNode, {});
  args.progress(`onnxruntime-node: ${node.toFixed(2)} ms`);
  ortWeb.env.wasm.numThreads = 1;
  const webInNode = await time(ortWeb, { executionProviders: ['wasm'] });
  args.progress(`onnxruntime-web wasm in Node: ${webInNode.toFixed(2)} ms`);

  const ortDist = dirname(createRequire(import.meta.url).resolve('onnxruntime-web/wasm'));
  const server = await startStaticServer({ '/': PAGE, '/unet.onnx': bytes }, { '/ort/': ortDist });
  const browser = await launchChromium();
  let chromium: { ms: number; threads: number; isolated: boolean };
  try {
    const page = await browser.newPage();
    await page.goto(server.url);
    await page.waitForFunction('window.ready === true');
    const plain = Object.fromEntries(Object.entries(feeds).map(([k, f]) => [k, { data: Array.from(f.data), dims: f.dims }]));
    const r = (await page.evaluate(`window.timeUnet(${JSON.stringify(plain)}, ${runs})`)) as {
      times: number[];
      threads: number;
      isolated: boolean;
    };
    chromium = { ms: median(r.times), threads: r.threads, isolated: r.isolated };
  } finally {
    await browser.close();
    await server.close();
  }
  args.progress(`Chromium wasm: ${chromium.ms.toFixed(2)} ms (${chromium.threads} threads)`);
  return {
    bench: 'unet-step',
    model: `${manifest.name}@${manifest.version}`,
    call: { batch: 2, latents: [channels, size, size], context: [T, D] },
    msPerCall: { onnxruntimeNode: node, onnxruntimeWebWasmInNode: webInNode, chromiumWasm: chromium.ms },
    chromium: { threads: chromium.threads, crossOriginIsolated: chromium.isolated },
    ratios: { browserWasmOverNodeNative: chromium.ms / node, webInNodeOverNodeNative: webInNode / node },
    goal: { browserWasmOverNodeNative: 2.5 },
  };
}
