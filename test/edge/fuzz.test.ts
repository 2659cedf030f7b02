import fc from 'fast-check';
import type { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLISH_TOKEN, publishTo, startEdge, textBundle } from '../support/edge.ts';

let mf: Miniflare;
let version: string;

beforeAll(async () => {
  mf = await startEdge();
  const b = await textBundle('toy');
  version = b.version;
  await publishTo(mf, b.dir);
});
afterAll(() => mf?.dispose());

const segment = fc.oneof(
  fc.constantFrom(
    'v1',
    'models',
    'toy',
    'embeddings',
    'admin',
    'objects',
    'latest',
    'files',
    'manifest.json',
    'unet',
    'model.onnx',
    '..',
    '.',
    '%2e%2e',
    '%2F',
    '%00',
    '%E0%A4%A',
    'openapi.json',
    '@',
    'toy@',
    'toy@v1',
  ),
  fc.string({ maxLength: 12 }).map(encodeURIComponent),
  fc.stringMatching(/^[a-z0-9@._-]{0,10}$/),
);
const path = fc.oneof(
  fc.array(segment, { minLength: 0, maxLength: 7 }).map((s) => `/${s.join('/')}`),
  fc.array(segment, { maxLength: 4 }).map((s) => `/v1/models/${s.join('/')}`),
  fc.array(segment, { maxLength: 5 }).map((s) => `/v1/admin/objects/models/${s.join('/')}`),
  fc.constant('/v1/embeddings'),
);
const jsonish = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.json({ maxDepth: 3 }),
  fc
    .record(
      {
        model: fc.oneof(fc.constantFrom('toy', 'ghost', 'toy@x'), fc.string()),
        prompts: fc.oneof(fc.array(fc.string({ maxLength: 40 }), { maxLength: 20 }), fc.anything()),
        format: fc.constantFrom('json', 'f16', 'f32', 'x'),
      },
      { requiredKeys: [] },
    )
    .map((o) => JSON.stringify(o)),
);
/** Byte-level bodies: valid JSON with bytes spliced in (invalid UTF-8, NULs, BOMs, lone-surrogate escapes). */
const bytesBody = fc
  .tuple(
    fc.constantFrom('{"model":"toy","prompts":["', '{"model":"toy","prompts":["ok"],"negative_prompt":"', '["', '"'),
    fc.array(
      fc.oneof(
        fc.integer({ min: 0, max: 255 }).map((b) => [b]),
        fc.constantFrom(
          [0xef, 0xbb, 0xbf],
          [0xed, 0xa0, 0x80],
          [0xc0, 0xaf],
          [0xf4, 0x90, 0x80, 0x80],
          [...new TextEncoder().encode('\\ud800')],
          [...new TextEncoder().encode('\\udc00\\ud800')],
        ),
      ),
      { maxLength: 12 },
    ),
    fc.constantFrom('"]}', '"}', '"]', ''),
  )
  .map(([head, middle, tail]) => new Uint8Array([...new TextEncoder().encode(head), ...middle.flat(), ...new TextEncoder().encode(tail)]));
const request = fc.record({
  method: fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'),
  path,
  body: fc.option(fc.oneof(jsonish, bytesBody), { nil: undefined }),
  contentType: fc.constantFrom(
    undefined,
    'application/json',
    'text/plain',
    'application/octet-stream',
    'application/json; charset=utf-8',
    'text/plain; x=application/json',
    'application/jsonx',
  ),
  auth: fc.constantFrom(undefined, `Bearer ${PUBLISH_TOKEN}`, 'Bearer nope', 'Basic abc', 'Bearer'),
  ifRange: fc.option(fc.constantFrom('"x"', 'W/"x"', 'Tue, 01 Jan 2019 00:00:00 GMT', '', 'garbage'), { nil: undefined }),
  range: fc.option(
    fc.oneof(
      fc.constantFrom('bytes=0-10', 'bytes=-5', 'bytes=999999999-', 'bytes=5-2', 'bytes=a-b', 'items=0-1', 'bytes=0-1,3-4'),
      fc.string({ maxLength: 20 }),
    ),
    { nil: undefined },
  ),
  sha: fc.option(fc.oneof(fc.stringMatching(/^[0-9a-f]{64}$/), fc.string({ maxLength: 70 })), { nil: undefined }),
});

describe('fuzzing the edge with malformed requests', () => {
  it('answers 1500 random requests with well-formed 2xx/3xx/4xx, never 5xx', async () => {
    let count = 0;
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const headers: Record<string, string> = {};
        if (r.contentType) headers['content-type'] = r.contentType;
        if (r.auth) headers.authorization = r.auth;
        if (r.range) headers.range = r.range;
        if (r.ifRange !== undefined) headers['if-range'] = r.ifRange;
        if (r.sha) headers['x-content-sha256'] = r.sha;
        const p = r.path.replace('/toy/v1/', `/toy/${version}/`);
        const hasBody = r.body !== undefined && !['GET', 'HEAD'].includes(r.method);
        const res = await mf.dispatchFetch(`http://edge.test${p}`, { method: r.method, headers, body: hasBody ? r.body : undefined });
        count++;
        const text = await res.text();
        expect(res.status, `${r.method} ${p} → ${res.status} ${text.slice(0, 200)}`).toBeLessThan(500);
        // Bytes that are not UTF-8, sent as JSON to the embeddings route: always invalid_text, never embedded.
        const utf8 = (b: Uint8Array) => {
          try {
            new TextDecoder('utf-8', { fatal: true }).decode(b);
            return true;
          } catch {
            return false;
          }
        };
        if (
          p === '/v1/embeddings' &&
          r.method === 'POST' &&
          r.body instanceof Uint8Array &&
          r.contentType?.startsWith('application/json') &&
          r.contentType !== 'application/jsonx' &&
          !utf8(r.body)
        ) {
          expect(JSON.parse(text).error.code).toBe('invalid_text');
        }
        if (res.status >= 400 && r.method !== 'HEAD') {
          const body = JSON.parse(text) as { error: { code: string; message: string } };
          expect(typeof body.error.code).toBe('string');
          expect(typeof body.error.message).toBe('string');
        } else if ((res.headers.get('content-type') ?? '').includes('application/json') && r.method !== 'HEAD' && res.status !== 204) {
          expect(() => JSON.parse(text)).not.toThrow();
        }
      }),
      { numRuns: 1500, seed: 20261125 },
    );
    expect(count).toBeGreaterThanOrEqual(1000);
  });
});
