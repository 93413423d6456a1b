import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    reporters: ['default', './test/summary-reporter.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // two cores: more forks than that only thrash; heavy files also use worker threads
    pool: 'forks',
    maxWorkers: 2,
  },
});
