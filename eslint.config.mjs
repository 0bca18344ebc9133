import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

/**
 * Module boundaries (see docs/architecture.md):
 *   type:domain   pure logic: only domain libraries and generated protobuf; no Nest, storage, transport
 *   type:proto    generated code only
 *   type:infra    adapters (gRPC, storage, config, observability): domain, proto and other infra
 *   type:util     small general helpers (loopback HTTP client): only other utils
 *   type:testing  test helpers: anything but apps
 *   type:app      services and the CLI: any library, never another app
 */
const domainBans = ['@nestjs/*', '@grpc/*', 'mongodb', 'lmdb', 'prom-client', '@kubernetes/*', 'node:http', 'http', 'node:fs', 'fs'];

export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  { ignores: ['**/dist', '**/node_modules', 'libs/proto/src/gen/**', '**/*.mjs', 'vitest.config.mts'] },
  {
    files: ['**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            { sourceTag: 'type:proto', onlyDependOnLibsWithTags: [] },
            { sourceTag: 'type:util', onlyDependOnLibsWithTags: ['type:util'] },
            { sourceTag: 'type:domain', onlyDependOnLibsWithTags: ['type:domain', 'type:proto'], bannedExternalImports: domainBans },
            { sourceTag: 'type:infra', onlyDependOnLibsWithTags: ['type:infra', 'type:domain', 'type:proto', 'type:util'] },
            { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:testing', 'type:util', 'type:infra', 'type:domain', 'type:proto'] },
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:infra', 'type:domain', 'type:proto', 'type:util'] },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['**/*.spec.ts', '**/*.suite.ts'],
    rules: { '@nx/enforce-module-boundaries': 'off' },
  },
  { languageOptions: { parser: tseslint.parser } },
];
