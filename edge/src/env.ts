// The module form of workers-types: its global form would clash with the DOM types the client uses.
import type { KVNamespace, R2Bucket, RateLimit } from '@cloudflare/workers-types/index.ts';

/** Bindings declared in wrangler.toml. */
export interface Env {
  MODELS: R2Bucket;
  EMBEDDINGS: KVNamespace;
  /** Secret: `wrangler secret put PUBLISH_TOKEN`; locally from .dev.vars. */
  PUBLISH_TOKEN?: string;
  /** Upload limit in bytes for one object (default 64 MiB). */
  MAX_UPLOAD_BYTES?: string;
  /** Per-client limit on POST /v1/embeddings ([[ratelimits]] in wrangler.toml); its period, for Retry-After. */
  EMBEDDINGS_LIMITER?: RateLimit;
  EMBEDDINGS_LIMIT_PERIOD?: string;
}

export type AppEnv = { Bindings: Env };
