// Flat ESLint config: typescript-eslint's recommended rules plus the project's
// architecture rule (the engine and webviews never import `vscode`).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'out/**', 'node_modules/**', '.vscode-test/**', 'test-output/**', '.e2e-cache/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        console: 'readonly',
        process: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        URL: 'readonly',
        performance: 'readonly',
        globalThis: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        fetch: 'readonly',
        queueMicrotask: 'readonly',
        structuredClone: 'readonly',
        window: 'readonly',
        document: 'readonly',
        setImmediate: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Injected into CommonJS bundles, where require and __filename exist.
    files: ['scripts/import-meta-url.js'],
    languageOptions: { globals: { require: 'readonly', __filename: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['src/engine/**/*.ts', 'src/protocol/**/*.ts', 'src/webviews/**/*.{ts,tsx}'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'vscode', message: 'Only src/extension may import vscode.' }],
          patterns: [{ group: ['**/extension/**'], message: 'The engine, protocol and webviews never import the extension.' }],
        },
      ],
    },
  },
  {
    files: ['src/webviews/**/*.{ts,tsx}'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'vscode', message: 'Webviews talk to the host only through src/protocol.' }],
          patterns: [{ group: ['**/engine/**', '**/extension/**'], message: 'Webviews depend on src/protocol only.' }],
        },
      ],
    },
  },
);
