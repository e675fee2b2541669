/**
 * The sign-in rate limit holds when the attempts arrive all at once: however many wrong
 * passwords are sent in parallel, at most LOGIN_MAX_FAILURES (per e-mail) or
 * LOGIN_MAX_FAILURES_PER_CLIENT (per client address) of them are checked in a window; the rest
 * are told RATE_LIMITED. Counted from the answers and from the audit log (one `login_failure`
 * row per password checked).
 */
import { codeOf, registerAccount, type TestAccount } from "../helpers/accounts.ts";
import { startApi, type Api } from "../helpers/api.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const LOGIN = /* GraphQL */ `
  mutation ($email: String!, $password: String!) {
    login(input: { email: $email, password: $password }) {
      accessToken
    }
  }
`;
const PARALLEL = 30;
const PER_EMAIL = 10;
const PER_CLIENT = 7;

let api: Api;
/** A second server on the same database with a small per-client limit. */
let strictClient: TestServer;
beforeAll(async () => {
  // every test request comes from 127.0.0.1: a high per-client limit isolates the per-e-mail one
  api = await startApi({
    LOGIN_MAX_FAILURES: String(PER_EMAIL),
    LOGIN_MAX_FAILURES_PER_CLIENT: "100000",
  });
  strictClient = await startTestServer(api.db, {
    LOGIN_MAX_FAILURES: "1000",
    LOGIN_MAX_FAILURES_PER_CLIENT: String(PER_CLIENT),
  });
});
afterAll(async () => {
  await strictClient.close();
  await api.close();
});
beforeEach(() => api.sql(`delete from app_private.login_attempts`));

/** Sends every attempt at once and tallies the answers' codes. */
async function burst(
  server: TestServer,
  attempts: { email: string; password: string }[],
): Promise<Record<string, number>> {
  const bodies = await Promise.all(
    attempts.map(async (variables) => (await server.graphql(LOGIN, variables)).body),
  );
  const tally: Record<string, number> = {};
  for (const body of bodies) {
    const code = String(codeOf(body) ?? "OK");
    tally[code] = (tally[code] ?? 0) + 1;
  }
  return tally;
}

const auditCount = async (action: string, emails: string[]): Promise<number> =>
  Number(
    (
      await api.sql<{ n: string }>(
        `select count(*) as n from app_private.audit_log where action = $1 and details->>'email' = any ($2)`,
        [action, emails],
      )
    )[0]!.n,
  );

describe("wrong passwords sent all at once", () => {
  it.each([1, 2, 3, 4])(
    "check at most LOGIN_MAX_FAILURES passwords of one e-mail (round %i)",
    async () => {
      const ana: TestAccount = await registerAccount(api.server);
      const tally = await burst(
        api.server,
        Array.from({ length: PARALLEL }, (_, i) => ({ email: ana.email, password: `wrong ${i}` })),
      );
      expect(tally).toEqual({ UNAUTHENTICATED: PER_EMAIL, RATE_LIMITED: PARALLEL - PER_EMAIL });
      expect(await auditCount("login_failure", [ana.email])).toBe(PER_EMAIL);
      expect(await auditCount("login_rate_limited", [ana.email])).toBe(PARALLEL - PER_EMAIL);
      // and the right password is refused too, until the window passes
      expect(await burst(api.server, [{ email: ana.email, password: ana.password }])).toEqual({
        RATE_LIMITED: 1,
      });
    },
  );

  it("counts an unknown e-mail the same way", async () => {
    const email = `nobody_${Date.now()}@example.com`;
    const tally = await burst(
      api.server,
      Array.from({ length: PARALLEL }, () => ({ email, password: "wrong password" })),
    );
    expect(tally).toEqual({ UNAUTHENTICATED: PER_EMAIL, RATE_LIMITED: PARALLEL - PER_EMAIL });
    expect(await auditCount("login_failure", [email])).toBe(PER_EMAIL);
  });

  it.each([1, 2])(
    "check at most LOGIN_MAX_FAILURES_PER_CLIENT passwords from one address, across e-mails (round %i)",
    async (round) => {
      const emails = Array.from(
        { length: PARALLEL },
        (_, i) => `spray_${round}_${i}_${Date.now()}@example.com`,
      );
      const tally = await burst(
        strictClient,
        emails.map((email) => ({ email, password: "wrong password" })),
      );
      expect(tally).toEqual({ UNAUTHENTICATED: PER_CLIENT, RATE_LIMITED: PARALLEL - PER_CLIENT });
      expect(await auditCount("login_failure", emails)).toBe(PER_CLIENT);
    },
  );
});
