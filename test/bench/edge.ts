import { BUNDLE_FILES } from '../../models/bundle/manifest.ts';
import { loadTokenizer } from '../../models/text/tokenizer.ts';
import { publishTo, startEdge, textBundle } from '../support/edge.ts';
import type { BenchArgs } from './args.ts';

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

/** One kind of request in the load run: its latencies and how its answers came back. */
interface Tally {
  ms: number[];
  byStatus: Record<string, number>;
  networkErrors: number;
}

/**
 * Sustained load: `connections` clients, each sending one request after another for `seconds`, in turn a
 * cached embedding, an uncached one (a prompt never sent before) and a 64 KiB range of a model file.
 */
async function loadRun(
  send: Record<'cached' | 'uncached' | 'range', (i: number) => Promise<Response>>,
  connections: number,
  seconds: number,
  progress: (line: string) => void,
) {
  const tallies = Object.fromEntries(Object.keys(send).map((k) => [k, { ms: [], byStatus: {}, networkErrors: 0 } as Tally])) as Record<
    keyof typeof send,
    Tally
  >;
  const kinds = Object.keys(send) as (keyof typeof send)[];
  const end = performance.now() + seconds * 1000;
  let sent = 0;
  const ticker = setInterval(
    () => progress(`load: ${sent} requests, ${Math.max(0, (end - performance.now()) / 1000).toFixed(0)} s left`),
    10_000,
  );
  await Promise.all(
    Array.from({ length: connections }, async (_, c) => {
      for (let k = c; performance.now() < end; k += connections) {
        const kind = kinds[k % kinds.length];
        const i = sent++;
        const t0 = performance.now();
        try {
          const res = await send[kind](i);
          await res.arrayBuffer();
          const t = tallies[kind];
          t.ms.push(performance.now() - t0);
          t.byStatus[res.status] = (t.byStatus[res.status] ?? 0) + 1;
        } catch {
          tallies[kind].networkErrors++;
        }
      }
    }),
  );
  clearInterval(ticker);
  const summary = (t: Tally) => ({
    requests: t.ms.length,
    p50: pct(t.ms, 50),
    p99: pct(t.ms, 99),
    byStatus: t.byStatus,
    networkErrors: t.networkErrors,
  });
  const all = Object.values(tallies);
  const count = (pred: (status: number) => boolean) =>
    all.reduce((s, t) => s + Object.entries(t.byStatus).reduce((a, [st, n]) => a + (pred(Number(st)) ? n : 0), 0), 0);
  return {
    connections,
    seconds,
    requestsPerSecond: all.reduce((s, t) => s + t.ms.length, 0) / seconds,
    cached: summary(tallies.cached),
    uncached: summary(tallies.uncached),
    range: summary(tallies.range),
    errors: all.reduce((s, t) => s + t.networkErrors, 0) + count((st) => st >= 400),
    serverErrors: count((st) => st >= 500),
  };
}

/**
 * The edge worker in workerd (Miniflare) on loopback: embeddings latency cached and uncached (16-token
 * prompts), requests/s at a fixed concurrency, model-file throughput, then a sustained load run
 * (`--load-connections`, `--load-seconds`; 0 seconds skips it).
 */
