import { Validator } from '@seriousme/openapi-schema-validator';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/cli.ts';
import { startEdge } from '../support/edge.ts';

let mf: Miniflare;
beforeAll(async () => {
  mf = await startEdge();
});
afterAll(() => mf?.dispose());

type Doc = {
  openapi: string;
  paths: Record<
    string,
    Record<string, { parameters?: { name: string; in: string }[]; requestBody?: unknown; responses: Record<string, unknown> }>
  >;
};
const doc = async () => (await (await mf.dispatchFetch('http://edge.test/openapi.json')).json()) as Doc;

/**
 * The routes the app registers, read from its source: `app.route(prefix, module)` mounts in index.ts and
 * `module.get|post|put|on('HEAD', path)` in each route file, as "METHOD /path/{}" with parameters blanked.
 */
function registeredRoutes(): string[] {
  const index = readFileSync(join(ROOT, 'edge/src/index.ts'), 'utf8');
  const mounts = new Map([...index.matchAll(/app\.route\('([^']*)', (\w+)\)/g)].map((m) => [m[2], m[1]]));
  const out = [...index.matchAll(/app\.(get|post|put)\('([^']+)'/g)].map((m) => `${m[1].toUpperCase()} ${m[2]}`);
  for (const f of readdirSync(join(ROOT, 'edge/src/routes'))) {
    const src = readFileSync(join(ROOT, 'edge/src/routes', f), 'utf8');
    for (const m of src.matchAll(/^(\w+)\.(?:(get|post|put)\(|on\('(HEAD)', )'([^']*)'/gm)) {
      const prefix = mounts.get(m[1]);
      if (prefix === undefined) throw new Error(`${f}: ${m[1]} is not mounted in index.ts`);
      const path = `${prefix.replace(/\/$/, '')}${m[4] === '/' ? '' : m[4]}` || '/';
      out.push(`${(m[2] ?? m[3]).toUpperCase()} ${path}`);
    }
  }
  return out.map((r) => r.replace(/:\w+|\*/g, '{}')).sort();
}

describe("OpenAPI document (generated from the routes' zod schemas)", () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const result = await new Validator().validate((await doc()) as unknown as Parameters<Validator['validate']>[0]);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('documents exactly the routes the app has, each templated parameter declared', async () => {
    const d = await doc();
    const documented = Object.entries(d.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${path.replace(/\{\w+\}/g, '{}')}`))
      .sort();
    expect(documented).toEqual(registeredRoutes());
    for (const [path, ops] of Object.entries(d.paths)) {
      const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      for (const [method, op] of Object.entries(ops))
        expect([
          method,
          path,
          (op.parameters ?? [])
            .filter((p) => p.in === 'path')
            .map((p) => p.name)
            .sort(),
        ]).toEqual([method, path, templated]);
    }
  });

  it('the request schemas are the ones the server enforces: extra keys are refused in both', async () => {
    const d = await doc();
    const body = JSON.stringify(d.paths['/v1/embeddings'].post.requestBody);
    expect(body).toContain('"additionalProperties":false');
    expect(body).toContain('"prompts"');
    expect(body).toContain('"input"');
    expect(JSON.stringify(d.paths['/v1/admin/objects/{key}'].put)).toContain('x-content-sha256');
    expect(Object.keys(d.paths['/v1/admin/objects/{key}'].put.responses)).toEqual(
      expect.arrayContaining(['201', '401', '403', '409', '413', '503']),
    );
    const res = await mf.dispatchFetch('http://edge.test/v1/embeddings', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'x', prompts: ['a'], extra: 1 }),
    });
    expect(res.status).toBe(400);
  });

  it('/openapi.json and /docs carry an ETag and answer If-None-Match with 304', async () => {
    for (const path of ['/openapi.json', '/docs']) {
      const first = await mf.dispatchFetch(`http://edge.test${path}`);
      const etag = first.headers.get('etag');
      expect(etag, path).toMatch(/^"[0-9a-f]{16}"$/);
      expect((await mf.dispatchFetch(`http://edge.test${path}`, { headers: { 'if-none-match': `W/${etag}` } })).status).toBe(304);
    }
  });

  it('/docs renders every route as a page', async () => {
    const res = await mf.dispatchFetch('http://edge.test/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    for (const path of Object.keys((await doc()).paths)) expect(html).toContain(path);
  });
});
