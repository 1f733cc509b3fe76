/**
 * Parser of `.prompt` files (format: docs/prompt-format.md). A file holds several named prompts:
 *
 *   // a comment
 *   ## IOI
 *   When Mary and John went to the store, John gave a drink to
 *   @target " Mary"
 *   @contrast " John"
 *   @corrupt "When Mary and John went to the store, Mary gave a drink to"
 *   @metric greater-than 32      (a named metric instead of the logit difference)
 *   @circuit L9H6 L9H9 ≥ 80%      (a circuit hypothesis, checked by edge-level patching; may repeat)
 *
 * Token values are JSON strings (or integer token ids), so a leading space is always visible.
 * The result keeps ranges (zero-based line/character, like vscode.Position) for every part, and a
 * per-code-unit source map of each text, so token offsets map back to editor positions.
 * Linear time on any input (lines are scanned by hand, see line-scan.ts), and nothing past
 * MAX_PROMPT_FILE_LENGTH is read. Pure: no vscode import; the extension and the CLI both use it.
 */
import { decodeJsonString, isJsonStringError } from './json-string.js';
import { isAsciiDigits, lengthWithoutTrailingBlanks, lineSeparatorIndex, skipNonWhitespace, skipWhitespace } from './line-scan.js';
import { METRIC_EXAMPLE, readMetricValue } from './metric-directive.js';
import { CIRCUIT_EXAMPLE, readCircuitValue, type CircuitNode } from './circuit-directive.js';
import type { MetricRequest } from '../../protocol/engine.js';

export interface SourcePosition {
  line: number;
  character: number;
}

export interface SourceRange {
  start: SourcePosition;
  end: SourcePosition;
}

export type ParseErrorCode =
  | 'malformed-directive'
  | 'unknown-directive'
  | 'duplicate-directive'
  | 'bad-json-string'
  | 'bad-token-value'
  | 'duplicate-name'
  | 'empty-name'
  | 'empty-prompt'
  | 'text-outside-prompt'
  | 'text-after-directives'
  | 'text-and-body'
  | 'line-separator'
  | 'file-too-large'
  | 'unknown-metric'
  | 'bad-metric-value'
  | 'bad-circuit-node'
  | 'bad-circuit-threshold'
  | 'circuit-needs-corrupt';

export interface ParseError {
  code: ParseErrorCode;
  message: string;
  range: SourceRange;
}

/** Something that works but probably not as meant; unlike an error it does not stop the prompt from running. */
export type ParseWarningCode = 'metric-ignores-contrast';

export interface ParseWarning {
  code: ParseWarningCode;
  message: string;
  range: SourceRange;
}

/** A `@metric` directive's metric, with the range of its value. */
export type PromptMetric = MetricRequest & { range: SourceRange };

/** A token given in a directive: as text (a JSON string) or as a token id. */
export type TokenValue = { kind: 'text'; text: string; range: SourceRange; map: SourcePosition[] } | { kind: 'id'; id: number; range: SourceRange };

/** A text given in a directive (a JSON string), with its source map. */
export interface TextValue {
  text: string;
  /** Range of the whole JSON string literal, quotes included. */
  range: SourceRange;
  /** For each UTF-16 code unit of `text` its source position, plus one for the end. */
  map: SourcePosition[];
}

/** A `@circuit` hypothesis: the named nodes' circuit carries at least `threshold` of the clean − corrupted metric. */
export interface CircuitHypothesis {
  nodes: Array<CircuitNode & { range: SourceRange }>;
  /** A fraction 0..1 (the directive writes it in percent). */
  threshold: number;
  /** The whole directive line, where its CodeLens sits. */
  range: SourceRange;
}

export const DIRECTIVES = ['text', 'target', 'contrast', 'corrupt', 'metric', 'circuit'] as const;
export type DirectiveName = (typeof DIRECTIVES)[number];

