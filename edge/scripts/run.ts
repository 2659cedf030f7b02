import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Run a Node program of the project with its output on this terminal; resolves when it exits with 0.
 * Wrangler's metrics and `request.cf` fetching stay off (both call out to Cloudflare even when nothing is
 * deployed).
 */
function runNode(args: string[], what: string): Promise<void> {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    stdio: 'inherit',
    env: { WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', ...process.env },
  });
  const stop = (sig: NodeJS.Signals) => child.kill(sig);
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return new Promise<void>((resolve, reject) =>
    child.on('exit', (code) => (code === 0 || code === null ? resolve() : reject(new Error(`${what} exited with ${code}`)))),
  );
}

export const runWrangler = (args: string[]) =>
  runNode([join(ROOT, 'node_modules/wrangler/bin/wrangler.js'), ...args], `wrangler ${args[0]}`);

/** The page into client/dist (the worker's static assets), by the client's own build script: the edge imports nothing of the client. */
export const buildClient = () => runNode(['--import', 'tsx', join(ROOT, 'client/build.ts')], 'client build');
