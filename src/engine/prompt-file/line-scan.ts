/**
 * Hand-written scanning of one line of a `.prompt` file. The parser reads untrusted files of up to
 * a megabyte in the extension host, so it uses no regular expression that can backtrack over an
 * unbounded run (issue 15 B2: `/[ \t]+$/` and `^(\s*)@(\S*)(.*)$` were quadratic); every function
 * here is one pass over the line. Pure.
 */

/** Whether a UTF-16 code unit is whitespace as JavaScript's `\s` and `String.prototype.trim` define it. */
export function isWhitespace(code: number): boolean {
  return (
    code === 0x20 ||
    (code >= 0x09 && code <= 0x0d) ||
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

/** Index of the first non-whitespace code unit at or after `from` (the line's length if none). */
export function skipWhitespace(line: string, from: number): number {
  let i = from;
  while (i < line.length && isWhitespace(line.charCodeAt(i))) i++;
  return i;
}

/** Index of the first whitespace code unit at or after `from` (the line's length if none). */
export function skipNonWhitespace(line: string, from: number): number {
  let i = from;
  while (i < line.length && !isWhitespace(line.charCodeAt(i))) i++;
  return i;
}

/** Length of `text` without its trailing spaces and tabs. */
export function lengthWithoutTrailingBlanks(text: string): number {
  let end = text.length;
  while (end > 0) {
    const code = text.charCodeAt(end - 1);
    if (code !== 0x20 && code !== 0x09) break;
    end--;
  }
  return end;
}

/**
 * Index of the first U+2028 LINE SEPARATOR or U+2029 PARAGRAPH SEPARATOR in the line, or -1.
 * VS Code does not break lines there, but some editors and viewers do, and JavaScript's `.` stops
 * at them; on a header or directive line one hides what the line really says.
 */
export function lineSeparatorIndex(line: string): number {
  const ls = line.indexOf('\u2028');
  const ps = line.indexOf('\u2029');
  if (ls < 0) return ps;
  if (ps < 0) return ls;
  return Math.min(ls, ps);
}

/** Whether `text` consists of ASCII digits only (and at least one). */
export function isAsciiDigits(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x30 || code > 0x39) return false;
  }
  return true;
}
