import type { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishTo, startEdge, textBundle } from '../support/edge.ts';

let mf: Miniflare;
beforeAll(async () => {
  mf = await startEdge({ embeddingsPerMinute: 3 });
  await publishTo(mf, (await textBundle('toy')).dir);
});
afterAll(() => mf?.dispose());

const embed = (ip: string) =>
  mf.dispatchFetch('http://edge.test/v1/embeddings', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'cf-connecting-ip': ip },
    body: JSON.stringify({ model: 'toy', prompts: ['a small red circle'] }),
  });

describe('rate limit on /v1/embeddings (the rate-limiting binding, in workerd)', () => {
  it('a client over its limit gets 429 with Retry-After; other clients and other routes are unaffected', async () => {
    for (let i = 0; i < 3; i++) expect((await embed('198.51.100.7')).status).toBe(200);
    const limited = await embed('198.51.100.7');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('60');
    expect(((await limited.json()) as { error: { code: string } }).error.code).toBe('rate_limited');
    expect((await embed('203.0.113.9')).status).toBe(200);
    expect((await mf.dispatchFetch('http://edge.test/v1/models', { headers: { 'cf-connecting-ip': '198.51.100.7' } })).status).toBe(200);
  });
});
