import * as ortNode from 'onnxruntime-node';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Miniflare } from 'miniflare';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE_FILES, sha256Hex } from '../../models/bundle/manifest.ts';
import { fileKey, latestKey } from '../../models/bundle/keys.ts';
import { fromFloat16Bits } from '../../models/onnx/fp16.ts';
import { loadTokenizer } from '../../models/text/tokenizer.ts';
import { publishBundle } from '../../node/publish.ts';
import { remoteStore } from '../../node/publish-stores.ts';
import { MAX_UPLOAD, PUBLISH_TOKEN, publishTo, startEdge, textBundle } from '../support/edge.ts';
import { fakeBundle, randomBytes } from '../support/fake-bundle.ts';

let mf: Miniflare;
let bundle: Awaited<ReturnType<typeof textBundle>>;
const URL_ = 'http://edge.test';

const get = (path: string, headers: Record<string, string> = {}) => mf.dispatchFetch(`${URL_}${path}`, { headers });
const post = (path: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  mf.dispatchFetch(`${URL_}${path}`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
const put = (path: string, body: Uint8Array | string, headers: Record<string, string>) =>
  mf.dispatchFetch(`${URL_}${path}`, { method: 'PUT', headers, body });
const auth = { authorization: `Bearer ${PUBLISH_TOKEN}` };

async function expectError(res: { status: number; json(): Promise<unknown> }, status: number, code: string): Promise<string> {
  expect(res.status).toBe(status);
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  return body.error.message;
}

beforeAll(async () => {
  mf = await startEdge();
  bundle = await textBundle('toy');
  await publishTo(mf, bundle.dir);
});
afterAll(() => mf?.dispose());

describe('models and files', () => {
  it('lists models and serves manifests of latest and of a pinned version', async () => {
    const list = (await (await get('/v1/models')).json()) as { models: { name: string; version: string }[] };
    // Other tests publish more models; this one is there with its version.
    expect(list.models).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'toy', version: bundle.version })]));
    const latest = await get('/v1/models/toy');
    expect(latest.status).toBe(200);
    expect(((await latest.json()) as { version: string }).version).toBe(bundle.version);
    expect(latest.headers.get('cache-control')).toBe('public, max-age=30');
    const pinned = await get(`/v1/models/toy@${bundle.version}`);
    expect(pinned.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    await expectError(await get('/v1/models/nope'), 404, 'unknown_model');
    await expectError(await get('/v1/models/toy@0000'), 404, 'unknown_version');
    await expectError(await get('/v1/models/Bad%20Name'), 400, 'invalid_model');
  });

  it('manifests and the model list carry ETags and answer If-None-Match (weak comparison) with 304', async () => {
    for (const path of ['/v1/models', '/v1/models/toy', `/v1/models/toy@${bundle.version}`]) {
      const first = await get(path);
      const etag = first.headers.get('etag');
      expect(etag, path).toMatch(/^(W\/)?"[^"]+"$/);
      for (const inm of [etag!, `W/${etag!.replace(/^W\//, '')}`, `"other", ${etag}`, `"a,b", ${etag}`, '*']) {
        const again = await get(path, { 'if-none-match': inm });
        expect([path, inm, again.status]).toEqual([path, inm, 304]);
        expect(again.headers.get('etag')).toBe(etag);
      }
      expect((await get(path, { 'if-none-match': '"other"' })).status).toBe(200);
    }
    expect((await get('/v1/models/toy')).headers.get('etag')).toBe(`"${bundle.version}"`);
  });

  it('streams files with ETag, 304, Range 206 and 416, immutable caching, content type and CORS', async () => {
    const path = `/v1/models/toy/${bundle.version}/${BUNDLE_FILES.textEncoder}`;
    const full = await get(path, { origin: 'https://example.com' });
    expect(full.status).toBe(200);
    const bytes = new Uint8Array(await full.arrayBuffer());
    expect(bytes).toEqual(new Uint8Array(bundle.textEncoderOnnx));
    expect(full.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(full.headers.get('content-type')).toBe('application/octet-stream');
    expect(full.headers.get('access-control-allow-origin')).toBe('*');
    expect(full.headers.get('x-content-sha256')).toBe(await sha256Hex(bytes));
    const etag = full.headers.get('etag')!;
    expect(etag).toMatch(/^"/);

    const cached = await get(path, { 'if-none-match': etag });
    expect(cached.status).toBe(304);
    expect((await cached.arrayBuffer()).byteLength).toBe(0);
    // RFC 9110: If-None-Match compares weakly.
    expect((await get(path, { 'if-none-match': `W/${etag}` })).status).toBe(304);
    // If-Range: the range only while the validator matches strongly; otherwise the whole file.
    expect((await get(path, { range: 'bytes=0-9', 'if-range': etag })).status).toBe(206);
    for (const stale of ['"stale"', `W/${etag}`, 'Tue, 01 Jan 2019 00:00:00 GMT', 'garbage']) {
      const whole = await get(path, { range: 'bytes=0-9', 'if-range': stale });
      expect([stale, whole.status]).toEqual([stale, 200]);
      expect(new Uint8Array(await whole.arrayBuffer())).toEqual(bytes);
    }
    const modified = full.headers.get('last-modified')!;
    expect(new Date(modified).getTime()).toBeGreaterThan(Date.now() - 3_600_000);
    expect((await get(path, { range: 'bytes=0-9', 'if-range': modified })).status).toBe(206);

    const part = await get(path, { range: 'bytes=100-199' });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 100-199/${bytes.length}`);
    expect(new Uint8Array(await part.arrayBuffer())).toEqual(bytes.slice(100, 200));
    const tail = await get(path, { range: 'bytes=-10' });
    expect(new Uint8Array(await tail.arrayBuffer())).toEqual(bytes.slice(-10));
    const open = await get(path, { range: `bytes=${bytes.length - 5}-` });
    expect(new Uint8Array(await open.arrayBuffer())).toEqual(bytes.slice(-5));

    const bad = await get(path, { range: `bytes=${bytes.length}-${bytes.length + 10}` });
    await expectError(bad, 416, 'range_not_satisfiable');
    expect(bad.headers.get('content-range')).toBe(`bytes */${bytes.length}`);

    const json = await get(`/v1/models/toy/${bundle.version}/${BUNDLE_FILES.tokenizer}`);
    expect(json.headers.get('content-type')).toBe('application/json');
    await expectError(await get(`/v1/models/toy/${bundle.version}/unet/missing.onnx`), 404, 'not_found');
  });

  it('path traversal and odd keys never reach other objects', async () => {
    // latest lives at models/toy/latest; manifests at models/toy/<v>/manifest.json: none of these may serve them.
    for (const p of [
      '..%2Flatest',
      '..%2F..%2Ftoy%2Flatest',
      '%2E%2E/manifest.json',
      'a/../../latest',
      '.%2Fmanifest.json',
      '%2Fetc%2Fpasswd',
      'x%00y',
      '%E0%A4%A',
    ]) {
      const res = await get(`/v1/models/toy/${bundle.version}/${p}`);
      expect(res.status, p).toBeGreaterThanOrEqual(400);
      expect(res.status, p).toBeLessThan(500);
      const text = await res.text();
      expect(text).not.toContain(`${bundle.version}"}`);
      expect(JSON.parse(text).error.code).toMatch(/invalid_path|not_found/);
    }
    await expectError(await get('/v1/models/toy/..%2F..%2Fx/unet/model.onnx'), 400, 'invalid_model');
  });
});

