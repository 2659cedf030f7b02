import type { Context } from 'hono';

/** RFC 9110 conditional requests against an entity tag (`"…"` or `W/"…"`). */

const opaque = (tag: string) => tag.trim().replace(/^W\//, '');

/** If-None-Match: `*` or a list of entity tags (which may themselves contain commas), compared weakly. */
export function noneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return [...header.matchAll(/(?:W\/)?"[^"]*"/g)].some((m) => opaque(m[0]) === opaque(etag));
}

/**
 * If-Range: the range applies only if the validator still identifies the representation. Entity tags
 * compare strongly (a weak tag never matches); an HTTP date must equal the last modification exactly.
 */
export function rangeStillValid(header: string | undefined, etag: string, lastModified?: Date): boolean {
  if (!header) return true;
  const v = header.trim();
  if (v.startsWith('"') || v.startsWith('W/')) return !v.startsWith('W/') && !etag.startsWith('W/') && v === etag;
  const date = Date.parse(v);
  return lastModified !== undefined && !Number.isNaN(date) && Math.floor(lastModified.getTime() / 1000) === Math.floor(date / 1000);
}

/** A 304 with the same headers when If-None-Match names the representation's entity tag, else the full response. */
export function orNotModified(c: Context, headers: Record<string, string> & { etag: string }, full: () => Response): Response {
  return noneMatch(c.req.header('if-none-match'), headers.etag) ? c.body(null, 304, headers) : full();
}
