import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { GRAPHS } from '../../models/bundle/graphs.ts';
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

// The WebGPU build (which also runs WASM) on one page: U-Net calls and a whole generation's model work (steps
// U-Net calls and one VAE decode) on each execution provider, with the adapter's name.
const GPU_PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
  import * as ort from '/ort/ort.webgpu.bundle.min.mjs';
  ort.env.wasm.wasmPaths = '/ort/';
  ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  const tensors = (feeds) => Object.fromEntries(Object.entries(feeds).map(([k, f]) => [k, new ort.Tensor('float32', Float32Array.from(f.data), f.dims)]));
  window.timeGeneration = async (ep, unetFeeds, decodeFeeds, runs, steps, warmupMs) => {
    const unet = await ort.InferenceSession.create('/unet.onnx', { executionProviders: [ep] });
    const vae = await ort.InferenceSession.create('/vae.onnx', { executionProviders: [ep] });
    const [u, d] = [tensors(unetFeeds), tensors(decodeFeeds)];
    const w0 = performance.now();
    for (let i = 0; i < 2 || performance.now() - w0 < warmupMs; i++) await unet.run(u);
    await vae.run(d);
    const times = [];
    for (let i = 0; i < runs; i++) { const t0 = performance.now(); await unet.run(u); times.push(performance.now() - t0); }
    const g0 = performance.now();
    for (let i = 0; i < steps; i++) await unet.run(u);
    await vae.run(d);
    const generationMs = performance.now() - g0;
    const info = ep === 'webgpu' ? (await navigator.gpu.requestAdapter()).info : undefined;
    const adapter = info ? [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') : undefined;
    const f16 = ep === 'webgpu' ? (await navigator.gpu.requestAdapter()).features.has('shader-f16') : undefined;
    return { times, generationMs, adapter, f16 };
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
  const names = GRAPHS.unet.inputs;
  const feeds = {
    [names.sample]: { data: rng.fill(2 * channels * size * size), dims: [2, channels, size, size] },
    [names.timestep]: { data: Float32Array.of(500, 500), dims: [2] },
    [names.context]: { data: rng.fill(2 * T * D), dims: [2, T, D] },
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
  const webgpu = args.flag('webgpu') ? await webgpuSideBySide(args, dir, bytes, feeds, ortDist) : undefined;
  return {
    bench: 'unet-step',
    model: `${manifest.name}@${manifest.version}`,
    call: { batch: 2, latents: [channels, size, size], context: [T, D] },
    msPerCall: { onnxruntimeNode: node, onnxruntimeWebWasmInNode: webInNode, chromiumWasm: chromium.ms },
    chromium: { threads: chromium.threads, crossOriginIsolated: chromium.isolated },
    ratios: { browserWasmOverNodeNative: chromium.ms / node, webInNodeOverNodeNative: webInNode / node },
    goal: { browserWasmOverNodeNative: 2.5 },
    webgpu,
  };
}

/**
 * `--webgpu`: WebGPU and WASM side by side in one Chromium page (the WebGPU build runs both): ms per U-Net
 * call and per whole generation (`--steps` U-Net calls and the VAE decode), and the adapter. On a software
 * adapter use few runs and steps (`--gpu-runs 2 --steps 2`): it is ~90× slower than WASM.
 */
async function webgpuSideBySide(
  args: BenchArgs,
  dir: string,
  unet: Uint8Array,
  feeds: Record<string, { data: Float32Array; dims: number[] }>,
  ortDist: string,
) {
  const manifest = parseManifest(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));
  const { channels, size } = manifest.latent;
  const steps = args.int('steps', manifest.diffusion.defaults.steps);
  const runs = args.int('gpu-runs', 10);
  const plain = (f: Record<string, { data: Float32Array; dims: number[] }>) =>
    Object.fromEntries(Object.entries(f).map(([k, v]) => [k, { data: Array.from(v.data), dims: v.dims }]));
  const decodeFeeds = {
    [GRAPHS.vaeDecoder.inputs.latents]: { data: createRng(2).fill(channels * size * size), dims: [1, channels, size, size] },
  };
  const server = await startStaticServer(
    { '/': GPU_PAGE, '/unet.onnx': unet, '/vae.onnx': new Uint8Array(readFileSync(join(dir, GRAPHS.vaeDecoder.file))) },
    { '/ort/': ortDist },
  );
  const browser = await launchChromium({ webgpu: true });
  try {
    const page = await browser.newPage();
    await page.goto(server.url);
    await page.waitForFunction('window.ready === true');
    const result: Record<string, { msPerCall: number; msPerGeneration: number; adapter?: string; shaderF16?: boolean }> = {};
    for (const ep of ['webgpu', 'wasm'] as const) {
      const r = (await page.evaluate(
        `window.timeGeneration('${ep}', ${JSON.stringify(plain(feeds))}, ${JSON.stringify(plain(decodeFeeds))}, ${ep === 'wasm' ? Math.max(runs, 10) : runs}, ${steps}, ${ep === 'wasm' ? 3000 : 0})`,
      )) as { times: number[]; generationMs: number; adapter?: string; f16?: boolean };
      result[ep] = { msPerCall: median(r.times), msPerGeneration: r.generationMs, adapter: r.adapter, shaderF16: r.f16 };
      args.progress(
        `Chromium ${ep} (WebGPU build): ${result[ep].msPerCall.toFixed(2)} ms per call, ${r.generationMs.toFixed(0)} ms per ${steps}-step generation`,
      );
    }
    return { steps, ...result, ratios: { webgpuOverWasm: result.webgpu.msPerCall / result.wasm.msPerCall } };
  } finally {
    await browser.close();
    await server.close();
  }
}
