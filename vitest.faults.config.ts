import { defineConfig } from "vitest/config";

// The fault tests (test/faults/): real `serve` and `worker` processes over a real PostgreSQL and Redis, faults
// injected one at a time. One file at a time: each starts a whole deployment on this small machine.
export default defineConfig({
  test: {
    include: ["test/faults/**/*.test.ts"],
    testTimeout: 600_000,
    hookTimeout: 180_000,
    pool: "forks",
    fileParallelism: false,
  },
});
