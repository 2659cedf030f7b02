import { cors } from 'hono/cors';

/** Public read API: any origin may call it; browsers may read the headers the client needs. */
export const publicCors = cors({
  origin: '*',
  allowMethods: ['GET', 'HEAD', 'POST', 'OPTIONS'],
  allowHeaders: ['content-type', 'range', 'if-none-match', 'if-range', 'accept'],
  exposeHeaders: [
    'etag',
    'content-range',
    'content-length',
    'accept-ranges',
    'x-cache',
    'x-embedding-dims',
    'x-embedding-dtype',
    'x-content-sha256',
    'retry-after',
  ],
  maxAge: 86400,
});
