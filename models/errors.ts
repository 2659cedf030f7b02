/**
 * Errors every package throws for bad input. A `code` lets the edge map them to 4xx JSON and the
 * CLI to a one-line message without parsing messages.
 */
export class InvalidArgumentError extends Error {
  override readonly name = 'InvalidArgumentError';
  readonly code = 'invalid_argument';
  constructor(
    /** The name of the offending argument or config field, e.g. `steps` or `unet.channels`. */
    readonly argument: string,
    message: string,
  ) {
    super(`${argument}: ${message}`);
  }
}

export function requireInteger(argument: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new InvalidArgumentError(argument, `must be an integer ${range}, got ${String(value)}`);
  }
  return value;
}

export function requireInRange(argument: string, value: number, min: number, max: number): number {
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new InvalidArgumentError(argument, `must be a number in [${min}, ${max}], got ${String(value)}`);
  }
  return value;
}

export function requireOneOf<T extends string>(argument: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(argument, `must be one of ${allowed.join(', ')}, got '${value}'`);
  }
  return value as T;
}
