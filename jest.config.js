/**
 * Jest runs the TypeScript sources as ES modules (swc strips the types, as Node does at run
 * time) against a real PostgreSQL: test/globalSetup.ts boots one for the whole run.
 * @type {import('jest').Config}
 */
export default {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  // test/ops/ needs outside servers from Debian's packages: `npm run test:ops` runs it
  testPathIgnorePatterns: ["/node_modules/", "<rootDir>/test/ops/"],
  extensionsToTreatAsEsm: [".ts"],
  transform: {
    "^.+\\.ts$": [
      "@swc/jest",
      {
        jsc: { parser: { syntax: "typescript" }, target: "es2024" },
        module: { type: "es6" },
      },
    ],
  },
  globalSetup: "<rootDir>/test/globalSetup.ts",
  globalTeardown: "<rootDir>/test/globalTeardown.ts",
  testTimeout: 60_000,
  reporters: ["default", "<rootDir>/test/reporters/summary.js"],
  // Two cores on CI: one worker per core; each test file gets its own database.
  maxWorkers: 2,
};
