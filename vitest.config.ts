import { defineConfig } from 'vitest/config';

// Three tiers (STYLE.md habit 9): unit tests beside the code, safety
// properties in test/property, real servers in test/integration.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['domain/**/*.test.ts', 'events/**/*.test.ts', 'state-machines/**/*.test.ts', 'services/**/*.test.ts', 'bench/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: { name: 'property', include: ['test/property/**/*.test.ts'], testTimeout: 180_000, hookTimeout: 60_000 },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 120_000,
          // Integration files each start their own servers; two cores.
          fileParallelism: false,
        },
      },
    ],
  },
});
