/**
 * `circuit-trace`: the engine from the command line, for scripts and notebooks.
 * Bad input ends with a one-line error and exit code 2; internal failures with exit code 1.
 */
import { isEngineError } from '../errors.js';
import { analyzeCommand } from './analyze-command.js';
import { attributeCommand } from './attribute-command.js';
import { circuitCommand } from './circuit-command.js';
import { featuresCommand } from './features-command.js';
import { graphCommand } from './graph-command.js';
import { interveneCommand } from './intervene-command.js';
import { parseFlags, type CliCommand, type CliIo } from './command.js';
import { organismCommand, randomModelCommand } from './model-commands.js';
import { patchCommand } from './patch-command.js';
import { promptsCommand } from './prompts-command.js';
import { randomDictionaryCommand } from './random-dictionary-command.js';
import { runCommand } from './run-command.js';

const COMMANDS: readonly CliCommand[] = [
  runCommand,
  analyzeCommand,
  patchCommand,
  attributeCommand,
  circuitCommand,
  featuresCommand,
  graphCommand,
  interveneCommand,
  promptsCommand,
  organismCommand,
  randomModelCommand,
  randomDictionaryCommand,
];

function help(io: CliIo): void {
  io.stdout('Usage: circuit-trace <command> [flags]\n\nCommands:\n');
  for (const c of COMMANDS) io.stdout(`  ${c.usage}\n`);
}

export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    help(io);
    return name ? 0 : 2;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.stderr(`circuit-trace: unknown command "${name}" (commands: ${COMMANDS.map((c) => c.name).join(', ')})\n`);
    return 2;
  }
  try {
    const code = await command.run(parseFlags(rest, command.positional), io);
    return typeof code === 'number' ? code : 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    io.stderr(`circuit-trace ${name}: ${isEngineError(error) ? `${error.code}: ` : ''}${message.split('\n')[0]}\n`);
    return isEngineError(error) && error.code !== 'INTERNAL' ? 2 : 1;
  }
}

// Run when executed (bundled as dist/cli.js, or via tsx), not when imported by tests.
if (require.main === module) {
  void main(process.argv.slice(2), { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) }).then((code) => {
    process.exitCode = code;
  });
}
