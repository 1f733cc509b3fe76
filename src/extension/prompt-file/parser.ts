/**
 * The `.prompt` parser lives in the engine (src/engine/prompt-file/parser.ts), pure, so that the
 * CLI (`circuit-trace prompts`) reads files exactly as the editor does; the extension's modules
 * import it from here, beside the VS Code glue that uses it.
 */
export * from '../../engine/prompt-file/parser.js';
