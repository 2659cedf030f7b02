import { parseParameters, readPngText } from '../../models/png-text.ts';
import type { Browser, Page } from 'playwright-core';
import type { Miniflare } from 'miniflare';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildClient } from '../../client/build.ts';
import { ORT_WASM } from '../../client/src/ort-files.ts';
import { PREVIEW_EVERY } from '../../client/src/protocol.ts';
import { CLIENT_FILES_AT_LOAD } from '../../models/bundle/manifest.ts';
import { generate } from '../../models/pipeline/generate.ts';
import { HALF_PRECISION_MAX_DIFF } from '../../models/pipeline/precision-check.ts';
import { batchToImages, imagesToBatch } from '../../models/pipeline/layout.ts';
import { rgbaToFloat, floatToRgba } from '../../models/image.ts';
import { openBundle, type NodeBundle } from '../../node/bundle.ts';
import { decodeImage } from '../../node/png.ts';
import { launchChromium } from '../support/browser.ts';
import { ROOT } from '../support/cli.ts';
import { publishTo, startEdge } from '../support/edge.ts';
import { startStaticServer, type StaticServer } from '../support/static-server.ts';

let mf: Miniflare;
let site: StaticServer;
let edgeUrl: string;
let bundle: NodeBundle;
let dist: string;
/** Every URL each page requested, to check what a visitor downloads. */
const requested = new Map<Page, string[]>();
const browsers: Browser[] = [];
const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i], 0);

beforeAll(async () => {
  dist = await buildClient(mkdtempSync(join(tmpdir(), 'client-')));
  mf = await startEdge();
  await publishTo(mf, join(ROOT, 'models/bundles/shapes'));
  await publishTo(mf, join(ROOT, 'models/bundles/emoji'));
  edgeUrl = (await mf.ready).toString().replace(/\/$/, '');
  site = await startStaticServer({}, { '/': dist });
  bundle = await openBundle(join(ROOT, 'models/bundles/shapes'));
});
afterAll(async () => {
  for (const b of browsers) await b.close();
  await site?.close();
  await mf?.dispose();
});

async function openPage(backend: 'wasm' | 'webgpu', extra = ''): Promise<Page> {
  const browser = await launchChromium({ webgpu: backend === 'webgpu' });
  browsers.push(browser);
  const page = await browser.newPage();
  const urls: string[] = [];
  requested.set(page, urls);
  page.on('request', (r) => {
    if (r.method() === 'GET') urls.push(r.url());
  });
  page.on('pageerror', (e) => process.stderr.write(`page error: ${e.message}\n`));
  await page.goto(`${site.url}/index.html?model=shapes&backend=${backend}&edge=${encodeURIComponent(edgeUrl)}${extra}`);
  await page.waitForFunction(() => document.body.dataset.ready !== undefined, undefined, { timeout: 60_000 });
  expect(await page.evaluate(() => [document.body.dataset.ready, document.getElementById('status')!.textContent])).toEqual([
    'true',
    expect.stringContaining(backend.toUpperCase()),
  ]);
  return page;
}

async function generateIn(page: Page, prompt: string, steps: number, seed: number): Promise<Uint8ClampedArray> {
  const before = await page.evaluate(() => document.body.dataset.done ?? '0');
  await page.fill('#prompt', prompt);
  await page.fill('#steps', String(steps));
  await page.fill('#seed', String(seed));
  await page.click('#generate');
  await page.waitForFunction((b) => (document.body.dataset.done ?? '0') !== b, before, { timeout: 240_000 });
  return canvasPixels(page);
}

/** The page's canvas as RGBA bytes. */
async function canvasPixels(page: Page): Promise<Uint8ClampedArray> {
  const bytes = await page.evaluate(() => {
    const c = document.getElementById('canvas') as HTMLCanvasElement;
    return Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data);
  });
  return Uint8ClampedArray.from(bytes);
}

const origin = (url: string) => new URL(url).origin;

const galleryCaptions = (page: Page) =>
  page.evaluate(() => [...document.querySelectorAll('#gallery figcaption')].map((f) => f.textContent ?? ''));

/** The plan the page showed before downloading, and the runtime wasm files it fetched. */
async function firstVisit(page: Page) {
  const plan = JSON.parse(await page.evaluate(() => document.body.dataset.plan ?? '{}')) as {
    modelBytes: number;
    runtimeBytes?: number;
    backend: string;
  };
  const wasm = requested
    .get(page)!
    .filter((u) => u.endsWith('.wasm'))
    .map((u) => u.slice(u.lastIndexOf('/') + 1));
  return { plan, wasm };
}

