// Tests run on the compiled output in dist/ (see scripts/test.sh), so Jest needs no transform.
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/dist/test'],
  testMatch: ['**/*.test.js'],
  transform: {},
  globalSetup: '<rootDir>/dist/test/support/global-setup.js',
  globalTeardown: '<rootDir>/dist/test/support/global-teardown.js',
  // Integration tests share one Temporal dev server and one MinIO and each starts MariaDB
  // sandboxes; two workers keep a 2-core machine busy without starving the servers.
  maxWorkers: 2,
  testTimeout: 300_000,
  // Jest 30's default 'soft' clean-up of test globals recurses forever on some writes (jestjs/jest#16044).
  testEnvironmentOptions: { globalsCleanup: 'off' },
  reporters: ['default', '<rootDir>/test/support/summary-reporter.cjs'],
};
