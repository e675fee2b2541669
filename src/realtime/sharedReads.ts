/**
 * Subscription payload reads, shared per event (issue #15).
 *
 * When the topic hub (src/realtime/hub.ts) hands an event to N subscribers, grafast runs each
 * subscriber's selection on its own: N identical statements (same SQL, same values, the same
 * message id), each in its own transaction under its subscriber's role and claims. This wraps a
 * subscription operation's `withPgClient` so that the statements issued in the same turn of the
 * event loop with the same text and values are run together: ONE statement,
 * `app_hidden.read_as_each`, which runs the query once per distinct set of settings, each under
 * that subscriber's own settings (role, claims), and returns every subscriber's rows.
 *
 * Row-level security therefore stays the only judge of what each subscriber sees, field by field
 * (a nested `sender`, `replies`, or anything viewer-dependent is computed for that viewer); what
 * is shared is the round trip, the pool client and the transaction, not the result.
 *
 * - The rows come back as each row's text (`q::text`, a composite literal) and are decoded with
 *   the column types of the statement (described once per statement text, `limit 0`, in the same
 *   transaction) and the driver's own type parsers: the executor gets what the driver would give.
 * - A batch stays open until it has a pool client: reads of the same statement arriving while
 *   it waits join it. A statement alone runs as it would have without this (no extra work).
 * - If the shared statement fails (one viewer's read raises, say), every read of the batch runs
 *   again on its own, so each subscriber gets their own outcome.
 * - `read_as_each` plans the statement once per batch (a prepared statement, executed for each
 *   subscriber) and is sent each subscriber's settings as what differs from the previous
 *   subscriber's (their user and session, typically): the per-subscriber work is the execution.
 */
import type {
  PgClient,
  PgClientQuery,
  PgClientResult,
  WithPgClient,
} from "postgraphile/@dataplan/pg";
import pg from "pg";

type Settings = Record<string, string | undefined> | null;

/** What the shared path needs of a dataplan client: the driver's client underneath. */
interface RawCarrier {
  rawClient?: pg.ClientBase;
}

interface Pending {
  settings: Settings;
  query: PgClientQuery;
  resolve: (result: PgClientResult<unknown>) => void;
  reject: (error: unknown) => void;
}

/** What the shared reads have done (the benchmark and the tests read it). */
export interface SharedReadStats {
  /** Reads asked for by subscription executions. */
  reads: number;
  /** Statements sent for them: shared batches, single reads, describes and fallbacks. */
  statements: number;
  /** Batches of two or more reads run as one statement. */
  shared: number;
}

const READ_AS_EACH = `select viewer, rows from app_hidden.read_as_each($1::json, $2::text)`;
const DESCRIBED_MAX = 500;

