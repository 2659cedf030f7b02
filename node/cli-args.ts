import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../models/errors.ts';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  description: string;
  /** The value's name in the help (`--steps N`). */
  value?: string;
  /** The default as the help shows it; the CLI applies it. */
  default?: string;
}

export interface CliSpec {
  /** The npm script (`generate`, `train`, …): the prefix of every error line. */
  name: string;
  summary: string;
  positionals?: { name: string; description: string }[];
  options: Record<string, OptionSpec>;
  examples?: string[];
}

export interface ParsedCli {
  positionals: string[];
  has(name: string): boolean;
  str(name: string): string | undefined;
  /** An integer option in [min, max], or the fallback when absent. */
  int<F extends number | undefined>(name: string, fallback: F, min?: number, max?: number): number | F;
  /** A finite number option in [min, max], or undefined when absent. */
  num(name: string, min?: number, max?: number): number | undefined;
}

/** The help text: usage, every option with its value and default, examples. */
export function helpText(spec: CliSpec): string {
  const pos = (spec.positionals ?? []).map((p) => ` <${p.name}>`).join('');
  const rows = Object.entries(spec.options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.value ? ` ${o.value}` : ''}`;
    return [flag, `${o.description}${o.default !== undefined ? ` (default: ${o.default})` : ''}`];
  });
  rows.push(['-h, --help', 'this help']);
  const width = Math.max(...rows.map(([f]) => f.length));
  const lines = [`usage: npm run ${spec.name} --${pos} [options]`, '', spec.summary, ''];
  for (const p of spec.positionals ?? []) lines.push(`  <${p.name}>  ${p.description}`);
  if (spec.positionals?.length) lines.push('');
  lines.push('options:', ...rows.map(([f, d]) => `  ${f.padEnd(width)}  ${d}`));
  if (spec.examples?.length) lines.push('', 'examples:', ...spec.examples.map((e) => `  ${e}`));
  return `${lines.join('\n')}\n`;
}

/**
 * Parse a CLI's arguments with Node's util.parseArgs. `-h`/`--help` prints the help and exits 0; anything
 * else wrong (an unknown option, a missing value, a bad number) is an InvalidArgumentError naming the flag.
 */
export function parseCli(spec: CliSpec, argv: string[]): ParsedCli {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(helpText(spec));
    process.exit(0);
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    const options = Object.fromEntries(
      Object.entries(spec.options).map(([k, o]) => [k, { type: o.type, ...(o.short ? { short: o.short } : {}) }]),
    );
    parsed = parseArgs({ args: argv, options, allowPositionals: (spec.positionals?.length ?? 0) > 0, strict: true });
  } catch (e) {
    const message = (e as Error).message;
    const flag = /'(-[^' ]+)/.exec(message)?.[1]?.replace(/^-+/, '');
    if ((e as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION')
      throw new InvalidArgumentError(flag ?? 'arguments', `unknown option; see npm run ${spec.name} -- --help`);
    if ((e as { code?: string }).code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE')
      throw new InvalidArgumentError(flag ?? 'arguments', 'needs a value');
    if ((e as { code?: string }).code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL')
      throw new InvalidArgumentError('arguments', `unexpected '${/'([^']*)'/.exec(message)?.[1]}'; see npm run ${spec.name} -- --help`);
    throw new InvalidArgumentError('arguments', message);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const number = (name: string, integer: boolean, min: number, max: number) => {
    const v = values[name] as string;
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) {
      throw new InvalidArgumentError(name, `must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got '${v}'`);
    }
    return n;
  };
  return {
    positionals: parsed.positionals,
    has: (name) => values[name] !== undefined && values[name] !== false,
    str: (name) => values[name] as string | undefined,
    int: (name, fallback, min = 0, max = Number.MAX_SAFE_INTEGER) => (values[name] === undefined ? fallback : number(name, true, min, max)),
    num: (name, min = -Infinity, max = Infinity) => (values[name] === undefined ? undefined : number(name, false, min, max)),
  };
}

/** Run a CLI main: errors become one line on stderr and a non-zero exit (2 for bad input), never a stack trace. */
export function runCli(name: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    const e = err as Error & { code?: string; signal?: string };
    // On a terminal a progress bar may own the current line; elsewhere the line is already clean.
    process.stderr.write(`${process.stderr.isTTY ? '\n' : ''}${name}: ${e?.message ?? String(err)}\n`);
    if (process.env.DEBUG_STACK) process.stderr.write(`${e?.stack}\n`);
    process.exit(e?.name === 'TrainingInterruptedError' ? 130 : e?.name === 'InvalidArgumentError' ? 2 : 1);
  });
}
