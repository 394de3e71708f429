import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The fault tests run on their own (npm run test:faults, vitest.faults.config.ts).
    exclude: ["test/faults/**", "**/node_modules/**"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    globalSetup: ["test/support/logCapture.ts", "test/support/scaleOutSetup.ts"],
  },
});
