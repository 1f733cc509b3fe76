/**
 * Decodes a JSON string literal found inside a line of a `.prompt` file, keeping for every decoded
 * UTF-16 code unit the column it came from, so that token offsets inside the decoded text can be
 * mapped back to editor positions (hover, diagnostics). Pure: no vscode.
 */

export interface DecodedJsonString {
  value: string;
  /** For each code unit of `value`, the column in the line where its source starts; plus one trailing entry: the column of the closing quote. */
  columns: number[];
  /** Column just after the closing quote. */
  end: number;
}

export interface JsonStringError {
  message: string;
  /** Columns [start, end) of the offending part of the line. */
  start: number;
  end: number;
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

/**
 * Reads the JSON string literal that starts at `line[start]` (which must be `"`).
 * Follows RFC 8259: no raw control characters, only the standard escapes, `\uXXXX` with four hex digits.
 */
export function decodeJsonString(line: string, start: number): DecodedJsonString | JsonStringError {
  if (line[start] !== '"') {
    return { message: 'Expected a JSON string in double quotes, e.g. " Mary".', start, end: line.length };
  }
  let value = '';
  const columns: number[] = [];
  let i = start + 1;
  while (i < line.length) {
    const ch = line[i] as string;
    if (ch === '"') {
      columns.push(i);
      return { value, columns, end: i + 1 };
    }
    if (ch.charCodeAt(0) < 0x20) {
      return { message: 'Control characters must be escaped inside a JSON string (use \\t, \\n, ...).', start: i, end: i + 1 };
    }
    if (ch !== '\\') {
      value += ch;
      columns.push(i);
      i++;
      continue;
    }
    const esc = line[i + 1];
    if (esc === undefined) break;
    const simple = SIMPLE_ESCAPES[esc];
    if (simple !== undefined) {
      value += simple;
      columns.push(i);
      i += 2;
      continue;
    }
    if (esc === 'u') {
      const hex = line.slice(i + 2, i + 6);
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
        return { message: 'A \\u escape needs exactly four hexadecimal digits, e.g. \\u00e9.', start: i, end: Math.min(line.length, i + 6) };
      }
      value += String.fromCharCode(parseInt(hex, 16));
      columns.push(i);
      i += 6;
      continue;
    }
    return { message: `Unknown escape \\${esc} in JSON string; valid escapes are \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX.`, start: i, end: i + 2 };
  }
  return { message: 'Unterminated JSON string: add the closing double quote.', start, end: line.length };
}

export function isJsonStringError(value: DecodedJsonString | JsonStringError): value is JsonStringError {
  return 'message' in value;
}
