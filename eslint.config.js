// ESLint (flat config): typescript-eslint's strict and stylistic type-checked rules on every
// TypeScript file. Types come from the project service: each file is checked with the tsconfig
// that owns it (tsconfig.json for src/test/bench/scripts, web/tsconfig.json for the page).
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    // wasm/ is AssemblyScript (i32, v128, load<T>): asc type-checks it against its own standard
    // library when it compiles it (npm run build:wasm, and test/data/resample-wasm.test.ts).
    ignores: ['dist/', 'node_modules/', 'web/dist/', 'native/build/', 'bench/results/', 'coverage/', 'wasm/'],
  },
  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  tseslint.configs.stylisticTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        // Config files no tsconfig includes get the default project.
        projectService: { allowDefaultProject: ['*.config.ts', '*.config.js', 'web/vite.config.ts'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // noUncheckedIndexedAccess is on: `a[i]!` is how the numeric code states an index it has
      // bounds-checked (about 1000 sites); banning `!` would mean casts or runtime checks in hot loops.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Numbers and booleans in messages are the point of most templates; objects and
      // undefined (`[object Object]`, `undefined`) stay errors.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // `_name` marks a parameter or destructured value kept for its position.
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          caughtErrors: 'none',
        },
      ],
      // `(x) => resolve(x)` and `.on('data', (d) => chunks.push(d))` read fine; void returned
      // from a statement position is still reported.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      // `a || b` on strings is deliberate: an empty flag or environment variable counts as unset.
      '@typescript-eslint/prefer-nullish-coalescing': ['error', { ignorePrimitives: { string: true } }],
      // `.catch(() => {})` says "ignore" deliberately (best-effort cleanup); empty methods stay errors.
      '@typescript-eslint/no-empty-function': ['error', { allow: ['arrowFunctions'] }],
      // Prettier wraps code at 120; strings and comments it cannot wrap are held to the same limit.
      'max-len': ['error', { code: 120, tabWidth: 2 }],
    },
  },
  {
    // Readers of files and public entry points check values that their declared types already
    // exclude: the types say what a valid file or a TypeScript caller gives, the checks guard
    // against hostile files and JavaScript callers (docs/bad-input.md). Keep those checks.
    files: ['src/weights/**', 'src/data/**', 'src/node/**', 'fuzz/**'],
    rules: {
      '@typescript-eslint/no-unnecessary-condition': 'off',
      '@typescript-eslint/no-unnecessary-type-conversion': 'off',
    },
  },
  {
    // The fuzzers build hostile structures by deleting keys, behind an async format interface.
    files: ['fuzz/**'],
    rules: { '@typescript-eslint/no-dynamic-delete': 'off', '@typescript-eslint/require-await': 'off' },
  },
  {
    // Tests assert on JSON that the CLI printed or a file holds, field by field, and delete
    // environment variables by name.
    files: ['test/**'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-dynamic-delete': 'off',
    },
  },
  {
    // Plain JavaScript (build scripts, this file): no type information.
    files: ['**/*.{js,mjs,cjs}'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
