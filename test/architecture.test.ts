import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './support/cli.ts';

/**
 * The house's floors (docs/architecture.md): models/ at the bottom, platform-free; node/ the Node-side
 * room the CLIs share; trainer/, edge/ and client/ side by side on those, never on each other.
 */
const MAY_IMPORT: Record<string, string[]> = {
  models: ['models'],
  node: ['models', 'node'],
  trainer: ['models', 'node', 'trainer'],
  edge: ['models', 'node', 'edge'],
  client: ['models', 'node', 'client'],
};
/** Packages models/ may use: they run in Node, browsers and Workers alike. */
const PLATFORM_FREE = ['zod', '@huggingface/tokenizers', 'onnx-proto'];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (f === 'node_modules' || f === 'dist') return [];
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Every static, dynamic and type import specifier of a source file. */
function importsOf(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(
    /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g,
  ))
    out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

function violations(): string[] {
  const found: string[] = [];
  for (const [room, allowed] of Object.entries(MAY_IMPORT)) {
    for (const file of files(join(ROOT, room))) {
      for (const spec of importsOf(readFileSync(file, 'utf8'))) {
        const where = `${relative(ROOT, file)} imports '${spec}'`;
        if (spec.startsWith('.')) {
          const target = relative(ROOT, resolve(dirname(file), spec)).split('/')[0];
          // A package file spelled as a path (the edge's precompiled wasm): a package, not a room.
          if (target === 'node_modules' && room !== 'models') continue;
          if (!allowed.includes(target)) found.push(`${where}: ${room}/ may not import ${target}/`);
        } else if (room === 'models' && !PLATFORM_FREE.some((p) => spec === p || spec.startsWith(`${p}/`))) {
          found.push(`${where}: models/ must stay platform-free`);
        }
      }
    }
  }
  return found;
}

describe('layering', () => {
  it('no import goes the wrong way between models/, node/, trainer/, edge/ and client/', () => {
    expect(violations()).toEqual([]);
  });

  it('the check sees static, type-only, re-export, side-effect and dynamic imports', () => {
    const src =
      "import a from '../trainer/x.ts';\nimport type { B } from '../edge/y.ts';\nexport { c } from './z.ts';\nimport './shim.ts';\nconst d = await import('onnxruntime-web/webgpu');";
    expect(importsOf(src)).toEqual(['../trainer/x.ts', '../edge/y.ts', './z.ts', './shim.ts', 'onnxruntime-web/webgpu']);
  });
});