export interface PromptEntry {
  name: string;
  /** Index among the file's prompts, in order. */
  index: number;
  nameRange: SourceRange;
  /** The header line (`## name`). */
  headerRange: SourceRange;
  /** From the header to the prompt's last non-blank, non-comment line. */
  range: SourceRange;
  /** Last line that belongs to this prompt's block (the line before the next header, or the file's last line). */
  blockEndLine: number;
  /** The prompt text sent to the model. */
  text: string;
  /** For each UTF-16 code unit of `text` its source position, plus one for the end of the text. */
  textMap: SourcePosition[];
  /** Where the text is written (body lines or the @text string); null when the prompt has no text. */
  textRange: SourceRange | null;
  target: TokenValue | null;
  contrast: TokenValue | null;
  corrupt: TextValue | null;
  /** A named metric for analyses and patch sweeps (`@metric`); null: the default one. */
  metric: PromptMetric | null;
  /** The `@circuit` hypotheses, in file order (the directive may repeat). */
  circuits: CircuitHypothesis[];
  /** Range of each directive line present, by name (the first one for @circuit). */
  directiveRanges: Partial<Record<DirectiveName, SourceRange>>;
  /** Parse problems inside this prompt's block. A prompt with problems is not analysed. */
  errorCount: number;
}

export interface PromptFile {
  prompts: PromptEntry[];
  errors: ParseError[];
  warnings: ParseWarning[];
}

/**
 * The most UTF-16 code units of a file that are parsed (about 1 MB). A `.prompt` file holds a
 * handful of prompts of at most a few thousand tokens; past this, the file is reported as too
 * large and the rest is not read, so a huge file cannot stall the extension host.
 */
export const MAX_PROMPT_FILE_LENGTH = 1_000_000;

// Linear: one character class, no alternatives to backtrack into.
const DIRECTIVE_NAME_RE = /^[A-Za-z][A-Za-z0-9_-]*$/;

function pos(line: number, character: number): SourcePosition {
  return { line, character };
}

function range(line: number, start: number, end: number): SourceRange {
  return { start: pos(line, start), end: pos(line, end) };
}

interface BodyLine {
  line: number;
  text: string;
}

/** A prompt being read: its header, body lines and directives until the next header. */
interface OpenPrompt {
  name: string;
  headerLine: number;
  headerRange: SourceRange;
  nameRange: SourceRange;
  body: BodyLine[];
  lastContentLine: number;
  lastContentEnd: number;
  sawDirective: boolean;
  textDirective: TextValue | null;
  target: TokenValue | null;
  contrast: TokenValue | null;
  corrupt: TextValue | null;
  metric: PromptMetric | null;
  circuits: CircuitHypothesis[];
  directiveRanges: Partial<Record<DirectiveName, SourceRange>>;
  errorCount: number;
}

/** Splits on \n, \r\n or \r: the line terminators VS Code recognises. */
export function splitLines(source: string): string[] {
  return source.split(/\r\n|\r|\n/);
}

/** The lines within the size cap, and the number of the first line not read (-1: the whole file is read). */
function linesWithinCap(source: string): { lines: string[]; firstUnreadLine: number } {
  if (source.length <= MAX_PROMPT_FILE_LENGTH) return { lines: splitLines(source), firstUnreadLine: -1 };
  // Only whole lines are read: cut at the last line break that starts within the cap.
  const head = source.slice(0, MAX_PROMPT_FILE_LENGTH);
  const cut = Math.max(head.lastIndexOf('\n'), head.lastIndexOf('\r'));
  if (cut < 0) return { lines: [], firstUnreadLine: 0 };
  const end = head[cut] === '\n' && head[cut - 1] === '\r' ? cut - 1 : cut;
  const lines = splitLines(source.slice(0, end));
  return { lines, firstUnreadLine: lines.length };
}

/** The first line of a prompt: `## name`, after optional whitespace. */
function isHeaderLine(line: string, indent: number): boolean {
  return line.startsWith('##', indent);
}