describe('embeddings', () => {
  const body = { model: 'toy', prompts: ['a small red circle', 'A  Large blue SQUARE'] };

  it('equal the text encoder run in onnxruntime-node (1e-5), second request is a cache hit with equal values', async () => {
    // Prompts no other test sends, so the first request is a miss whatever ran before.
    const body = { model: 'toy', prompts: ['a small green circle', 'A  Large orange SQUARE'], negative_prompt: 'a blue triangle' };
    const first = await post('/v1/embeddings', body);
    expect(first.status).toBe(200);
    const a = (await first.json()) as { dims: number[]; cache: string; embeddings: number[][][]; negative: number[][] };
    expect(a.cache).toBe('miss');
    expect(first.headers.get('x-cache')).toBe('miss');

    const tok = loadTokenizer(JSON.parse(bundle.tokenizerJson), bundle.maxLength);
    const prompts = [...body.prompts, body.negative_prompt];
    const ids = BigInt64Array.from(tok.encodeBatch(prompts), (id) => BigInt(id));
    const session = await ortNode.InferenceSession.create(bundle.textEncoderOnnx);
    const ref = (await session.run({ input_ids: new ortNode.Tensor('int64', ids, [prompts.length, bundle.maxLength]) })).last_hidden_state
      .data as Float32Array;
    const [T, D] = a.dims;
    const got = [...a.embeddings, a.negative].flat(2);
    expect(got.length).toBe(prompts.length * T * D);
    let err = 0;
    got.forEach((v, i) => (err = Math.max(err, Math.abs(v - ref[i]))));
    expect(err).toBeLessThan(1e-5);

    const second = await post('/v1/embeddings', { ...body, prompts: [' a small GREEN circle ', body.prompts[1]] });
    const b = (await second.json()) as typeof a;
    expect(b.cache).toBe('hit');
    expect(second.headers.get('x-cache')).toBe('hit');
    expect(b.embeddings).toEqual(a.embeddings);
  });

  it('answer the official OpenAI client with pooled, normalised CLIP text embeddings (float and base64)', async () => {
    const client = new OpenAI({ apiKey: 'not-needed', baseURL: `${(await mf.ready).toString().replace(/\/$/, '')}/v1`, maxRetries: 0 });
    const inputs = ['a small red circle', 'a large blue square'];
    const tok = loadTokenizer(JSON.parse(bundle.tokenizerJson), bundle.maxLength);
    const session = await ortNode.InferenceSession.create(bundle.textEncoderOnnx);
    const ref = (
      await session.run({
        input_ids: new ortNode.Tensor('int64', BigInt64Array.from(tok.encodeBatch(inputs), BigInt), [2, bundle.maxLength]),
      })
    ).text_embeds.data as Float32Array;
    const P = ref.length / 2;
    const expected = inputs.map((_, i) => {
      const v = Array.from(ref.slice(i * P, (i + 1) * P));
      const n = Math.hypot(...v);
      return v.map((x) => x / n);
    });
    // The client asks for base64 unless told otherwise, and decodes it.
    for (const encoding_format of [undefined, 'float', 'base64'] as const) {
      const res = await client.embeddings.create({ model: 'toy', input: inputs, ...(encoding_format ? { encoding_format } : {}) });
      expect(res.object).toBe('list');
      expect(res.model).toBe(`toy@${bundle.version}`);
      expect(res.usage).toEqual({
        prompt_tokens: inputs.reduce((s, p) => s + tok.countTokens(p), 0),
        total_tokens: inputs.reduce((s, p) => s + tok.countTokens(p), 0),
      });
      const vectors = res.data.map((d) =>
        typeof d.embedding === 'string'
          ? Array.from(new Float32Array(Uint8Array.from(Buffer.from(d.embedding, 'base64')).buffer))
          : d.embedding,
      );
      expect(res.data.map((d) => [d.object, d.index])).toEqual([
        ['embedding', 0],
        ['embedding', 1],
      ]);
      vectors.forEach((v, i) => v.forEach((x, j) => expect(Math.abs(x - expected[i][j])).toBeLessThan(1e-5)));
    }
    const single = await client.embeddings.create({
      model: `toy@${bundle.version}`,
      input: 'a small red circle',
      encoding_format: 'float',
      dimensions: P,
    });
    expect(single.data).toHaveLength(1);
    // Errors come back in a shape the client raises as typed errors.
    await expect(client.embeddings.create({ model: 'ghost', input: 'x' })).rejects.toMatchObject({ status: 404 });
    await expect(client.embeddings.create({ model: 'toy', input: 'x', dimensions: P + 1 })).rejects.toMatchObject({ status: 400 });
    await expect(client.embeddings.create({ model: 'toy', input: 'red circle '.repeat(20) })).rejects.toMatchObject({ status: 400 });
    await expect(client.embeddings.create({ model: 'toy', input: [1, 2, 3] as unknown as string[] })).rejects.toMatchObject({
      status: 400,
    });
  });

  it('binary float32 and float16 forms carry the same values', async () => {
    const json = (await (await post('/v1/embeddings', body)).json()) as { embeddings: number[][][]; negative: number[][] };
    const flat = [...json.embeddings, json.negative].flat(2);
    const f32 = await post('/v1/embeddings', { ...body, format: 'f32' });
    expect(f32.headers.get('x-embedding-dims')).toBe(`3,${bundle.maxLength},32`);
    expect(f32.headers.get('x-embedding-dtype')).toBe('float32');
    expect(Array.from(new Float32Array(await f32.arrayBuffer()))).toEqual(flat.map(Math.fround));
    const f16 = new Uint16Array(await (await post('/v1/embeddings', { ...body, format: 'f16' })).arrayBuffer());
    f16.forEach((h, i) => expect(Math.abs(fromFloat16Bits(h) - flat[i])).toBeLessThanOrEqual(Math.abs(flat[i]) * 2 ** -10 + 1e-7));
  });

  it('a negative prompt replaces the empty prompt as the unconditional states', async () => {
    const plain = (await (await post('/v1/embeddings', body)).json()) as { negative: number[][] };
    const neg = (await (await post('/v1/embeddings', { ...body, negative_prompt: 'blue' })).json()) as { negative: number[][] };
    expect(neg.negative).not.toEqual(plain.negative);
  });

  it('bad requests are 4xx JSON errors', async () => {
    await expectError(await post('/v1/embeddings', '{not json'), 400, 'invalid_json');
    await expectError(await post('/v1/embeddings', body, { 'content-type': 'text/plain' }), 415, 'unsupported_media_type');
    // The media type is parsed, not searched for.
    for (const type of ['text/plain; x=application/json', 'application/jsonx', 'application/json-seq', 'xapplication/json'])
      await expectError(await post('/v1/embeddings', body, { 'content-type': type }), 415, 'unsupported_media_type');
    for (const type of ['application/json; charset=utf-8', 'Application/JSON'])
      expect((await post('/v1/embeddings', body, { 'content-type': type })).status, type).toBe(200);
    // Text that is not Unicode is refused, never embedded or cached as U+FFFD.
    const invalidUtf8 = new Uint8Array([
      ...new TextEncoder().encode('{"model":"toy","prompts":["a '),
      0xff,
      0xfe,
      ...new TextEncoder().encode(' b"]}'),
    ]);
    expect(
      await expectError(
        await mf.dispatchFetch(`${URL_}/v1/embeddings`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: invalidUtf8,
        }),
        400,
        'invalid_text',
      ),
    ).toBe('request body is not valid UTF-8');
    expect(await expectError(await post('/v1/embeddings', '{"model":"toy","prompts":["\\ud800"]}'), 400, 'invalid_text')).toMatch(
      /^prompts\.0: contains a lone UTF-16 surrogate/,
    );
    expect(
      await expectError(await post('/v1/embeddings', '{"model":"toy","prompts":["ok"],"negative_prompt":"x\\udfff"}'), 400, 'invalid_text'),
    ).toMatch(/^negative_prompt: /);
    expect((await post('/v1/embeddings', { ...body, prompts: ['a 😀 face'] })).status).toBe(200); // a surrogate pair is fine
    await expectError(await post('/v1/embeddings', { ...body, model: 'ghost' }), 404, 'unknown_model');
    await expectError(await post('/v1/embeddings', { ...body, prompts: [] }), 400, 'invalid_request');
    await expectError(await post('/v1/embeddings', { ...body, prompts: Array(17).fill('x') }), 400, 'invalid_request');
    await expectError(await post('/v1/embeddings', { ...body, prompts: ['x'.repeat(1001)] }), 400, 'invalid_request');
    await expectError(await post('/v1/embeddings', { ...body, extra: 1 }), 400, 'invalid_request');
    await expectError(await post('/v1/embeddings', { ...body, format: 'f64' }), 400, 'invalid_request');
    const long = await expectError(await post('/v1/embeddings', { ...body, prompts: ['red circle '.repeat(20)] }), 400, 'prompt_too_long');
    expect(long).toMatch(/prompts.0 has \d+ tokens; this model takes at most 14/);
  });
});

