/**
 * User text (prompt names and texts, model names, file paths) inside a vscode.MarkdownString.
 * Unescaped, a code fence ends the tooltip's code block, `[x](command:…)` or `[x](https://…)`
 * becomes a link, `<b>` markup and `&lt;` an entity, so a `.prompt` file could break or hijack the
 * tooltip (issue 15 B9). Every user-derived string goes through one of these two functions, and no
 * MarkdownString holding one is ever `isTrusted`. Pure: no vscode import.
 */

/** Plain text with every ASCII punctuation character backslash-escaped (CommonMark allows all of them), line breaks as spaces. */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/[!-/:-@[-`{-~]/g, (ch) => `\\${ch}`);
}

/** Text shown verbatim as a fenced code block: the fence is longer than any run of backticks in the text, so nothing inside can close it. */
export function markdownCodeBlock(text: string, language = 'text'): string {
  let longest = 0;
  let run = 0;
  for (const ch of text) {
    run = ch === '`' ? run + 1 : 0;
    longest = Math.max(longest, run);
  }
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return `${fence}${language}\n${text}\n${fence}`;
}
