// Lint rules that keep the structure as it is (issue 16, point 9). Formatting is Prettier's job
// (`npm run format:check`), so no stylistic rules here.
import path from 'node:path';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { importX, createNodeResolver } from 'eslint-plugin-import-x';

const root = import.meta.dirname;
const at = (p) => path.join(root, p);

// Import boundaries, resolved to real files (a relative path's depth does not fool it).
const boundaries = {
  zones: [
    {
      target: at('apps/**'),
      from: at('libs/*/**'),
      except: [at('libs/*/index.ts')],
      message: 'apps reach a lib only through its index.ts (import "…/libs/<name>").',
    },
    { target: at('libs/**'), from: at('apps/**'), message: 'libs never import apps; move the shared part into a lib.' },
    { target: at('apps/vault/**'), from: [at('apps/worker/**'), at('apps/cli/**')], message: 'apps never import other apps.' },
    { target: at('apps/worker/**'), from: [at('apps/vault/**'), at('apps/cli/**')], message: 'apps never import other apps.' },
    { target: at('apps/cli/**'), from: [at('apps/vault/**'), at('apps/worker/**')], message: 'apps never import other apps.' },
  ],
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.data/**', 'coverage/**', 'sdks/**', '**/*.js', '**/*.mjs'] },
  // Comments that disable a rule which is off here (written for other setups) are not an error.
  { linterOptions: { reportUnusedDisableDirectives: 'off' } },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: root } },
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.json'] })] },
    rules: {
      'import-x/no-restricted-paths': ['error', boundaries],
      '@typescript-eslint/no-floating-promises': 'error',
      // A leading underscore or a rest sibling names a value left out on purpose (`{ a: _a, ...rest }`).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
      // Raw query rows are `any` until each table has one row type (issue 16, point 7); on here it floods.
      '@typescript-eslint/no-explicit-any': 'off',
      // Lazy require() keeps the Key Vault SDK off the local-key path; specs re-require after env changes.
      '@typescript-eslint/no-require-imports': 'off',
      // Nest's and class-validator's metadata APIs take a `Function`.
      '@typescript-eslint/no-unsafe-function-type': 'off',
      // Harmless escapes (`\/` in regexes); removing them is churn with no bug behind it.
      'no-useless-escape': 'off',
      // A patched stream.write needs both its own `this` (the stream) and the capturing object.
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['self'] }],
    },
  },
);
