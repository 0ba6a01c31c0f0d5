/** Two tiers: fast unit tests beside the code, integration tests on real Postgres under test/. */
const swc = ['@swc/jest', JSON.parse(require('fs').readFileSync(__dirname + '/.swcrc', 'utf8'))];
// jose 6 (under jwks-rsa 4) and NestJS 12 (@nestjs/*) ship ESM only. Node >= 20.19 require()s
// them natively (tsconfig `module: node20` says so to tsc), but jest's module runtime cannot, so
// jest compiles these packages to CommonJS.
const esmToCjs = ['@swc/jest', { jsc: { parser: { syntax: 'ecmascript' }, target: 'es2022' }, module: { type: 'commonjs' } }];
const base = {
  transform: { '^.+\\.ts$': swc, '/node_modules/(jose|@nestjs)/.+\\.js$': esmToCjs },
  transformIgnorePatterns: ['/node_modules/(?!(jose|@nestjs)/)'],
  testEnvironment: 'node',
  moduleFileExtensions: ['ts', 'js', 'json'],
};
module.exports = {
  testTimeout: 60000,
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/libs/**/*.spec.ts', '<rootDir>/apps/**/*.spec.ts'] },
    { ...base, displayName: 'integration', testMatch: ['<rootDir>/test/**/*.test.ts'], globalSetup: '<rootDir>/test/global-setup.ts', globalTeardown: '<rootDir>/test/global-teardown.ts' },
  ],
};
