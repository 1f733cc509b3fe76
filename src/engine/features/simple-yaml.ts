/**
 * The YAML subset circuit-tracer's transcoder configs are written in: a mapping of scalars, block
 * lists (`- item`) of scalars or of small mappings, flow lists (`[a, b]`), comments, quoted and
 * plain scalars. Anything else (anchors, multi-line strings, nested mappings beyond a list item)
 * gets BAD_CONFIG naming the line, rather than a guess: no YAML dependency for a few config keys.
 */
import { EngineError } from '../errors.js';

export type YamlValue = string | number | boolean | null | YamlValue[] | { [key: string]: YamlValue };

interface Line {
  indent: number;
  text: string;
  number: number;
}

function bad(label: string, line: number, problem: string): EngineError {
  return new EngineError('BAD_CONFIG', `${label}, line ${line}: ${problem}.`, 'circuit-tracer configs are a mapping of scalars with a list of transcoders.');
}

/** Drops a comment that starts with ` #` outside quotes. */
function stripComment(text: string): string {
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) {
      return text.slice(0, i);
    }
  }
  return text;
}

function scalar(raw: string, label: string, line: number): YamlValue {
  const text = raw.trim();
  if (text.startsWith('"')) {
    if (!text.endsWith('"') || text.length < 2) throw bad(label, line, `unterminated string ${text}`);
    try {
      return JSON.parse(text) as string;
    } catch {
      throw bad(label, line, `malformed string ${text}`);
    }
  }
  if (text.startsWith("'")) {
    if (!text.endsWith("'") || text.length < 2) throw bad(label, line, `unterminated string ${text}`);
    return text.slice(1, -1).replace(/''/g, "'");
  }
  if (text.startsWith('[')) {
    if (!text.endsWith(']')) throw bad(label, line, `unterminated list ${text}`);
    const inner = text.slice(1, -1).trim();
    return inner === '' ? [] : inner.split(',').map((item) => scalar(item, label, line));
  }
  if (/^[&*!|>{]/.test(text)) throw bad(label, line, `"${text}" uses YAML beyond the supported subset`);
  if (text === '' || text === '~' || text === 'null') return null;
  if (text === 'true' || text === 'True') return true;
  if (text === 'false' || text === 'False') return false;
  if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return Number(text);
  return text;
}

/** Splits `key: value` (the key plain or quoted); null when the line is not a mapping entry. */
function keyValue(text: string): [string, string] | null {
  const m = /^("[^"]*"|'[^']*'|[^'"\s:][^:]*?)\s*:(\s+(.*))?$/.exec(text);
  if (!m) return null;
  const key = m[1]!.replace(/^["']|["']$/g, '');
  return [key, m[3] ?? ''];
}

/** Parses `text` (the YAML subset above) into a mapping. */
export function parseSimpleYaml(text: string, label: string): Record<string, YamlValue> {
  const lines: Line[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    if (raw.includes('\t')) throw bad(label, i + 1, 'tabs are not allowed for indentation');
    const stripped = stripComment(raw).replace(/\s+$/, '');
    if (stripped.trim() === '' || stripped.trim() === '---') return;
    lines.push({ indent: stripped.length - stripped.trimStart().length, text: stripped.trim(), number: i + 1 });
  });
  const root: Record<string, YamlValue> = {};
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.indent !== 0) throw bad(label, line.number, 'unexpected indentation');
    const kv = keyValue(line.text);
    if (!kv) throw bad(label, line.number, `"${line.text}" is not a "key: value" entry`);
    const [key, value] = kv;
    i++;
    if (value.trim() !== '') {
      root[key] = scalar(value, label, line.number);
      continue;
    }
    // A block list (or nothing: null) under the key.
    const items: YamlValue[] = [];
    while (i < lines.length && lines[i]!.text.startsWith('-') && (lines[i]!.indent > 0 || lines[i]!.text.startsWith('- ') || lines[i]!.text === '-')) {
      const item = lines[i]!;
      const body = item.text.slice(1).trim();
      const itemIndent = item.indent + (item.text.length - item.text.slice(1).trimStart().length);
      i++;
      const firstKv = body === '' ? null : keyValue(body);
      if (!firstKv) {
        items.push(scalar(body, label, item.number));
        continue;
      }
      const entry: Record<string, YamlValue> = { [firstKv[0]]: scalar(firstKv[1], label, item.number) };
      while (i < lines.length && lines[i]!.indent === itemIndent && !lines[i]!.text.startsWith('- ')) {
        const more = keyValue(lines[i]!.text);
        if (!more) throw bad(label, lines[i]!.number, `"${lines[i]!.text}" is not a "key: value" entry`);
        entry[more[0]] = scalar(more[1], label, lines[i]!.number);
        i++;
      }
      if (i < lines.length && lines[i]!.indent > itemIndent) throw bad(label, lines[i]!.number, 'nested structures inside a list item are not supported');
      items.push(entry);
    }
    if (i < lines.length && lines[i]!.indent > 0) throw bad(label, lines[i]!.number, 'nested mappings are not supported');
    root[key] = items.length > 0 ? items : null;
  }
  return root;
}