export async function edgeBench(args: BenchArgs): Promise<unknown> {
  const n = args.int('requests', 300);
  const concurrency = args.int('concurrency', 8);
  const mf = await startEdge();
  try {
    const bundle = await textBundle('bench', 4 * 1024 * 1024);
    await publishTo(mf, bundle.dir);
    const base = (await mf.ready).toString().replace(/\/$/, '');
    let errors = 0;
    const embed = async (prompt: string) => {
      const t0 = performance.now();
      const res = await fetch(`${base}/v1/embeddings`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'bench', prompts: [prompt], format: 'f16' }),
      });
      await res.arrayBuffer();
      if (!res.ok) errors++;
      return { ms: performance.now() - t0, cache: res.headers.get('x-cache') };
    };
    // Prompts that fill the 16-token context (14 tokens + <bos>, <eos>), each distinct for the uncached runs.
    const tok = loadTokenizer(JSON.parse(bundle.tokenizerJson), bundle.maxLength);
    const words = [
      'a',
      'small',
      'red',
      'circle',
      'large',
      'blue',
      'square',
      'above',
      'green',
      'triangle',
      'face',
      'emoji',
      'orange',
      'style',
    ];
    const prompt = (i: number) => {
      const out: string[] = [];
      for (let k = 0; ; k++) {
        const next = [...out, words[(i * 7 + k * 3 + Math.floor(i / 14) * k) % words.length]];
        if (tok.countTokens(next.join(' ')) > bundle.maxLength - 2) return out.join(' ');
        out.push(next[next.length - 1]);
      }
    };
    await embed(prompt(-1)); // warm-up: model load and ORT initialisation
    const uncached: number[] = [];
    for (let i = 0; i < Math.min(n, 200); i++) {
      const r = await embed(prompt(i));
      // 'partial': the prompt was computed, the (empty) negative prompt came from the cache.
      if (r.cache !== 'hit') uncached.push(r.ms);
    }
    const cached: number[] = [];
    for (let i = 0; i < n; i++) cached.push((await embed(prompt(0))).ms);
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < n) {
          next++;
          await embed(prompt(next % 50));
        }
      }),
    );
    const rps = n / ((performance.now() - t0) / 1000);
    const fileUrl = `${base}/v1/models/bench/${bundle.version}/${BUNDLE_FILES.unet}`;
    const f0 = performance.now();
    let bytes = 0;
    for (let i = 0; i < 20; i++) {
      const res = await fetch(fileUrl);
      bytes += (await res.arrayBuffer()).byteLength;
      if (!res.ok) errors++;
    }
    const mibPerSecond = bytes / 1024 / 1024 / ((performance.now() - f0) / 1000);
    const loadSeconds = args.int('load-seconds', 60);
    const fresh = (i: number) => {
      const words = prompt(i % 200).split(' ');
      while (words.length > 0 && tok.countTokens(`${words.join(' ')} ${i}`) > bundle.maxLength - 2) words.pop();
      return `${words.join(' ')} ${i}`;
    };
    const post = (body: unknown) =>
      fetch(`${base}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const load =
      loadSeconds > 0
        ? await loadRun(
            {
              cached: () => post({ model: 'bench', prompts: [prompt(0)], format: 'f16' }),
              // Never sent before: a number and as many words of prompt(i) as fit, so each is a text-encoder run and a cache write.
              uncached: (i) => post({ model: 'bench', prompts: [fresh(i)], format: 'f16' }),
              range: (i) =>
                fetch(fileUrl, {
                  headers: { range: `bytes=${(i * 65536) % (bytes / 20 - 65536)}-${((i * 65536) % (bytes / 20 - 65536)) + 65535}` },
                }),
            },
            args.int('load-connections', 200),
            loadSeconds,
            args.progress,
          )
        : undefined;
    return {
      bench: 'edge',
      runtime: 'workerd via Miniflare, loopback HTTP',
      promptTokens: 16,
      embeddings: {
        cached: { p50: pct(cached, 50), p99: pct(cached, 99), n: cached.length },
        uncached: { p50: pct(uncached, 50), p99: pct(uncached, 99), n: uncached.length },
        requestsPerSecond: rps,
        concurrency,
      },
      modelFile: { bytesEach: bytes / 20, mibPerSecond },
      errors,
      load,
      goals: { cachedP50Ms: 5, uncachedP50Ms: 15, errors: 0, loadErrors: 0, loadServerErrors: 0 },
      ratios: { cachedP50OverGoal: pct(cached, 50) / 5, uncachedP50OverGoal: pct(uncached, 50) / 15 },
    };
  } finally {
    await mf.dispose();
  }
}
