import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Run the project's wrangler with its output on this terminal; resolves when it exits with 0. Metrics and
 * `request.cf` fetching stay off (both call out to Cloudflare even when nothing is deployed).
 */
export function runWrangler(args: string[]): Promise<void> {
  const child = spawn(process.execPath, [join(ROOT, 'node_modules/wrangler/bin/wrangler.js'), ...args], {
    cwd: ROOT,
    stdio: 'inherit',
    env: { WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', ...process.env },
  });
  const stop = (sig: NodeJS.Signals) => child.kill(sig);
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return new Promise<void>((resolve, reject) =>
    child.on('exit', (code) => (code === 0 || code === null ? resolve() : reject(new Error(`wrangler ${args[0]} exited with ${code}`)))),
  );
}
