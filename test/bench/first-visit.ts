import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildClient } from '../../client/build.ts';
import { launchChromium } from '../support/browser.ts';
import { ROOT } from '../support/cli.ts';
import { publishTo, startEdge } from '../support/edge.ts';
import { startStaticServer } from '../support/static-server.ts';
import type { BenchArgs } from './args.ts';

interface Visit {
  msToReady: number;
  msToFirstImage: number;
  backend: string;
  plan: unknown;
}

/**
 * A visitor's first (cold cache: a fresh browser profile) and second visit to the page in headless
 * Chromium: ms from navigation to the model being ready and to the first image at the model's defaults
 * (the first example prompt, 20 steps). The page and its worker come from a static server with the
 * edge's COOP/COEP headers, the models and embeddings from the built worker in workerd.
 */
export async function firstVisitBench(args: BenchArgs): Promise<unknown> {
  const model = args.str('model', 'emoji');
  const backend = args.str('backend', 'wasm');
  const dist = await buildClient(mkdtempSync(join(tmpdir(), 'client-')));
  const mf = await startEdge();
  const site = await startStaticServer({}, { '/': dist });
  const browser = await launchChromium({ webgpu: backend !== 'wasm' });
  try {
    await publishTo(mf, join(ROOT, 'models/bundles', model));
    const edge = (await mf.ready).toString().replace(/\/$/, '');
    const context = await browser.newContext();
    const visit = async (): Promise<Visit> => {
      const page = await context.newPage();
      // Timestamps taken in the page (ms since its navigation started), so the driver's latency does not count.
      await page.addInitScript(() => {
        const marks: Record<string, number> = {};
        (window as unknown as { marks: typeof marks }).marks = marks;
        new MutationObserver(() => {
          const d = document.body?.dataset;
          if (d?.ready === 'true' && marks.ready === undefined) {
            marks.ready = performance.now();
            (document.getElementById('generate') as HTMLButtonElement).click();
          }
          if (d?.done && marks.done === undefined) marks.done = performance.now();
        }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-ready', 'data-done'] });
      });
      await page.goto(`${site.url}/index.html?model=${model}&backend=${backend}&edge=${encodeURIComponent(edge)}`);
      await page.waitForFunction(
        () => (window as unknown as { marks: { done?: number } }).marks.done !== undefined || document.body.dataset.ready === 'error',
        undefined,
        { timeout: 300_000 },
      );
      const r = await page.evaluate(() => ({
        marks: (window as unknown as { marks: { ready: number; done: number } }).marks,
        backend: document.body.dataset.backend ?? '',
        plan: JSON.parse(document.body.dataset.plan ?? 'null') as unknown,
      }));
      await page.close();
      return { msToReady: r.marks.ready, msToFirstImage: r.marks.done, backend: r.backend, plan: r.plan };
    };
    const cold = await visit();
    args.progress(`first visit: ready after ${cold.msToReady.toFixed(0)} ms, first image after ${cold.msToFirstImage.toFixed(0)} ms`);
    const warm = await visit();
    args.progress(`second visit: ready after ${warm.msToReady.toFixed(0)} ms, first image after ${warm.msToFirstImage.toFixed(0)} ms`);
    return {
      bench: 'first-visit',
      model,
      requestedBackend: backend,
      firstVisit: cold,
      secondVisit: warm,
      goal: { firstVisitMsToFirstImage: 5000 },
    };
  } finally {
    await browser.close();
    await site.close();
    await mf.dispose();
  }
}
