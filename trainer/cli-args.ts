import { InvalidArgumentError } from '../models/errors.ts';

/** `--name value`, `--name=value` and bare `--flag` options; anything else is a usage error. */
export function parseOptions(argv: string[], flags: readonly string[], valued: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new InvalidArgumentError('arguments', `unexpected '${a}'`);
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (flags.includes(name)) {
      out.set(name, 'true');
      continue;
    }
    if (!valued.includes(name)) throw new InvalidArgumentError(name, `unknown option; options are ${[...valued, ...flags].map((o) => `--${o}`).join(', ')}`);
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined || value.startsWith('--')) throw new InvalidArgumentError(name, 'needs a value');
    out.set(name, value);
  }
  return out;
}

export function intOption(opts: Map<string, string>, name: string, fallback: number | undefined, min = 0): number | undefined {
  const v = opts.get(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(name, `must be an integer >= ${min}, got '${v}'`);
  return n;
}

/** Run a CLI main: errors become one line on stderr and a non-zero exit, never a stack trace. */
export function runCli(name: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    const e = err as Error & { code?: string; signal?: string };
    process.stderr.write(`\n${name}: ${e?.message ?? String(err)}\n`);
    if (process.env.DEBUG_STACK) process.stderr.write(`${e?.stack}\n`);
    process.exit(e?.name === 'TrainingInterruptedError' ? 130 : e?.name === 'InvalidArgumentError' ? 2 : 1);
  });
}