/** The settings as `[key, value]` pairs, as @dataplan/pg applies them. */
function entries(settings: Settings): [string, string][] {
  return Object.entries(settings ?? {})
    .filter((e): e is [string, string] => e[1] != null)
    .map(([k, v]) => [k, String(v)] as [string, string])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The viewers' settings as `read_as_each` takes them: the first in full, each next one only what
 * differs from the one before (the database keeps a setting until it is set again). In a batch
 * all have the same keys (they are part of its key); viewers with other keys are refused.
 */
export function settingsInTurn(viewers: readonly [string, string][][]): [string, string][][] {
  return viewers.map((pairs, i) => {
    const before = viewers[i - 1];
    if (before === undefined) return [...pairs];
    const sameKeys = before.length === pairs.length && before.every(([k], j) => k === pairs[j]![0]);
    // a setting the previous viewer had and this one lacks would stay in place: never allowed
    if (!sameKeys) throw new Error("the viewers of one shared read must have the same settings");
    return pairs.filter(([, v], j) => v !== before[j]![1]);
  });
}

/** `text` with each `$n` replaced by its value as an SQL literal (the SQL has explicit casts). */
export function inlineValues(text: string, values: readonly unknown[]): string | null {
  const literals: string[] = [];
  for (const v of values) {
    if (v === null || v === undefined) literals.push("null");
    else if (typeof v === "string") literals.push(pg.Client.prototype.escapeLiteral(v));
    else if (typeof v === "number" && Number.isFinite(v)) literals.push(`'${v}'`);
    else if (typeof v === "boolean") literals.push(v ? "'t'" : "'f'");
    else return null;
  }
  // dataplan SQL holds no literals of its own: a `$` is always a placeholder
  let unknownPlaceholder = false;
  const out = text.replace(/\$(\d+)/g, (_, n: string) => {
    const literal = literals[Number(n) - 1];
    if (literal === undefined) unknownPlaceholder = true;
    return literal ?? "null";
  });
  return unknownPlaceholder ? null : out;
}

/** The fields of a composite literal (record_out's text), null for NULL. */
export function parseRecord(text: string): (string | null)[] {
  const fields: (string | null)[] = [];
  let i = 1; // after "("
  const end = text.length - 1; // the closing ")"
  if (end <= i) return [null];
  for (;;) {
    if (text[i] === '"') {
      let value = "";
      i += 1;
      for (;;) {
        const c = text[i]!;
        if (c === "\\") {
          value += text[i + 1];
          i += 2;
        } else if (c === '"') {
          if (text[i + 1] === '"') {
            value += '"';
            i += 2;
          } else {
            i += 1;
            break;
          }
        } else {
          value += c;
          i += 1;
        }
      }
      fields.push(value);
    } else {
      let j = i;
      while (j < end && text[j] !== ",") j += 1;
      fields.push(j === i ? null : text.slice(i, j));
      i = j;
    }
    if (i >= end) break;
    i += 1; // the comma
    if (i === end) {
      fields.push(null);
      break;
    }
  }
  return fields;
}

/** Column type ids of statement texts already described (a bounded cache, oldest out first). */
class Described {
  readonly #types = new Map<string, number[]>();

  get(text: string): number[] | undefined {
    return this.#types.get(text);
  }
  set(text: string, types: number[]): void {
    if (this.#types.size >= DESCRIBED_MAX) {
      const oldest = this.#types.keys().next().value;
      if (oldest !== undefined) this.#types.delete(oldest);
    }
    this.#types.set(text, types);
  }
}

export class SharedReads {
  readonly #raw: WithPgClient;
  readonly #batches = new Map<string, Pending[]>();
  readonly #described = new Described();
  readonly stats: SharedReadStats = { reads: 0, statements: 0, shared: 0 };

  constructor(raw: WithPgClient) {
    this.#raw = raw;
    rawOfWrapper.set(this.withPgClient, raw);
  }

  /** A `withPgClient` for one subscription operation: its reads join the turn's batches. */
  readonly withPgClient: WithPgClient = (settings, callback) => {
    const client: PgClient = {
      query: <TData>(query: PgClientQuery) =>
        this.#read(settings, query) as Promise<PgClientResult<TData>>,
      // subscriptions only read; anything transactional runs as it would have
      withTransaction: (inner) =>
        this.#raw(settings, (c) => c.withTransaction((t) => inner(t as never))),
    };
    return Promise.resolve(callback(client));
  };

  #read(settings: Settings, query: PgClientQuery): Promise<PgClientResult<unknown>> {
    this.stats.reads += 1;
    const key = `${query.text}\u0000${JSON.stringify(query.values ?? [])}\u0000${query.arrayMode === true}\u0000${entries(
      settings,
    )
      .map(([k]) => k)
      .join(",")}`;
    return new Promise((resolve, reject) => {
      const pending: Pending = { settings, query, resolve, reject };
      const batch = this.#batches.get(key);
      if (batch) {
        batch.push(pending);
        return;
      }
      const fresh = [pending];
      this.#batches.set(key, fresh);
      setImmediate(() => void this.#run(key, fresh));
    });
  }

  /**
   * Runs a batch. It stays open (later reads of the same statement join it) until it has a pool
   * client: the busier the pool, the more each statement carries.
   */
  async #run(key: string, batch: Pending[]): Promise<void> {
    const seal = (): void => {
      if (this.#batches.get(key) === batch) this.#batches.delete(key);
    };
    const { text: statement, values = [], arrayMode } = batch[0]!.query;
    // run as a subquery: without the statement's closing semicolon
    const text = statement.replace(/;\s*$/, "");
    let results: PgClientResult<unknown>[] | "alone";
    try {
      results = await this.#raw(batch[0]!.settings, async (client) => {
        seal();
        if (batch.length === 1) {
          this.stats.statements += 1;
          return [await client.query(batch[0]!.query)];
        }
        const inlined = arrayMode ? inlineValues(text, values) : null;
        if (inlined === null) return "alone" as const;
        return this.#together(client, batch, text, [...values], inlined);
      });
    } catch (error) {
      seal();
      if (batch.length === 1) batch[0]!.reject(error);
      // each subscriber gets their own outcome (an error, a timeout) from their own read
      else for (const p of batch) void this.#alone(p);
      return;
    }
    if (results === "alone") for (const p of batch) void this.#alone(p);
    else batch.forEach((p, i) => p.resolve(results[i]!));
  }

  /** One read on its own, exactly as @dataplan/pg would run it. */
  async #alone(p: Pending): Promise<void> {
    this.stats.statements += 1;
    try {
      p.resolve(await this.#raw(p.settings, (client) => client.query(p.query)));
    } catch (error) {
      p.reject(error);
    }
  }

  /**
   * Reads of the same statement by several subscribers: one statement, each under their settings
   * (the executor always asks for array rows; anything else runs alone). The result of each.
   */
  async #together(
    client: PgClient,
    batch: Pending[],
    text: string,
    values: unknown[],
    inlined: string,
  ): Promise<PgClientResult<unknown>[]> {
    const raw = (client as PgClient & RawCarrier).rawClient;
    if (!raw) throw new Error("no driver client to share reads on");
    // subscribers with the same settings get the same rows: read once for each distinct set
    const viewers: [string, string][][] = [];
    const viewerOf = new Map<string, number>();
    const indexOf = batch.map((p) => {
      const e = entries(p.settings);
      const k = JSON.stringify(e);
      let index = viewerOf.get(k);
      if (index === undefined) {
        index = viewers.push(e) - 1;
        viewerOf.set(k, index);
      }
      return index;
    });
    let types = this.#described.get(text);
    if (!types) {
      this.stats.statements += 1;
      const described = await raw.query({
        text: `select * from (${text}) as shared_read limit 0`,
        values,
      });
      types = described.fields.map((f) => f.dataTypeID);
      this.#described.set(text, types);
    }
    this.stats.statements += 1;
    this.stats.shared += 1;
    const { rows } = await raw.query<{ viewer: number; rows: string[] }>({
      text: READ_AS_EACH,
      values: [JSON.stringify(settingsInTurn(viewers)), inlined],
    });
    const parsers = types.map((oid) => pg.types.getTypeParser(oid, "text"));
    const byViewer = new Map<number, PgClientResult<unknown>>();
    for (const r of rows) {
      const decoded = r.rows.map((record) =>
        parseRecord(record).map((f, i) => (f === null ? null : (parsers[i]!(f) as unknown))),
      );
      byViewer.set(r.viewer, { rows: decoded, rowCount: decoded.length });
    }
    return indexOf.map((i) => byViewer.get(i) ?? { rows: [], rowCount: 0 });
  }
}

const shared = new WeakMap<object, SharedReads>();
const rawOfWrapper = new WeakMap<WithPgClient, WithPgClient>();

/** The `withPgClient` a sharing one wraps (itself when it is not one). */
export function rawWithPgClient(w: WithPgClient): WithPgClient {
  return rawOfWrapper.get(w) ?? w;
}

/**
 * The shared reads of one API instance (`owner`: its resolved preset), over the first `raw` it
 * is given (each operation gets its own `withPgClient`; they all reach the same pool).
 */
export function sharedReadsFor(
  owner: object,
  raw: WithPgClient,
  onStart?: (reads: SharedReads) => void,
): SharedReads {
  let reads = shared.get(owner);
  if (!reads) {
    reads = new SharedReads(raw);
    shared.set(owner, reads);
    onStart?.(reads);
  }
  return reads;
}
