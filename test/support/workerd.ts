import { build } from 'esbuild';
import { Miniflare } from 'miniflare';

/**
 * Bundle a TypeScript entry into an ES-module worker and run it in workerd (Miniflare), so code is tested
 * under the same runtime that serves it at the edge.
 */
export async function startWorker(entry: string, options: { compatibilityDate?: string } = {}): Promise<Miniflare> {
  const out = await build({ entryPoints: [entry], bundle: true, format: 'esm', platform: 'neutral', write: false, target: 'es2022' });
  return new Miniflare({
    modules: true,
    script: out.outputFiles[0].text,
    compatibilityDate: options.compatibilityDate ?? '2025-09-01',
  });
}