describe('publishing', () => {
  it('without a token → 401, wrong token → 403', async () => {
    const key = `/v1/admin/objects/${fileKey('toy', 'v2', 'unet/model.onnx')}`;
    await expectError(await put(key, 'x', {}), 401, 'unauthorized');
    await expectError(await put(key, 'x', { authorization: 'Bearer wrong' }), 403, 'forbidden');
    await expectError(await put(key, 'x', { authorization: `Basic ${btoa('a:b')}` }), 401, 'unauthorized');
    await expectError(
      await mf.dispatchFetch(`${URL_}/v1/admin/models/toy/latest`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: '{"version":"v1"}',
      }),
      401,
      'unauthorized',
    );
  });

  it('oversize uploads, hash mismatches and bad keys are rejected; latest stays unchanged', async () => {
    const bytes = randomBytes(MAX_UPLOAD + 1, 3);
    const big = await put(`/v1/admin/objects/${fileKey('toy', 'v2', 'unet/model.onnx')}`, bytes, {
      ...auth,
      'x-content-sha256': await sha256Hex(bytes),
    });
    await expectError(big, 413, 'payload_too_large');
    const small = randomBytes(100, 4);
    const mismatch = await put(`/v1/admin/objects/${fileKey('toy', 'v2', 'unet/model.onnx')}`, small, {
      ...auth,
      'x-content-sha256': 'f'.repeat(64),
    });
    await expectError(mismatch, 400, 'hash_mismatch');
    await expectError(await put(`/v1/admin/objects/${fileKey('toy', 'v2', 'unet/model.onnx')}`, small, auth), 400, 'missing_hash');
    for (const key of [
      'models/toy/latest',
      'models/toy/v2/../latest',
      'other/thing',
      'models/toy/v2/files/../../latest',
      'models/Toy/v2/manifest.json',
    ]) {
      await expectError(
        await put(`/v1/admin/objects/${key}`, small, { ...auth, 'x-content-sha256': await sha256Hex(small) }),
        400,
        'invalid_key',
      );
    }
    const manifest = new TextEncoder().encode('{"name":"toy"}');
    await expectError(
      await put('/v1/admin/objects/models/toy/v2/manifest.json', manifest, { ...auth, 'x-content-sha256': await sha256Hex(manifest) }),
      400,
      'invalid_manifest',
    );
    const latest = await put('/v1/admin/models/toy/latest', JSON.stringify({ version: 'v2' }), {
      ...auth,
      'content-type': 'application/json',
    });
    await expectError(latest, 409, 'incomplete_bundle');
    const bucket = await mf.getR2Bucket('MODELS');
    expect(JSON.parse(await (await bucket.get(latestKey('toy')))!.text())).toEqual({ version: bundle.version });
    expect(await bucket.head(fileKey('toy', 'v2', 'unet/model.onnx'))).toBeNull();
  });

  it('a whole bundle published through the API is served back byte-identical and becomes latest', async () => {
    const url = (await mf.ready).toString().replace(/\/$/, '');
    const files = {
      'unet/model.onnx': randomBytes(200_000, 8),
      'tokenizer/tokenizer.json': new TextEncoder().encode(bundle.tokenizerJson),
    };
    const b = await fakeBundle('remote-toy', files, 'r1');
    await expect(publishBundle(remoteStore(url, 'wrong'), b.dir)).rejects.toThrow(/HTTP 403/);
    await publishBundle(remoteStore(url, PUBLISH_TOKEN), b.dir);
    const res = await get('/v1/models/remote-toy/r1/unet/model.onnx');
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(new Uint8Array(readFileSync(join(b.dir, 'unet/model.onnx'))));
    expect(((await (await get('/v1/models/remote-toy')).json()) as { version: string }).version).toBe('r1');
    // Objects are immutable: re-publishing is a no-op, different bytes under the same key a conflict.
    await publishBundle(remoteStore(url, PUBLISH_TOKEN), b.dir);
    const other = randomBytes(10, 9);
    await expectError(
      await put(`/v1/admin/objects/${fileKey('remote-toy', 'r1', 'unet/model.onnx')}`, other, {
        ...auth,
        'x-content-sha256': await sha256Hex(other),
      }),
      409,
      'immutable',
    );
  });
});

describe('the API', () => {
  it('serves an OpenAPI document and JSON 404s', async () => {
    const doc = (await (await get('/openapi.json')).json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/models', '/v1/embeddings', '/v1/admin/objects/{key}']));
    await expectError(await get('/nowhere'), 404, 'not_found');
  });
});
