import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../env.ts';
import { ApiError } from '../errors.ts';

async function digest(s: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(s)));
}

/** Compare SHA-256 digests byte by byte without early exit: time does not depend on where they differ. */
async function constantTimeEqual(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([digest(a), digest(b)]);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}

/** Bearer-token auth for publishing: 401 without credentials, 403 with wrong ones, 503 if no secret is set. */
export const requirePublishToken: MiddlewareHandler<AppEnv> = async (c, next) => {
  const secret = c.env.PUBLISH_TOKEN;
  if (!secret) throw new ApiError(503, 'publishing_disabled', 'this edge has no PUBLISH_TOKEN secret; publishing is off');
  const header = c.req.header('authorization');
  const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  if (!m) throw new ApiError(401, 'unauthorized', 'send Authorization: Bearer <publish token>', { 'www-authenticate': 'Bearer' });
  if (!(await constantTimeEqual(m[1], secret))) throw new ApiError(403, 'forbidden', 'publish token is not valid');
  await next();
};
