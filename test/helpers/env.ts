/**
 * What test/globalSetup.ts hands to every test file, through environment variables (jest
 * workers inherit the parent's environment).
 */
export interface TestCluster {
  /** Superuser URL to the `postgres` database of the test server. */
  superuserUrl: string;
  /** The migrated database every test database is copied from. */
  templateDatabase: string;
  owner: { role: string; password: string };
  authenticator: { name: string; password: string };
}

const KEY = "MKING_TEST_CLUSTER";

export function publishTestCluster(cluster: TestCluster): void {
  process.env[KEY] = JSON.stringify(cluster);
}

export function testCluster(): TestCluster {
  const raw = process.env[KEY];
  if (!raw) throw new Error(`${KEY} is not set: run the tests through jest (test/globalSetup.ts)`);
  return JSON.parse(raw) as TestCluster;
}