export function parsePromptFile(source: string): PromptFile {
  const { lines, firstUnreadLine } = linesWithinCap(source);
  const prompts: PromptEntry[] = [];
  const errors: ParseError[] = [];
  const warnings: ParseWarning[] = [];
  const seenNames = new Set<string>();
  let open: OpenPrompt | null = null;

  const fail = (code: ParseErrorCode, message: string, where: SourceRange): void => {
    errors.push({ code, message, range: where });
    if (open) open.errorCount++;
  };

  const close = (blockEndLine: number): void => {
    if (!open) return;
    const entry = finishPrompt(open, blockEndLine, prompts.length, fail, (w) => warnings.push(w));
    if (seenNames.has(entry.name)) {
      fail('duplicate-name', `A prompt named "${entry.name}" already exists in this file; prompt names must be unique.`, entry.nameRange);
    } else if (entry.name !== '') {
      seenNames.add(entry.name);
      prompts.push(entry);
    }
    open = null;
  };

  const failOnLineSeparator = (lineNo: number, text: string, what: string): boolean => {
    const at = lineSeparatorIndex(text);
    if (at < 0) return false;
    const which = text.charCodeAt(at) === 0x2028 ? 'U+2028 LINE SEPARATOR' : 'U+2029 PARAGRAPH SEPARATOR';
    fail(
      'line-separator',
      `This ${what} line contains a ${which}, which some editors show as a line break although it is not one. Remove it, or write it as an escape inside a JSON string (e.g. "\\u${text.charCodeAt(at).toString(16)}").`,
      range(lineNo, at, at + 1),
    );
    return true;
  };

  for (let lineNo = 0; lineNo < lines.length; lineNo++) {
    const text = lines[lineNo] as string;
    const indent = skipWhitespace(text, 0);
    if (text.startsWith('//', indent)) continue;

    if (isHeaderLine(text, indent)) {
      close(lineNo - 1);
      const rawName = text.slice(indent + 2);
      const name = rawName.trim();
      const nameStart = indent + 2 + (rawName.length - rawName.trimStart().length);
      open = {
        name,
        headerLine: lineNo,
        headerRange: range(lineNo, 0, text.length),
        nameRange: range(lineNo, name === '' ? indent : nameStart, name === '' ? text.length : nameStart + name.length),
        body: [],
        lastContentLine: lineNo,
        lastContentEnd: text.length,
        sawDirective: false,
        textDirective: null,
        target: null,
        contrast: null,
        corrupt: null,
        metric: null,
        circuits: [],
        directiveRanges: {},
        errorCount: 0,
      };
      if (name === '') fail('empty-name', 'A prompt header needs a name after "##", e.g. "## IOI".', open.headerRange);
      failOnLineSeparator(lineNo, text, 'header');
      continue;
    }

    if (text[indent] === '@') {
      if (!open) {
        fail('text-outside-prompt', 'Directives belong to a prompt: start the prompt with a header line "## name" above them.', range(lineNo, 0, text.length));
        continue;
      }
      open.sawDirective = true;
      open.lastContentLine = lineNo;
      open.lastContentEnd = text.length;
      if (failOnLineSeparator(lineNo, text, 'directive')) continue;
      readDirective(open, lineNo, text, indent, text.slice(indent + 1, skipNonWhitespace(text, indent + 1)), fail);
      continue;
    }

    if (indent === text.length) {
      if (open && open.body.length > 0 && !open.sawDirective) open.body.push({ line: lineNo, text });
      continue;
    }

    if (!open) {
      fail('text-outside-prompt', 'Text outside a prompt: start each prompt with a header line "## name".', range(lineNo, 0, text.length));
      continue;
    }
    if (open.sawDirective) {
      fail(
        'text-after-directives',
        'Prompt text must come before the directives. Move this line up, or write the whole text with @text "...".',
        range(lineNo, 0, text.length),
      );
      continue;
    }
    open.body.push({ line: lineNo, text });
    open.lastContentLine = lineNo;
    open.lastContentEnd = text.length;
  }
  if (firstUnreadLine >= 0) {
    fail(
      'file-too-large',
      `This file is too large: a .prompt file is read up to ${MAX_PROMPT_FILE_LENGTH.toLocaleString('en-US')} characters, so nothing from line ${firstUnreadLine + 1} on is read. Split it into smaller files.`,
      range(firstUnreadLine, 0, 0),
    );
  }
  close(lines.length - 1);
  return { prompts, errors, warnings };
}

