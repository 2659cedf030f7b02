import * as ortNode from 'onnxruntime-node';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initTrainingBackend } from '../../trainer/tfjs/backend.ts';
import { ParamStore } from '../../trainer/tfjs/params.ts';
import { launchChromium } from '../support/browser.ts';
import { ortFeeds, relativeMaxError, type OrtLike } from '../support/ort.ts';
import { startStaticServer, type StaticServer } from '../support/static-server.ts';
import { networkCases, randomizeWeights, toTensors } from '../support/tiny-networks.ts';

const ortDist = dirname(createRequire(import.meta.url).resolve('onnxruntime-web/wasm'));

// The page loads only ORT's WASM build and runs a model from a URL with feeds passed as plain arrays.
const PAGE = `<!doctype html><meta charset="utf-8"><title>ort</title>
<script type="module">
  import * as ort from '/ort/ort.wasm.min.mjs';
  ort.env.wasm.wasmPaths = '/ort/';
  window.runModel = async (url, feeds) => {
    const session = await ort.InferenceSession.create(url, { executionProviders: ['wasm'] });
    const inputs = {};
    for (const [name, f] of Object.entries(feeds)) {
      inputs[name] = f.type === 'int64' ? new ort.Tensor('int64', BigInt64Array.from(f.data, BigInt), f.dims) : new ort.Tensor('float32', Float32Array.from(f.data), f.dims);
    }
    const out = await session.run(inputs);
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, { dims: [...t.dims], data: Array.from(t.data) }]));
  };
  window.ortReady = true;
</script>`;

describe('exported graphs in onnxruntime-web inside headless Chromium (WASM EP)', () => {
  let server: StaticServer;
  let browser: Browser;
  let page: Page;
  const cases = networkCases(2);
  const models: Record<string, Uint8Array> = {};

  beforeAll(async () => {
    await initTrainingBackend('wasm');
    for (const c of cases) {
      const store = new ParamStore(c.name, 1);
      c.forward(store, toTensors(c.inputs));
      models[c.name] = c.exportOnnx(randomizeWeights(store, 5), { fp16Weights: c.name === 'unet' });
      store.dispose();
    }
    const routes: Record<string, Uint8Array | string> = { '/': PAGE };
    for (const [name, bytes] of Object.entries(models)) routes[`/models/${name}.onnx`] = bytes;
    server = await startStaticServer(routes, { '/ort/': ortDist });
    browser = await launchChromium();
    page = await browser.newPage();
    await page.goto(server.url);
    await page.waitForFunction(() => (window as unknown as { ortReady?: boolean }).ortReady === true);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  for (const c of cases) {
    it(`${c.name} gives onnxruntime-node's outputs`, async () => {
      const nodeFeeds = ortFeeds(ortNode as unknown as OrtLike, c.inputs) as Record<string, ortNode.Tensor>;
      const expected = await (await ortNode.InferenceSession.create(models[c.name])).run(nodeFeeds);
      const feeds = Object.fromEntries(
        Object.entries(nodeFeeds).map(([k, t]) => [
          k,
          { type: t.type, dims: [...t.dims], data: Array.from(t.data as ArrayLike<number | bigint>, Number) },
        ]),
      );
      const got = (await page.evaluate(
        ([url, f]) => (window as unknown as { runModel: (u: string, f: unknown) => Promise<unknown> }).runModel(url, f),
        [`/models/${c.name}.onnx`, feeds] as const,
      )) as Record<string, { dims: number[]; data: number[] }>;
      for (const [name, want] of Object.entries(expected)) {
        expect(got[name].dims).toEqual([...want.dims]);
        expect(relativeMaxError(got[name].data, want.data as Float32Array)).toBeLessThan(1e-4);
      }
    });
  }
});
