import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildClient } from '../../client/build.ts';
import { publishBundle } from '../../node/publish.ts';
import { localR2Store } from '../../node/publish-stores.ts';
import { launchChromium } from '../support/browser.ts';
import { ROOT } from '../support/cli.ts';
import { shippedImageSize } from '../support/shipped.ts';

/**
 * The site as `npm start` serves it: `wrangler dev` running the worker with the page as its static assets
 * (and their _headers), the shipped shapes bundle in its local R2. Not the test's own static server.
 */
let wrangler: ChildProcess | undefined;
let url: string;

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

beforeAll(async () => {
  const state = mkdtempSync(join(tmpdir(), 'site-state-'));
  const local = await localR2Store(state);
  await publishBundle(local.store, join(ROOT, 'models/bundles/shapes'));
  await local.dispose();
  const assets = await buildClient(mkdtempSync(join(tmpdir(), 'site-assets-')));
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  wrangler = spawn(
    process.execPath,
    [
      join(ROOT, 'node_modules/wrangler/bin/wrangler.js'),
      'dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(port),
      '--persist-to',
      state,
      '--assets',
      assets,
    ],
    {
      cwd: ROOT,
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' },
      stdio: 'ignore',
    },
  );
  for (let i = 0; i < 120; i++) {
    if (
      await fetch(`${url}/v1/health`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error('wrangler dev did not answer within 60 s');
}, 120_000);
afterAll(() => {
  wrangler?.kill('SIGTERM');
});

describe('the site served by the worker (wrangler dev)', () => {
  it('is cross-origin isolated (COOP/COEP from the assets’ _headers), so WASM runs threaded, and it generates', {
    timeout: 180_000,
  }, async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${url}/?model=shapes&backend=wasm`);
      await page.waitForFunction(() => document.body.dataset.ready !== undefined, undefined, { timeout: 60_000 });
      expect(await page.evaluate(() => [document.body.dataset.ready, self.crossOriginIsolated])).toEqual(['true', true]);
      const plan = JSON.parse((await page.evaluate(() => document.body.dataset.plan)) ?? '{}') as { runtimeBytes?: number };
      expect(plan.runtimeBytes).toBeGreaterThan(1e6);
      await page.fill('#steps', '4');
      await page.click('#generate');
      await page.waitForFunction(() => document.body.dataset.done !== undefined, undefined, { timeout: 120_000 });
      expect(await page.evaluate(() => (document.getElementById('canvas') as HTMLCanvasElement).width)).toBe(shippedImageSize('shapes'));
    } finally {
      await browser.close();
    }
  });
});
