/**
 * `npm run test:ops`: the tests in test/ops/, which need real outside servers from Debian's
 * packages (scripts/test-ops.sh installs them first). Same setup as jest.config.js otherwise.
 * @type {import('jest').Config}
 */
import base from "./jest.config.js";

export default {
  ...base,
  testPathIgnorePatterns: ["/node_modules/"],
  roots: ["<rootDir>/test/ops"],
  // each test starts the servers it needs (Debian's PostgreSQL 15, …): no embedded test cluster
  globalSetup: undefined,
  globalTeardown: undefined,
  // the servers these tests start are heavier than a test database: one file at a time
  maxWorkers: 1,
  testTimeout: 300_000,
};