function readDirective(
  open: OpenPrompt,
  lineNo: number,
  line: string,
  indent: number,
  name: string,
  fail: (code: ParseErrorCode, message: string, where: SourceRange) => void,
): void {
  const nameEnd = indent + 1 + name.length;
  const whole = range(lineNo, indent, line.length);
  if (!DIRECTIVE_NAME_RE.test(name)) {
    fail('malformed-directive', `Malformed directive "@${name}": a directive is "@" followed by its name and a value, e.g. @target " Mary".`, whole);
    return;
  }
  if (!(DIRECTIVES as readonly string[]).includes(name)) {
    fail('unknown-directive', `Unknown directive @${name}. Known directives: ${DIRECTIVES.map((d) => '@' + d).join(', ')}.`, range(lineNo, indent, nameEnd));
    return;
  }
  const directiveName = name as DirectiveName;
  if (open.directiveRanges[directiveName] && directiveName !== 'circuit') {
    fail('duplicate-directive', `@${directiveName} is given twice for prompt "${open.name}"; keep one.`, whole);
    return;
  }
  const valueStart = skipWhitespace(line, nameEnd);
  if (valueStart === nameEnd && valueStart < line.length) {
    fail('malformed-directive', `Put a space between @${directiveName} and its value.`, whole);
    return;
  }
  if (valueStart >= line.length) {
    const example = directiveName === 'target' || directiveName === 'contrast' ? '" Mary"' : '"When Mary and John went to the store, Mary gave a drink to"';
    fail(
      'malformed-directive',
      directiveName === 'metric'
        ? `@metric needs a value, e.g. ${METRIC_EXAMPLE}.`
        : directiveName === 'circuit'
          ? `@circuit needs its nodes and threshold, e.g. ${CIRCUIT_EXAMPLE}.`
          : `@${directiveName} needs a value, e.g. @${directiveName} ${example}.`,
      whole,
    );
    return;
  }

  if (directiveName === 'metric') {
    const read = readMetricValue(line, valueStart);
    if (!read.ok) {
      fail(read.code, read.message, read.code === 'malformed-directive' && read.start === valueStart ? whole : range(lineNo, read.start, read.end));
      return;
    }
    open.directiveRanges.metric = whole;
    open.metric = { ...read.metric, range: range(lineNo, valueStart, read.end) };
    return;
  }

  if (directiveName === 'circuit') {
    const read = readCircuitValue(line, valueStart);
    if (!read.ok) {
      fail(read.code, read.message, read.code === 'malformed-directive' && read.start === valueStart ? whole : range(lineNo, read.start, read.end));
      return;
    }
    open.directiveRanges.circuit ??= whole;
    open.circuits.push({ nodes: read.nodes.map((n) => ({ ...n.node, range: range(lineNo, n.start, n.end) })), threshold: read.threshold, range: whole });
    return;
  }

  const isToken = directiveName === 'target' || directiveName === 'contrast';
  if (isToken && isAsciiDigits(line.slice(valueStart).trim())) {
    const raw = line.slice(valueStart).trim();
    const id = Number(raw);
    if (!Number.isSafeInteger(id)) {
      fail('bad-token-value', `Token id ${raw} is too large.`, range(lineNo, valueStart, valueStart + raw.length));
      return;
    }
    open.directiveRanges[directiveName] = whole;
    open[directiveName] = { kind: 'id', id, range: range(lineNo, valueStart, valueStart + raw.length) };
    return;
  }

  if (line[valueStart] !== '"') {
    const bare = line.slice(valueStart).trim();
    const hint = isToken
      ? `Write the token as a JSON string so its leading space is explicit, e.g. @${directiveName} ${JSON.stringify(' ' + bare)} (or a token id).`
      : `Write the text as a JSON string, e.g. @${directiveName} ${JSON.stringify(bare)}.`;
    fail('bad-json-string', `The value of @${directiveName} is not a JSON string. ${hint}`, range(lineNo, valueStart, line.length));
    return;
  }
  const decoded = decodeJsonString(line, valueStart);
  if (isJsonStringError(decoded)) {
    fail('bad-json-string', `Bad JSON string in @${directiveName}: ${decoded.message}`, range(lineNo, decoded.start, decoded.end));
    return;
  }
  const rest = line.slice(decoded.end);
  const afterValue = skipWhitespace(rest, 0);
  if (afterValue < rest.length && !rest.startsWith('//', afterValue)) {
    fail(
      'malformed-directive',
      `Unexpected text after the value of @${directiveName}; only a // comment may follow it.`,
      range(lineNo, decoded.end, line.length),
    );
    return;
  }
  const valueRange = range(lineNo, valueStart, decoded.end);
  const map = decoded.columns.map((c) => pos(lineNo, c));
  if (decoded.value === '') {
    fail('bad-token-value', `The value of @${directiveName} is empty.`, valueRange);
    return;
  }
  open.directiveRanges[directiveName] = whole;
  if (isToken) {
    open[directiveName] = { kind: 'text', text: decoded.value, range: valueRange, map };
  } else if (directiveName === 'corrupt') {
    open.corrupt = { text: decoded.value, range: valueRange, map };
  } else {
    open.textDirective = { text: decoded.value, range: valueRange, map };
  }
}

