/**
 * onnxruntime-web in a Worker. Workers have neither a URL for the running script (`import.meta.url`,
 * which wrangler.toml's [define] sets to BUNDLE_URL) nor a `location`. ORT uses its bundled wasm loader
 * only when the script is "same origin" as `location.origin`; otherwise it falls back to a dynamic import
 * by URL, which a Worker cannot do. Must be imported before onnxruntime-web is evaluated.
 */
export const BUNDLE_URL = 'https://edge.invalid/index.js';
const g = globalThis as { location?: { origin: string; href: string } };
if (typeof g.location === 'undefined') g.location = { origin: new URL(BUNDLE_URL).origin, href: BUNDLE_URL };