async function nodeImage(prompt: string, steps: number, seed: number): Promise<Uint8ClampedArray> {
  const cond = (await bundle.encodeText([prompt])).hidden;
  const uncond = (await bundle.encodeText([''])).hidden;
  const out = await generate(await bundle.runtime(), bundle.manifest, { cond, uncond, steps, seed });
  return floatToRgba(batchToImages(out.data, out.dims)[0]);
}

const maxDiff = (a: Uint8ClampedArray, b: Uint8ClampedArray) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('the page in headless Chromium', () => {
  // One page shared by the tests that only generate on it; a test that needs a first visit opens its own.
  let wasmPage: Page;
  beforeAll(async () => {
    wasmPage = await openPage('wasm');
  }, 120_000);

  it('generates on WASM an image that matches its prompt (CLIP) and the Node CLI pipeline', async () => {
    // The model picker lists what the edge serves, the page's model selected.
    await wasmPage.waitForFunction(() => (document.getElementById('model') as HTMLSelectElement).options.length > 1, undefined, {
      timeout: 10_000,
    });
    expect(
      await wasmPage.evaluate(() => {
        const s = document.getElementById('model') as HTMLSelectElement;
        return [s.value, [...s.options].map((o) => o.value).sort()];
      }),
    ).toEqual(['shapes', ['emoji', 'shapes']]);
    const wasm20 = await generateIn(wasmPage, 'a large red circle', 20, 3);
    const size = bundle.manifest.imageSize;
    expect(wasm20.length).toBe(size * size * 4);
    const img = rgbaToFloat(wasm20, size, size);
    const [embed] = await bundle.embedImages(imagesToBatch([img]));
    const text = (await bundle.encodeText(['a large red circle', 'a small blue triangle'])).embeds;
    expect(dot(embed, text[0])).toBeGreaterThan(dot(embed, text[1]));
    // Same seed and steps in Node (onnxruntime-node): within 3/255 per channel (float rounding differs).
    expect(maxDiff(wasm20, await nodeImage('a large red circle', 20, 3))).toBeLessThanOrEqual(3);
  });

  it('a WASM visitor is told the download size first and fetches only the plain onnxruntime-web build', async () => {
    const page = await openPage('wasm');
    const { plan, wasm } = await firstVisit(page);
    const files = bundle.manifest.files;
    expect(plan).toEqual({
      type: 'plan',
      backend: 'wasm',
      modelBytes: CLIENT_FILES_AT_LOAD.filter((f) => files[f]).reduce((s, f) => s + files[f].size, 0),
      runtimeBytes: statSync(join(dist, 'ort', ORT_WASM.wasm)).size,
    });
    expect(wasm).toEqual([ORT_WASM.wasm]);
  });

  it('a gallery item keeps the parameters it was started with, and its download carries them', async () => {
    const before = await wasmPage.evaluate(() => document.body.dataset.done ?? '0');
    await wasmPage.fill('#prompt', 'a small blue triangle');
    await wasmPage.fill('#steps', '8');
    await wasmPage.fill('#seed', '5');
    await wasmPage.click('#generate');
    // The form changes while the image is being made; the gallery must not pick that up.
    await wasmPage.fill('#prompt', 'a large green square');
    await wasmPage.fill('#seed', '9');
    await wasmPage.waitForFunction((b) => (document.body.dataset.done ?? '0') !== b, before, { timeout: 120_000 });
    const caption = await wasmPage.evaluate(() => document.querySelector('#gallery figure')!.textContent);
    expect(caption).toContain('a small blue triangle (seed 5)');
    await wasmPage.waitForFunction(
      () => document.querySelector<HTMLAnchorElement>('#gallery figure a[download]')!.href.startsWith('blob:'),
      undefined,
      { timeout: 10_000 },
    );
    const bytes = await wasmPage.evaluate(async () =>
      Array.from(
        new Uint8Array(await (await fetch(document.querySelector<HTMLAnchorElement>('#gallery figure a[download]')!.href)).arrayBuffer()),
      ),
    );
    expect(parseParameters(readPngText(Uint8Array.from(bytes)).parameters)).toMatchObject({
      prompt: 'a small blue triangle',
      seed: 5,
      steps: 8,
      size: bundle.manifest.imageSize,
    });
  });

  it('Count makes consecutive seeds; the gallery survives a reload; reuse, init and upscale act on an item', async () => {
    const size = bundle.manifest.imageSize;
    const before = (await galleryCaptions(wasmPage)).length;
    await wasmPage.fill('#prompt', 'a large green square');
    await wasmPage.fill('#steps', '4');
    await wasmPage.fill('#seed', '11');
    await wasmPage.fill('#count', '2');
    await wasmPage.click('#generate');
    await wasmPage.waitForFunction((n) => document.querySelectorAll('#gallery figure').length === n, before + 2, { timeout: 120_000 });
    await wasmPage.fill('#count', '1');
    expect((await galleryCaptions(wasmPage)).slice(0, 2)).toEqual([
      expect.stringContaining('a large green square (seed 12)'),
      expect.stringContaining('a large green square (seed 11)'),
    ]);

    await wasmPage.reload();
    await wasmPage.waitForFunction(
      (n) => document.body.dataset.ready === 'true' && document.querySelectorAll('#gallery figure').length === n,
      before + 2,
      { timeout: 60_000 },
    );
    const older = wasmPage.locator('#gallery figure').nth(1);
    expect(await older.locator('figcaption').textContent()).toContain('(seed 11)');

    await wasmPage.fill('#prompt', 'something else');
    await older.getByRole('button', { name: 'reuse' }).click();
    expect(
      await wasmPage.evaluate(() => ['prompt', 'seed', 'steps'].map((id) => (document.getElementById(id) as HTMLInputElement).value)),
    ).toEqual(['a large green square', '11', '4']);
    await older.getByRole('button', { name: 'use as init' }).click();
    await wasmPage.waitForFunction(() => document.getElementById('init-source')!.textContent!.includes('seed 11'));
    await wasmPage.click('#clear-init');

    const done = await wasmPage.evaluate(() => document.body.dataset.done ?? '0');
    await older.getByRole('button', { name: 'upscale 2×' }).click();
    await wasmPage.waitForFunction((d) => (document.body.dataset.done ?? '0') !== d, done, { timeout: 120_000 });
    const newest = wasmPage.locator('#gallery figure').first();
    expect(await newest.locator('figcaption').textContent()).toContain('a large green square (seed 11, 2×)');
    expect(await newest.locator('img').evaluate((img: HTMLImageElement) => img.decode().then(() => img.naturalWidth))).toBe(2 * size);
    const png = await newest
      .locator('a[download]')
      .evaluate(async (a: HTMLAnchorElement) => Array.from(new Uint8Array(await (await fetch(a.href)).arrayBuffer())));
    expect(parseParameters(readPngText(Uint8Array.from(png)).parameters)).toMatchObject({ seed: 11, upscale: true, size: 2 * size });
  });

  it('every control acts: sampler, negative prompt, 🎲, upscale, img2img upload; the share link reproduces the image; the download decodes', {
    timeout: 240_000,
  }, async () => {
    const page = wasmPage;
    const size = bundle.manifest.imageSize;
    const newestParameters = async () => {
      const bytes = await page
        .locator('#gallery figure')
        .first()
        .locator('a[download]')
        .evaluate(async (a: HTMLAnchorElement) => Array.from(new Uint8Array(await (await fetch(a.href)).arrayBuffer())));
      return { png: Uint8Array.from(bytes), parameters: parseParameters(readPngText(Uint8Array.from(bytes)).parameters)! };
    };
    const base = await generateIn(page, 'a large green square', 8, 21);

    await page.selectOption('#sampler', 'ddim');
    const ddim = await generateIn(page, 'a large green square', 8, 21);
    expect(maxDiff(ddim, base)).toBeGreaterThan(3);
    expect((await newestParameters()).parameters.sampler).toBe('ddim');
    await page.selectOption('#sampler', 'dpmpp-2m');

    await page.fill('#negative', 'a small red circle');
    // A guidance off the input's 0.05 arrow-key grid still submits, here and from the share link below.
    const defaultGuidance = await page.inputValue('#guidance');
    await page.fill('#guidance', '1.73');
    const negated = await generateIn(page, 'a large green square', 8, 21);
    expect(maxDiff(negated, base)).toBeGreaterThan(3);
    const made = await newestParameters();
    expect(made.parameters).toMatchObject({ negative: 'a small red circle', guidance: 1.73 });
    // The download is a PNG of the image as shown.
    const decoded = decodeImage(made.png);
    expect([decoded.width, decoded.height]).toEqual([size, size]);
    expect(maxDiff(floatToRgba(decoded), negated)).toBe(0);

    // The share link carries every parameter: opened fresh, it makes the same image.
    const share = await page.locator('#gallery figure').first().locator('a', { hasText: 'share' }).getAttribute('href');
    const second = await launchChromium();
    browsers.push(second);
    const other = await second.newPage();
    await other.goto(`${share!.replace(origin(share!), site.url)}&edge=${encodeURIComponent(edgeUrl)}&backend=wasm`);
    await other.waitForFunction(() => document.body.dataset.ready === 'true', undefined, { timeout: 60_000 });
    expect(await other.inputValue('#negative')).toBe('a small red circle');
    await other.click('#generate');
    await other.waitForFunction(() => document.body.dataset.done !== undefined, undefined, { timeout: 120_000 });
    const shared = await canvasPixels(other);
    expect(maxDiff(shared, negated)).toBe(0);
    await page.fill('#negative', '');
    await page.fill('#guidance', defaultGuidance);

    const seedBefore = await page.inputValue('#seed');
    await page.click('#dice');
    const seedAfter = await page.inputValue('#seed');
    expect(seedAfter).not.toBe(seedBefore);
    expect(Number.isInteger(Number(seedAfter)) && Number(seedAfter) >= 0 && Number(seedAfter) < 2 ** 32).toBe(true);

    await page.check('#upscale');
    await generateIn(page, 'a large green square', 4, 21);
    expect(await page.evaluate(() => (document.getElementById('canvas') as HTMLCanvasElement).width)).toBe(2 * size);
    await page.uncheck('#upscale');

    // img2img from an uploaded file: at strength 0 the result is the init image as the VAE reconstructs it.
    await page.setInputFiles('#init', { name: 'init.png', mimeType: 'image/png', buffer: Buffer.from(made.png) });
    await page.waitForFunction(() => document.getElementById('init-source')!.textContent === 'init: init.png');
    await page.fill('#strength', '0');
    const roundTrip = await generateIn(page, 'a large blue circle', 8, 3);
    const psnr =
      10 * Math.log10(255 ** 2 / (roundTrip.reduce((acc, v, i) => acc + (i % 4 === 3 ? 0 : (v - negated[i]) ** 2), 0) / (size * size * 3)));
    expect(psnr).toBeGreaterThan(20);
    expect((await newestParameters()).parameters.strength).toBe(0);
    await page.click('#clear-init');
    await page.fill('#strength', '0.6');
    expect(await canvasPixels(page)).toEqual(roundTrip);
  });

  it('stays responsive while generating, and cancel stops the run', async () => {
    const doneBefore = await wasmPage.evaluate(() => document.body.dataset.done);
    await wasmPage.fill('#steps', '1000');
    // In the page, so nothing waits on the test driver: start, then measure how long the page's event loop
    // takes to run a timer while steps are being computed (the worker must keep it free), then cancel.
    const during = await wasmPage.evaluate(async () => {
      const $ = (id: string) => document.getElementById(id)!;
      const progress = $('progress') as HTMLProgressElement;
      $('generate').click();
      while (progress.value === 0) await new Promise((r) => setTimeout(r, 0));
      const lags: number[] = [];
      const until = performance.now() + 1500;
      while (performance.now() < until) {
        const t0 = performance.now();
        await new Promise((r) => setTimeout(r, 10));
        lags.push(performance.now() - t0 - 10);
      }
      const seen = { lags: lags.length, worstLagMs: Math.max(...lags), progress: progress.value };
      $('cancel').click();
      return seen;
    });
    // Timers keep firing on time during generation: dozens of samples, none late by more than 100 ms.
    expect(during.lags).toBeGreaterThan(20);
    expect(during.worstLagMs).toBeLessThan(100);
    expect(during.progress).toBeGreaterThan(0);
    expect(during.progress).toBeLessThan(1);
    await wasmPage.waitForFunction(() => ['Cancelled', 'Done'].includes(document.getElementById('status')!.textContent ?? ''));
    expect(await wasmPage.textContent('#status')).toBe('Cancelled');
    expect(await wasmPage.evaluate(() => document.body.dataset.done)).toBe(doneBefore);
  });

  it('a corrupted cached model file is detected by its hash and downloaded again', async () => {
    await wasmPage.evaluate(async () => {
      const cache = await caches.open('edge-diffusion-models-v1');
      for (const req of await cache.keys()) await cache.put(req, new Response(new Uint8Array([1, 2, 3])));
    });
    await wasmPage.reload();
    await wasmPage.waitForFunction(() => document.body.dataset.ready === 'true', undefined, { timeout: 60_000 });
    const downloads = await wasmPage.evaluate(() => document.body.dataset.downloads ?? '');
    expect(downloads).toContain('unet/model.onnx:fetched');
    expect(downloads).not.toContain(':cached');
    await wasmPage.reload();
    await wasmPage.waitForFunction(() => document.body.dataset.ready === 'true', undefined, { timeout: 60_000 });
    expect(await wasmPage.evaluate(() => document.body.dataset.downloads ?? '')).toContain('unet/model.onnx:cached');
  });

  // One WebGPU page for the tests that need one (its first visit is checked by the first of them).
  let gpu: Page | undefined;
  const gpuPage = async () => {
    gpu ??= await openPage('webgpu');
    return gpu;
  };

  // SwiftShader's software WebGPU is ~90× slower than WASM here: a 9-step run on the small shapes model (20 steps
  // at 48 px took 468 s of the 600 s limit beside a trainer).
  it('WebGPU (software adapter) keeps the run on the GPU — reads back only previews and the result — and gives the WASM image; a run whose GPU is lost finishes on WASM', {
    timeout: 600_000,
  }, async () => {
    const gpu = await gpuPage();
    // Where WebGPU is tried, the WebGPU build's runtime is the one downloaded.
    const { plan, wasm } = await firstVisit(gpu);
    expect([plan.backend, wasm]).toEqual(['webgpu', [ORT_WASM.webgpu]]);
    const steps = 9;
    const onGpu = await generateIn(gpu, 'a small blue triangle', steps, 5);
    const onWasm = await generateIn(wasmPage, 'a small blue triangle', steps, 5);
    expect(maxDiff(onGpu, onWasm)).toBeLessThanOrEqual(3);
    // Previews after steps 4 and 8, then the result: each one read of a decoded image, nothing else.
    const previews = Math.floor((steps - 1) / PREVIEW_EVERY);
    const reads = (page: Page) => page.evaluate(() => Number(document.body.dataset.deviceReads));
    expect([await reads(gpu), await reads(wasmPage)]).toEqual([previews + 1, 0]);
    // The 2× upscaler's loop stays on the GPU too: one more read, for its result, and the WASM image. (Its first
    // Conv reads 6 channels, which WebGPU's Conv gets wrong unpadded: 86/255 off before the page padded it.)
    const upscaled = async (page: Page) => {
      await page.check('#upscale');
      const image = await generateIn(page, 'a small blue triangle', 2, 5);
      await page.uncheck('#upscale');
      return image;
    };
    const upOnGpu = await upscaled(gpu);
    expect(await gpu.evaluate(() => (document.getElementById('canvas') as HTMLCanvasElement).width)).toBe(2 * bundle.manifest.imageSize);
    expect(await reads(gpu)).toBe(2);
    expect(maxDiff(upOnGpu, await upscaled(wasmPage))).toBeLessThanOrEqual(3);

    // The GPU device destroyed after step 1 (as a driver reset would): the run finishes on WASM, the page says
    // so, and the image is the WASM one within the same tolerance.
    const losing = await openPage('webgpu', '&loseDeviceAtStep=1');
    const recovered = await generateIn(losing, 'a small blue triangle', 2, 5);
    const onWasm2 = await generateIn(wasmPage, 'a small blue triangle', 2, 5);
    expect(await losing.evaluate(() => [document.body.dataset.backend, document.getElementById('notice')!.textContent])).toEqual([
      'wasm',
      expect.stringContaining('finishes on WASM'),
    ]);
    expect(maxDiff(recovered, onWasm2)).toBeLessThanOrEqual(3);
  });

  it('float16 on an adapter with shader-f16: the U-Net passes its image check and gives the WASM image within the bound', async (ctx) => {
    const page = await gpuPage();
    const [precision, check] = await page.evaluate(() => [document.body.dataset.precision, document.body.dataset.halfPrecision ?? '']);
    if (check === '"unavailable"') {
      expect(precision).toBe('fp32');
      ctx.skip('this WebGPU adapter has no shader-f16: the U-Net stays float32 (the float16 rewrite and its check are tested in Node)');
    }
    const measured = (JSON.parse(check) as { maxDiff: number }).maxDiff;
    expect([precision, measured <= HALF_PRECISION_MAX_DIFF]).toEqual(['fp16', true]);
    const onGpu = await generateIn(page, 'a small blue triangle', 4, 5);
    const onWasm = await generateIn(wasmPage, 'a small blue triangle', 4, 5);
    expect(maxDiff(onGpu, onWasm)).toBeLessThanOrEqual(HALF_PRECISION_MAX_DIFF + 3);
  }, 600_000);
});
