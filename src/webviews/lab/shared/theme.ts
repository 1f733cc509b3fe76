/**
 * Reads the data palette from the VS Code theme's CSS variables and follows theme changes
 * (VS Code rewrites the variables on <html> and the theme class on <body>).
 */
import { FALLBACK_PALETTE, parseCssColour, type Palette, type Rgb } from './colour.js';

function colourVar(style: CSSStyleDeclaration, names: readonly string[], fallback: Rgb): Rgb {
  for (const name of names) {
    const parsed = parseCssColour(style.getPropertyValue(name));
    if (parsed) return parsed;
  }
  return fallback;
}

export function readPalette(element: Element = document.body): Palette {
  const style = getComputedStyle(element);
  const f = FALLBACK_PALETTE;
  const background = colourVar(style, ['--vscode-editor-background'], f.background);
  const foreground = colourVar(style, ['--vscode-editor-foreground', '--vscode-foreground'], f.foreground);
  return {
    background,
    foreground,
    positive: colourVar(style, ['--vscode-charts-blue'], f.positive),
    negative: colourVar(style, ['--vscode-charts-orange'], f.negative),
    neutral: colourVar(style, ['--vscode-descriptionForeground', '--vscode-charts-lines'], f.neutral),
    sequential: colourVar(style, ['--vscode-charts-purple'], f.sequential),
    accent: colourVar(style, ['--vscode-focusBorder'], f.accent),
    path: colourVar(style, ['--vscode-charts-foreground', '--vscode-editor-foreground'], f.path),
    grid: colourVar(style, ['--vscode-editorWidget-border', '--vscode-panel-border', '--vscode-charts-lines'], f.grid),
    fontFamily: style.getPropertyValue('--vscode-font-family').trim() || f.fontFamily,
    monoFontFamily: style.getPropertyValue('--vscode-editor-font-family').trim() || f.monoFontFamily,
  };
}

/** Calls `onChange` with a fresh palette whenever the theme changes; returns the unsubscribe. */
export function watchTheme(onChange: (palette: Palette) => void): () => void {
  const observer = new MutationObserver(() => onChange(readPalette()));
  observer.observe(document.body, { attributes: true, attributeFilter: ['class'] });
  observer.observe(document.documentElement, { attributes: true, attributeFilter: ['style', 'class'] });
  return () => observer.disconnect();
}
