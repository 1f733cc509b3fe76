/**
 * A YAML config file (circuit-tracer's transcoder configs) read with the `yaml` library, as a plain
 * mapping: a syntax error or a document that is not a mapping gets BAD_CONFIG naming the file (and
 * the line, where the parser gives one).
 */
import { parse, YAMLParseError } from 'yaml';
import { EngineError } from '../errors.js';

export type YamlValue = string | number | boolean | null | YamlValue[] | { [key: string]: YamlValue };

export function parseConfigYaml(text: string, label: string): Record<string, YamlValue> {
  let value: unknown;
  try {
    // YAML 1.2's core schema: no custom tags, no merge keys; unique keys are enforced by the parser.
    value = parse(text, { schema: 'core', merge: false, maxAliasCount: 0 });
  } catch (error) {
    const where = error instanceof YAMLParseError && error.linePos ? `, line ${error.linePos[0].line}` : '';
    const problem = error instanceof Error ? error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '') : String(error);
    throw new EngineError('BAD_CONFIG', `${label}${where}: ${problem}.`, 'circuit-tracer configs are a YAML mapping with a list of transcoders.');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new EngineError(
      'BAD_CONFIG',
      `${label}: the config is not a mapping of keys to values.`,
      'circuit-tracer configs are a YAML mapping with a list of transcoders.',
    );
  return value as Record<string, YamlValue>;
}
