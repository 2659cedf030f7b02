import type { z } from 'zod';
import { ApiError } from '../errors.ts';

/** Parse untrusted input with a zod schema; failures become 400 with the first issue's path and message. */
export function parseOr400<T>(schema: z.ZodType<T>, value: unknown, code = 'invalid_request'): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
    throw new ApiError(400, code, `${where}${issue.message}`);
  }
  return r.data;
}

export async function jsonBody(req: Request): Promise<unknown> {
  const type = req.headers.get('content-type') ?? '';
  if (!type.includes('application/json')) throw new ApiError(415, 'unsupported_media_type', 'send JSON with content-type: application/json');
  try {
    return await req.json();
  } catch {
    throw new ApiError(400, 'invalid_json', 'request body is not valid JSON');
  }
}
