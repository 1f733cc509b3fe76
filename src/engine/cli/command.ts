/**
 * A CLI subcommand. Each subcommand lives in its own file and is registered in cli/main.ts.
 * `run` receives the parsed flags and writes to the given streams; it throws EngineError for bad
 * input (main turns it into a one-line message and a non-zero exit).
 */
import { EngineError } from '../errors.js';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export type CliFlags = Map<string, string | true>;

export interface CliCommand {
  name: string;
  /** One-line usage, shown by `circuit-trace help`. */
  usage: string;
  /** The flag that a first argument without `--` sets (`prompts FILE` sets --file); absent: flags only. */
  positional?: string;
  /** Resolves to the exit code; nothing means 0. */
  run(flags: CliFlags, io: CliIo): Promise<void | number>;
}

/** Parses `--name value` and `--flag` arguments into a map; other arguments are rejected, except a first one that sets `positional`. */
export function parseFlags(args: readonly string[], positional?: string): CliFlags {
  const flags: CliFlags = new Map();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (i === 0 && positional !== undefined && !arg.startsWith('--')) {
      flags.set(positional, arg);
      continue;
    }
    if (!arg.startsWith('--')) throw new EngineError('BAD_ARGUMENT', `Unexpected argument "${arg}"; flags look like --name value.`);
    const eq = arg.indexOf('=');
    if (eq > 0) {
      flags.set(arg.slice(2, eq), arg.slice(eq + 1));
      continue;
    }
    const next = args[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      flags.set(arg.slice(2), next);
      i++;
    } else {
      flags.set(arg.slice(2), true);
    }
  }
  return flags;
}
