/** Two tiers: fast unit tests beside the code, integration tests on real Postgres under test/. */
const swc = ['@swc/jest', JSON.parse(require('fs').readFileSync(__dirname + '/.swcrc', 'utf8'))];
// ES-module-only dependencies: openid-client (and its oauth4webapi, jose; jose also under jwks-rsa 4)
// and NestJS 12 (@nestjs/*). Node >= 20.19 require()s them natively (tsconfig `module: node20` says
// so to tsc), but Jest's CommonJS runtime cannot: it gets them compiled by SWC.
const esm = ['@swc/jest', { ...swc[1], jsc: { ...swc[1].jsc, parser: { syntax: 'ecmascript' } } }];
const ESM_ONLY = '(openid-client|oauth4webapi|jose|@nestjs)';
const base = {
  transform: { '^.+\\.ts$': swc, [`/node_modules/${ESM_ONLY}/.+\\.js$`]: esm },
  transformIgnorePatterns: [`/node_modules/(?!${ESM_ONLY}/)`],
  testEnvironment: 'node',
  moduleFileExtensions: ['ts', 'js', 'json'],
};
module.exports = {
  testTimeout: 60000,
  // On two cores Jest runs every file in one process (in band): one handle a failed test left open
  // (a close that hung past its hook's timeout) would keep that process, and CI, waiting until CI's own
  // timeout. The failure is reported either way; exiting after the run keeps it a failure, not a hang.
  // Shutdown itself is tested (test/ops/shutdown, test/revocation/shutdown).
  forceExit: true,
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/libs/**/*.spec.ts', '<rootDir>/apps/**/*.spec.ts'] },
    {
      ...base,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      globalSetup: '<rootDir>/test/global-setup.ts',
      globalTeardown: '<rootDir>/test/global-teardown.ts',
    },
  ],
};
