import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../env.ts';
import { ApiError } from '../errors.ts';

/**
 * Per-client limit on the embeddings API (every uncached prompt costs a text-encoder run and a KV write),
 * through Cloudflare's rate-limiting binding; its limit and period are set in wrangler.toml. The client
 * is its IP as Cloudflare sees it. Without the binding (a deployment that removed it) nothing is limited.
 */
export const embeddingsRateLimit: MiddlewareHandler<AppEnv> = async (c, next) => {
  const limiter = c.env.EMBEDDINGS_LIMITER;
  if (c.req.method === 'POST' && limiter) {
    const client = c.req.header('cf-connecting-ip') ?? 'unknown';
    const { success } = await limiter.limit({ key: `embeddings:${client}` });
    if (!success) {
      const period = c.env.EMBEDDINGS_LIMIT_PERIOD ?? '60';
      throw new ApiError(429, 'rate_limited', `too many embedding requests from this client; retry in up to ${period} s`, {
        'retry-after': period,
      });
    }
  }
  await next();
};
