// ESLint flat config: eslint's and typescript-eslint's recommended rules, on the TypeScript
// sources only (dist/ is compiled output). Type-aware rules are left out: `npm run typecheck`
// already runs the compiler, and the type-aware pass would double the lint time.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // test/fixtures/ holds AssemblyScript sources: .ts files that asc compiles, not TypeScript.
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'data/', 'test/fixtures/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      // `_name` marks a parameter a signature needs but the body does not use.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Walking a chain of layers starts from `this` (store/overlay.ts); that is not an alias.
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['layer'] }],
    },
  },
  {
    // The web console (web/): plain ES modules that run in the browser, no build step.
    files: ['web/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(
        ['window', 'document', 'location', 'history', 'navigator', 'sessionStorage', 'fetch', 'Node', 'Blob', 'URLSearchParams', 'AbortController',
          'TextDecoderStream', 'setTimeout', 'console'].map((name) => [name, 'readonly']),
      ),
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    ignores: ['web/**'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', Buffer: 'readonly', WebAssembly: 'readonly' } },
  },
);
