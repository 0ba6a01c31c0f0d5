/**
 * `node -r ./test/support/register-ts.js file.ts` runs the TypeScript sources directly, compiled
 * per file by SWC with the same settings as Jest (.swcrc). Tests spawn the real worker process
 * this way (SIGKILL tests) and `npm run bench:keys` runs with it: no build step, nothing cached.
 */
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const { transformSync } = require('@swc/core');

const { $schema, ...swcrc } = JSON.parse(readFileSync(join(__dirname, '..', '..', '.swcrc'), 'utf8'));

require.extensions['.ts'] = function compileTypeScript(module, filename) {
  const { code } = transformSync(readFileSync(filename, 'utf8'), {
    ...swcrc,
    filename,
    swcrc: false,
    configFile: false,
    sourceMaps: 'inline',
  });
  module._compile(code, filename);
};
