import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { InvalidArgumentError } from '../../models/errors.ts';

/** Every error answer has this one shape: {error: {code, message}}. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

/** Map anything thrown to a JSON answer: typed errors to their 4xx, the unexpected to a logged 500. */
export function onError(err: Error, c: Context): Response {
  if (err instanceof ApiError) return c.json(errorBody(err.code, err.message), err.status, err.headers);
  if (err instanceof InvalidArgumentError) return c.json(errorBody(err.code, err.message), 400);
  console.error('unhandled error', err);
  return c.json(errorBody('internal', 'internal error'), 500);
}

export function notFound(c: Context): Response {
  return c.json(errorBody('not_found', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`), 404);
}
