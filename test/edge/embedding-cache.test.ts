import type { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { edgeOptions, publishTo, startEdge, textBundle } from '../support/edge.ts';

let mf: Miniflare;
beforeAll(async () => {
  mf = await startEdge();
  await publishTo(mf, (await textBundle('tiers')).dir);
});
afterAll(() => mf?.dispose());

type Answer = { version: string; cache: string; per_prompt_cache: string[]; embeddings: number[][][] };
const embed = async (model: string, prompts: string[], negative = '') => {
  const res = await mf.dispatchFetch('http://edge.test/v1/embeddings', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, prompts, negative_prompt: negative }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Answer;
};

describe('the embedding cache tiers (memory, Cache API, KV) in workerd', () => {
  it('a request mixing cached and new prompts is "partial", each prompt marked', async () => {
    await embed('tiers', ['a small red circle'], 'x');
    const mixed = await embed('tiers', ['a small red circle', 'a large blue square'], 'x');
    expect([mixed.cache, mixed.per_prompt_cache]).toEqual(['partial', ['hit', 'miss', 'hit']]);
  });

  it('a fresh isolate with an empty colo cache still hits, from KV, with the same values', async () => {
    const first = await embed('tiers', ['a green triangle above a red square'], 'y');
    expect(first.cache).toBe('miss');
    // Misses are written to KV after the answer (waitUntil): wait until they are there.
    const kv = await mf.getKVNamespace('EMBEDDINGS');
    for (let i = 0; i < 50 && (await kv.list()).keys.length < 2; i++) await new Promise((r) => setTimeout(r, 100));
    await mf.setOptions(edgeOptions()); // a new isolate: its memory tier is empty
    const stored = (await (await mf.getKVNamespace('EMBEDDINGS')).list()).keys.map((k) => k.name);
    expect(stored.length).toBeGreaterThanOrEqual(2);
    const colo = await (await mf.getCaches()).open('embeddings');
    let deleted = 0;
    for (const name of stored) deleted += +(await colo.delete(`https://embeddings.cache.invalid/${name}`));
    expect(deleted).toBe(stored.length); // nothing left in the colo cache: a hit now can only come from KV
    const again = await embed('tiers', ['a green triangle above a red square'], 'y');
    expect(again.cache).toBe('hit');
    expect(again.embeddings).toEqual(first.embeddings);
  });

  it('a new publish becomes "latest" within 5 s for an isolate that answered for the old one', async () => {
    const v1 = (await embed('tiers', ['a small red circle'])).version;
    const next = await textBundle('tiers', 60_000); // other filler bytes: another version
    expect(next.version).not.toBe(v1);
    await publishTo(mf, next.dir);
    const t0 = Date.now();
    let seen = v1;
    while (seen !== next.version && Date.now() - t0 < 8000) {
      seen = (await embed('tiers', ['a small red circle'])).version;
      if (seen !== next.version) await new Promise((r) => setTimeout(r, 250));
    }
    expect(seen).toBe(next.version);
    expect(Date.now() - t0).toBeLessThanOrEqual(5500);
  });
});
