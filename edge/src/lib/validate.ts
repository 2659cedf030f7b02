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

/** The media type of a content-type header, parameters dropped: `application/json; charset=utf-8` → `application/json`. */
export const mediaType = (header: string | null) => (header ?? '').split(';')[0].trim().toLowerCase();

/** Lone UTF-16 surrogates (JSON allows `"\ud800"`): not text, so never embedded or cached. */
function findIllFormed(value: unknown, path: string): string | undefined {
  if (typeof value === 'string') return /\p{Cs}/u.test(value) ? path : undefined;
  if (Array.isArray(value)) return value.map((v, i) => findIllFormed(v, `${path}.${i}`)).find(Boolean);
  if (value && typeof value === 'object')
    return Object.entries(value)
      .map(([k, v]) => findIllFormed(v, `${path}.${k}`))
      .find(Boolean);
  return undefined;
}

/**
 * A JSON request body: the media type exactly application/json (415 otherwise), the bytes valid UTF-8
 * and every string well-formed Unicode (400 invalid_text: `req.json()` would silently turn bad bytes into
 * U+FFFD), then valid JSON (400 invalid_json).
 */
export async function jsonBody(req: Request): Promise<unknown> {
  if (mediaType(req.headers.get('content-type')) !== 'application/json')
    throw new ApiError(415, 'unsupported_media_type', 'send JSON with content-type: application/json');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(await req.arrayBuffer());
  } catch {
    throw new ApiError(400, 'invalid_text', 'request body is not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ApiError(400, 'invalid_json', 'request body is not valid JSON');
  }
  const bad = findIllFormed(value, 'body');
  if (bad)
    throw new ApiError(
      400,
      'invalid_text',
      `${bad.slice('body.'.length) || 'body'}: contains a lone UTF-16 surrogate (not valid Unicode text)`,
    );
  return value;
}
