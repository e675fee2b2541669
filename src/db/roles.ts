/**
 * The database roles, created idempotently before migrations run:
 *
 * - the owner (the user of DATABASE_URL) owns every object and runs migrations and the worker;
 * - the authenticator (LOGIN NOINHERIT) is what PostGraphile connects as; by itself it can do
 *   nothing, and per request it switches to one of:
 * - `anonymous` (no JWT) or `authenticated` (a valid JWT), the roles policies are written for;
 * - `mking_analyst`, the reporting role: it may read the pseudonymous views of the `analytics`
 *   schema and nothing else (policies/analytics.sql). It is created NOLOGIN and granted to nobody:
 *   an administrator gives it a password (`alter role mking_analyst login password …`) or, better,
 *   grants it to a named login role (`grant mking_analyst to alice`). Its attributes are never
 *   changed again here, so that choice survives every migrate (docs/SECURITY.md).
 *
 * The three have fixed names because `policies/*.sql` name them.
 */
import pg from "pg";

export const ANONYMOUS_ROLE = "anonymous";
export const AUTHENTICATED_ROLE = "authenticated";
export const ANALYST_ROLE = "mking_analyst";

export interface AuthenticatorRole {
  name: string;
  password: string;
}

/** SQL that creates the roles if missing and (re)states their attributes and memberships. */
export function rolesSql(authenticator: AuthenticatorRole): string {
  const auth = pg.escapeIdentifier(authenticator.name);
  const password = pg.escapeLiteral(authenticator.password);
  // Each create sits in its own block: a concurrent process may create the same role between
  // our check and our create (duplicate_object), which leaves exactly what we wanted.
  const createRole = (name: string, attributes: string): string => `
  if not exists (select 1 from pg_catalog.pg_roles where rolname = ${pg.escapeLiteral(name)}) then
    begin
      create role ${pg.escapeIdentifier(name)} ${attributes};
    exception when duplicate_object then
      null;
    end;
  end if;`;
  return `
do $roles$
begin
  ${createRole(ANONYMOUS_ROLE, "nologin")}
  ${createRole(AUTHENTICATED_ROLE, "nologin")}
  ${createRole(ANALYST_ROLE, "nologin")}
  ${createRole(authenticator.name, `login noinherit password ${password}`)}
  begin
    alter role ${auth} login noinherit password ${password};
  exception when insufficient_privilege then
    raise notice 'not allowed to alter role %; leaving its attributes and password as they are', ${pg.escapeLiteral(authenticator.name)};
  end;
end
$roles$;
grant ${ANONYMOUS_ROLE} to ${auth};
grant ${AUTHENTICATED_ROLE} to ${auth};
do $connect$
begin
  execute format('grant connect on database %I to %I', current_database(), ${pg.escapeLiteral(authenticator.name)});
end
$connect$;
`;
}

/** Creates or updates the roles; `client` must be connected as the owner (CREATEROLE) or a superuser. */
export async function ensureRoles(
  client: pg.ClientBase,
  authenticator: AuthenticatorRole,
): Promise<void> {
  try {
    await client.query(rolesSql(authenticator));
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "42501") {
      throw new Error(
        `the database owner may not create roles: grant it CREATEROLE, or create the roles ` +
          `${ANONYMOUS_ROLE}, ${AUTHENTICATED_ROLE}, ${ANALYST_ROLE} (NOLOGIN) and ${authenticator.name} (LOGIN NOINHERIT, member of the first two) yourself`,
        { cause: error },
      );
    }
    throw error;
  }
}
