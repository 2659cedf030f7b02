import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ORT_SIZES, ORT_WASM } from './src/ort-files.ts';

const here = dirname(fileURLToPath(import.meta.url));
export const CLIENT_DIST = join(here, 'dist');

/** Build the page and its worker into `out` (default client/dist, the edge's static assets). */
export async function buildClient(out = CLIENT_DIST): Promise<string> {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, 'ort'), { recursive: true });
  await build({
    entryPoints: { main: join(here, 'src/main.ts'), worker: join(here, 'src/worker.ts') },
    outdir: out,
    bundle: true,
    format: 'esm',
    target: 'es2022',
    // The two onnxruntime-web builds become separate chunks, so a visitor loads only the one it uses.
    splitting: true,
    minify: true,
    sourcemap: true,
    logLevel: 'warning',
  });
  copyFileSync(join(here, 'index.html'), join(out, 'index.html'));
  // The worker points ORT at ort/, from where each build loads its runtime's loader and wasm.
  const ortDist = dirname(createRequire(import.meta.url).resolve('onnxruntime-web/webgpu'));
  for (const wasm of Object.values(ORT_WASM))
    for (const f of [wasm, wasm.replace(/\.wasm$/, '.mjs')]) copyFileSync(join(ortDist, f), join(out, 'ort', f));
  // The runtimes' sizes, so the page can say what a first visit downloads before it starts (a HEAD request
  // does not always carry Content-Length: wrangler's asset server omits it).
  writeFileSync(
    join(out, 'ort', ORT_SIZES),
    JSON.stringify(Object.fromEntries(Object.values(ORT_WASM).map((f) => [f, statSync(join(out, 'ort', f)).size]))),
  );
  // Cross-origin isolation lets ORT use wasm threads.
  writeFileSync(join(out, '_headers'), '/*\n  Cross-Origin-Opener-Policy: same-origin\n  Cross-Origin-Embedder-Policy: require-corp\n');
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  buildClient().then((d) => process.stderr.write(`client built into ${d}\n`));
}
