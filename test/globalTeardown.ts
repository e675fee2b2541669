/** Stops what test/globalSetup.ts started. */
export default async function globalTeardown(): Promise<void> {
  await globalThis.__MKING_TEST_TEARDOWN__?.();
}
