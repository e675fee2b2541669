/**
 * What a standby of the embedded server needs from its primary: a role that may stream WAL
 * (`mking_replicator`, REPLICATION LOGIN, not a superuser) and a pg_hba.conf rule that lets it
 * connect for replication from 127.0.0.1. initdb's pg_hba.conf already has
 * `host replication all 127.0.0.1/32 scram-sha-256`; when no rule admits the role (an edited
 * file), one is appended and the configuration reloaded. Idempotent.
 */
import { appendFile } from "node:fs/promises";

import pg from "pg";

export const REPLICATION_ROLE = "mking_replicator";

export interface ReplicationAccess {
  role: string;
  password: string;
  /** True when a pg_hba.conf line was added (and the configuration reloaded). */
  hbaLineAdded: boolean;
}

/** Whether a pg_hba.conf rule lets `role` connect for replication over TCP from 127.0.0.1. */
async function hbaAdmits(client: pg.ClientBase, role: string): Promise<boolean> {
  // the first matching rule decides: look at the first rule for a replication connection of
  // this role from 127.0.0.1
  const { rows } = await client.query<{ auth_method: string }>(
    `select auth_method from pg_catalog.pg_hba_file_rules
      where error is null
        and type in ('host', 'hostnossl')
        -- "all" does not cover replication connections: only "replication" does
        and 'replication' = any(database)
        and ('all' = any(user_name) or $1 = any(user_name))
        and (address in ('all', 'samehost')
             or (address ~ '^[0-9.]+$' and netmask ~ '^[0-9.]+$'
                 and (address::inet & netmask::inet) = ('127.0.0.1'::inet & netmask::inet)))
      order by line_number
      limit 1`,
    [role],
  );
  return rows.length > 0 && rows[0]!.auth_method !== "reject";
}

/**
 * Creates (or updates the password of) the replication role and makes sure pg_hba.conf admits
 * it from 127.0.0.1. `superuserUrl`: the primary, as a superuser.
 */
export async function ensureReplicationAccess(
  superuserUrl: string,
  password: string,
  role = REPLICATION_ROLE,
): Promise<ReplicationAccess> {
  const client = new pg.Client({ connectionString: superuserUrl });
  await client.connect();
  try {
    const name = pg.escapeIdentifier(role);
    const literal = pg.escapeLiteral(password);
    const { rowCount } = await client.query(
      "select 1 from pg_catalog.pg_roles where rolname = $1",
      [role],
    );
    await client.query(
      rowCount
        ? `alter role ${name} login replication password ${literal}`
        : `create role ${name} login replication password ${literal}`,
    );
    if (await hbaAdmits(client, role)) return { role, password, hbaLineAdded: false };
    const { rows } = await client.query<{ file: string }>(
      "select current_setting('hba_file') as file",
    );
    await appendFile(
      rows[0]!.file,
      `\n# npm run db:standby: standbys stream from this server\n` +
        `host    replication     ${role}     127.0.0.1/32    scram-sha-256\n`,
    );
    await client.query("select pg_catalog.pg_reload_conf()");
    if (!(await hbaAdmits(client, role))) {
      throw new Error(
        `standby: ${rows[0]!.file} still refuses replication connections of ${role} from ` +
          `127.0.0.1 (an earlier rule rejects them?); fix that file`,
      );
    }
    return { role, password, hbaLineAdded: true };
  } finally {
    await client.end();
  }
}
