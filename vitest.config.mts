import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

// Tests import workspace libraries from source through the `@winnow/source` export condition,
// so no build is needed first. SWC compiles them because NestJS needs decorator metadata,
// which esbuild drops (injection would silently yield undefined).
const conditions = ['@winnow/source', 'module', 'node', 'development|production'];

export default defineConfig({
  plugins: [
    swc.vite({
      jsc: {
        target: 'es2022',
        parser: { syntax: 'typescript', decorators: true },
        transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
      },
    }),
  ],
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: conditions } },
  test: {
    include: ['apps/*/src/**/*.spec.ts', 'libs/*/src/**/*.spec.ts', 'test/**/*.spec.ts'],
    reporters: ['default', './tools/summary-line-reporter.mjs'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
