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
  run(flags: CliFlags, io: CliIo): Promise<void>;
}

/** Parses `--name value` and `--flag` arguments into a map; positional arguments are rejected. */
export function parseFlags(args: readonly string[]): CliFlags {
  const flags: CliFlags = new Map();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
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
