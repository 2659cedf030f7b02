import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import type { AddressInfo } from 'node:net';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.mjs': 'text/javascript',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.json': 'application/json',
};

export interface StaticServer {
  url: string;
  close(): Promise<void>;
}

/**
 * A loopback HTTP server for browser tests: fixed in-memory routes plus folders mounted at prefixes.
 * Paths are normalised and must stay inside their folder.
 */
export async function startStaticServer(
  routes: Record<string, Uint8Array | string>,
  mounts: Record<string, string> = {},
): Promise<StaticServer> {
  const server: Server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const send = (status: number, body: Uint8Array | string, type: string) => {
      res.writeHead(status, {
        'content-type': type,
        'content-length': Buffer.byteLength(body),
        'cross-origin-opener-policy': 'same-origin',
        'cross-origin-embedder-policy': 'require-corp',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (path in routes) return send(200, routes[path], TYPES[extname(path)] ?? TYPES['.html']);
    for (const [prefix, dir] of Object.entries(mounts)) {
      if (!path.startsWith(prefix)) continue;
      const rel = normalize(decodeURIComponent(path.slice(prefix.length)));
      if (rel.startsWith('..')) return send(400, 'bad path', 'text/plain');
      try {
        return send(200, await readFile(join(dir, rel)), TYPES[extname(rel)] ?? 'application/octet-stream');
      } catch {
        return send(404, 'not found', 'text/plain');
      }
    }
    send(404, 'not found', 'text/plain');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