function finishPrompt(
  open: OpenPrompt,
  blockEndLine: number,
  index: number,
  fail: (code: ParseErrorCode, message: string, where: SourceRange) => void,
  warn: (warning: ParseWarning) => void,
): PromptEntry {
  // Trailing blank lines are not part of the text (they were only kept while more body could follow).
  const body = open.body.slice();
  while (body.length > 0 && (body[body.length - 1] as BodyLine).text.trim() === '') body.pop();

  let text = '';
  let textMap: SourcePosition[] = [];
  let textRange: SourceRange | null = null;
  if (open.textDirective && body.length > 0) {
    fail('text-and-body', `Prompt "${open.name}" has both body text and @text; keep one of them.`, open.textDirective.range);
  } else if (open.textDirective) {
    text = open.textDirective.text;
    textMap = open.textDirective.map;
    textRange = open.textDirective.range;
  } else if (body.length > 0) {
    body.forEach((b, i) => {
      for (let c = 0; c < b.text.length; c++) textMap.push(pos(b.line, c));
      text += b.text;
      if (i < body.length - 1) {
        textMap.push(pos(b.line, b.text.length));
        text += '\n';
      }
    });
    // Trailing spaces at the end of body text are nearly always accidental and change GPT-2's
    // tokenization; they are dropped (write @text "..." to keep them).
    const keep = lengthWithoutTrailingBlanks(text);
    textMap = textMap.slice(0, keep);
    text = text.slice(0, keep);
    const first = body[0] as BodyLine;
    const last = body[body.length - 1] as BodyLine;
    const endPos =
      textMap.length > 0
        ? pos((textMap[textMap.length - 1] as SourcePosition).line, (textMap[textMap.length - 1] as SourcePosition).character + 1)
        : pos(first.line, 0);
    textMap.push(endPos);
    textRange = { start: pos(first.line, 0), end: text.length > 0 ? endPos : pos(last.line, last.text.length) };
  }
  if (textMap.length === 0) textMap = [textRange ? textRange.end : open.headerRange.end];

  if (text.trim() === '' && open.name !== '' && !(open.textDirective && body.length > 0)) {
    fail('empty-prompt', `Prompt "${open.name}" has no text: write it on the lines below the header, or with @text "...".`, open.headerRange);
  }
  if (open.circuits.length > 0 && !open.corrupt) {
    // Faithfulness is measured against the corrupted run: without one the hypothesis cannot be checked.
    fail(
      'circuit-needs-corrupt',
      `@circuit needs a corrupted counterpart: add @corrupt "..." (same token length) to prompt "${open.name}", so the circuit's share of the clean − corrupted metric can be measured.`,
      open.circuits[0]!.range,
    );
  }
  if (open.metric?.kind === 'greater-than' && open.contrast) {
    // The engine measures the year probability difference then: the contrast changes no metric or sweep.
    warn({
      code: 'metric-ignores-contrast',
      message: `@metric greater-than ignores @contrast: the metric and patch sweeps measure p(year > ${String(open.metric.startYear).padStart(2, '0')}) − p(year ≤ ${String(open.metric.startYear).padStart(2, '0')}), not a logit difference. Remove @contrast (only the circuit trace would still use it).`,
      range: open.contrast.range,
    });
  }
  return {
    name: open.name,
    index,
    nameRange: open.nameRange,
    headerRange: open.headerRange,
    range: { start: pos(open.headerLine, 0), end: pos(open.lastContentLine, open.lastContentEnd) },
    blockEndLine: Math.max(open.headerLine, blockEndLine),
    text,
    textMap,
    textRange,
    target: open.target,
    contrast: open.contrast,
    corrupt: open.corrupt,
    metric: open.metric,
    circuits: open.circuits,
    directiveRanges: open.directiveRanges,
    errorCount: open.errorCount,
  };
}

/** The prompt whose block (header to the line before the next header) holds `line`, if any. */
export function promptAtLine(file: PromptFile, line: number): PromptEntry | undefined {
  return file.prompts.find((p) => p.headerRange.start.line <= line && line <= p.blockEndLine);
}

/** Compares two positions in document order. */
export function comparePositions(a: SourcePosition, b: SourcePosition): number {
  return a.line !== b.line ? a.line - b.line : a.character - b.character;
}
