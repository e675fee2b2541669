/**
 * The service's configuration: read once from the environment, validated, frozen.
 *
 * Every variable is listed in `.env.example`. A bad value stops start-up with one line per
 * offending variable (see `ConfigError`), never with a stack trace.
 */
import path from "node:path";

import {
  parseAppRedirectUris,
  parseOidcProviders,
  type OidcProviderConfig,
} from "./auth/oidcConfig.ts";
import { DEVELOPMENT_ORIGINS, originEntryProblem, splitOriginList } from "./http/origins.ts";

export type NodeEnv = "development" | "test" | "production";
export type LogLevel = "debug" | "info" | "warn" | "error";

export interface Config {
  readonly env: NodeEnv;
  readonly isProduction: boolean;
  readonly logLevel: LogLevel;
  /** Folder for local state: embedded Postgres data, generated secrets, the mail outbox. */
  readonly dataDir: string;
  readonly http: {
    readonly host: string;
    readonly port: number;
    /** Serve Ruru (GraphiQL) at `/graphiql`. */
    readonly graphiql: boolean;
    /** Add the operation plan and SQL to every response's `extensions.explain` (debugging). */
    readonly explain: boolean;
    /** Browser origins allowed to call the API (src/http/origins.ts); none in production. */
    readonly corsOrigins: readonly string[];
    /** A request's headers must arrive within this (slow clients are cut off with 408). */
    readonly headersTimeoutMs: number;
    /** A whole request must arrive within this. */
    readonly requestTimeoutMs: number;
  };
  readonly database: {
    /**
     * Owner connection (migrations, worker); null means "boot the embedded server". Its user
     * owns the schema; DATABASE_OWNER(_PASSWORD) only name the owner the embedded server creates.
     */
    readonly url: string | null;
    /** Authenticator connection used by PostGraphile; derived from `url` when null. */
    readonly authUrl: string | null;
    /** Superuser connection for development tooling (db:reset, db:watch, db:commit) only. */
    readonly rootUrl: string | null;
    /**
     * A transaction-mode pooler (PgBouncer) in front of the same database: the API's queries and
     * the worker's jobs go through it; LISTEN, migrations and session work stay on the direct
     * connection (src/db/pooler.ts). Its user and password are replaced by each role's own.
     */
    readonly poolerUrl: string | null;
    readonly ownerRole: string;
    readonly ownerPassword: string;
    readonly authenticatorRole: string;
    readonly authenticatorPassword: string;
    /** Apply migrations and policies when the process starts. */
    readonly migrateOnStart: boolean;
    /** With DATABASE_URL: how long start-up waits for the server to accept connections. */
    readonly waitSeconds: number;
  };
  /** Read replicas: queries go there, writes stay on the primary (src/db/replicaRouting.ts). */
  readonly readReplicas: {
    /** Hot standbys of the database (authenticator credentials filled in where left out). */
    readonly urls: readonly string[];
    /** A replica further behind the primary than this is out of rotation until it catches up. */
    readonly maxLagMs: number;
    /** How often each replica's replay position (and the primary's WAL position) is read. */
    readonly pollIntervalMs: number;
    /** After a session's mutation, how long its reads wait for a replica that has replayed it. */
    readonly readYourWritesWindowMs: number;
  };
  readonly embeddedPostgres: {
    readonly port: number;
    readonly dataDir: string;
    readonly databaseName: string;
    readonly superuserPassword: string;
    /** Continuous WAL archiving beside the cluster (point-in-time recovery); off for scratch clusters. */
    readonly walArchive: boolean;
  };
  readonly worker: {
    readonly concurrency: number;
    readonly pollIntervalMs: number;
    /** How often a worker pool says it is alive; a pool silent for 3 beats loses its locks. */
    readonly heartbeatMs: number;
    /** Run the scheduled tasks of src/crontab (maintenance, purges, backups). */
    readonly cron: boolean;
  };
  readonly metrics: {
    /** Serve /metrics (Prometheus) and /healthz on this port (null: not served). */
    readonly port: number | null;
    /**
     * The address it listens on (METRICS_HOST; default HOST): an internal interface keeps
     * /metrics and /debug/statements off a public one when the API listens there.
     */
    readonly host: string;
    /** One log line per GraphQL request (request id, operation, duration, code, user hash). */
    readonly accessLog: boolean;
    /** Salt of the user id hashes in the access log (null: a random one per process). */
    readonly accessLogSalt: string | null;
    /**
     * Collect the database's metrics in this process (with METRICS_PORT): every 15 s on one
     * connection. Off on API instances when the workers collect them (one collector is enough).
     */
    readonly database: boolean;
  };
  readonly retention: {
    /** Soft-deleted posts and messages are purged after this many days. */
    readonly deletedContentDays: number;
    /** Read notifications are deleted after this many days. */
    readonly readNotificationDays: number;
    /** Audit records (app_private.audit_log) are deleted after this many days. */
    readonly auditLogDays: number;
    /** Records of sent and failed e-mails (app_private.email_deliveries): this many days. */
    readonly emailDeliveryDays: number;
    /** Jobs that failed for good are kept this many days for inspection, then deleted. */
    readonly failedJobDays: number;
    /** Files in the development outbox (DATA_DIR/outbox) are deleted after this many days. */
    readonly outboxDays: number;
    /** Embedded server: base backups older than this are deleted (the newest is always kept). */
    readonly backupDays: number;
  };
  readonly reindex: {
    /** Rebuild a b-tree index whose estimated bloat is at least this percent of its size... */
    readonly bloatPercent: number;
    /** ...and that is at least this large. */
    readonly minBytes: number;
  };
  readonly auth: {
    /** HS256 secret; null in development means "generate one and keep it in DATA_DIR". */
    readonly jwtSecret: string | null;
    readonly jwtAlgorithm: "HS256" | "RS256";
    /** PEM keys for RS256. */
    readonly jwtPrivateKey: string | null;
    readonly jwtPublicKey: string | null;
    readonly jwtAudience: string;
    readonly jwtIssuer: string;
    readonly accessTokenTtlSeconds: number;
    readonly refreshTokenTtlDays: number;
    readonly bcryptCost: number;
    /** Failed sign-ins allowed per e-mail, and per client address, within the window. */
    readonly loginMaxFailures: number;
    readonly loginMaxFailuresPerClient: number;
    /** Accounts `register` creates per client address per hour (SIGNUPS_PER_CLIENT_PER_HOUR). */
    readonly signupsPerClientPerHour: number;
    readonly loginFailureWindowMinutes: number;
    /** Trust X-Forwarded-For (behind a reverse proxy) for the client address. */
    readonly trustProxy: boolean;
    /** Days between requestAccountDeletion and the erasure; signing in before brings it back. */
    readonly accountDeletionGraceDays: number;
    /** Passkeys (WebAuthn): the relying party's domain, and the origins the client app runs at. */
    readonly webauthnRpId: string;
    readonly webauthnOrigins: readonly string[];
  };
  readonly api: {
    readonly statementTimeoutMs: number;
    readonly maxDepth: number;
    readonly maxCost: number;
    readonly defaultPageSize: number;
    readonly maxPageSize: number;
    readonly introspection: boolean;
    readonly maxRequestBytes: number;
    /** Mutations per signed-in user (or client address) per minute, per instance (plugins/mutationRate.ts). */
    readonly mutationsPerMinutePerUser: number;
    /** Document shape limits, checked before validation (src/graphql/shape.ts). */
    readonly maxTokens: number;
    readonly maxAliases: number;
    readonly maxSelections: number;
    readonly maxDirectives: number;
    /** Trusted documents manifest (hash → document): only those run; null: any document. */
    readonly trustedDocuments: string | null;
  };
  readonly realtime: {
    /** Open websockets per user (or per client address when signed out), per API instance. */
    readonly maxConnectionsPerUser: number;
    /** Running subscriptions per user, per API instance. */
    readonly maxSubscriptionsPerUser: number;
    /** Events waiting for one subscription's client; beyond them it ends (CLIENT_TOO_SLOW). */
    readonly maxQueuedEvents: number;
    /** sendTyping calls per user per minute, per API instance. */
    readonly typingPerMinute: number;
    /** How often each instance announces its online users to the others (presence). */
    readonly presenceHeartbeatMs: number;
    /** An instance not heard from for this long is dropped: its users go offline. */
    readonly presenceTimeoutMs: number;
  };
  /** The read cache of viewer-independent reads (src/cache/, docs/SCALING.md "Cache"). */
  readonly cache: {
    readonly enabled: boolean;
    /** In-process store: at most this many values (least recently read go first). */
    readonly maxEntries: number;
    /** A value is kept at most this long, even if no invalidation comes. */
    readonly ttlSeconds: number;
    /** redis:// URL: the store is Redis, shared by every API instance; null: in-process. */
    readonly redisUrl: string | null;
  };
  readonly mail: {
    readonly from: string;
    /** Where links in e-mails point (the client app). */
    readonly appUrl: string;
    /** smtp(s)://user:pass@host:port; null: the development outbox under DATA_DIR. */
    readonly smtpUrl: string | null;
  };
  /** "Download my data" (src/tasks/data_export.ts, src/http/exports.ts). */
  /** Sign-in with OpenID Connect providers (src/auth/oidc.ts, README "Sign in with a provider"). */
  readonly oidc: {
    /** OIDC_PROVIDERS (JSON array); empty: the feature is off. */
    readonly providers: readonly OidcProviderConfig[];
    /** The API's public URL, before /auth/oidc/<provider>/callback; null: the server's own. */
    readonly redirectBaseUrl: string | null;
    /** Where the callback may send the browser back (the client app); the first is the default. */
    readonly appRedirectUris: readonly string[];
  };
  readonly dataExport: {
    /** A ready archive's single-use link works this many hours; then the archive is deleted. */
    readonly ttlHours: number;
  };
  readonly analytics: {
    /**
     * Key of the analytics pseudonyms (HMAC-SHA256), stored in app_private.analytics_key at
     * start; null keeps the database's own (random at the first migration). docs/SECURITY.md.
     */
    readonly pseudonymKey: string | null;
  };
  readonly media: MediaConfig;
}

/** Uploads, storage and delivery of photos, video and audio (src/media/, README "Media"). */
export interface MediaConfig {
  /** Where the bytes go: null = local files under DATA_DIR/media; else an s3:// URL. */
  readonly storage: LocalStorageConfig | S3StorageConfig;
  /** Largest upload accepted at createUpload, by kind of file. */
  readonly maxBytesImage: number;
  readonly maxBytesVideo: number;
  readonly maxBytesAudio: number;
  /** Bytes one user may have stored (uploads not failed), declared sizes counted. */
  readonly quotaBytes: number;
  /** createUpload calls per user per hour. */
  readonly uploadsPerHour: number;
  /** A CDN in front of the media URLs (origin of the signed URLs); null: the API's own origin. */
  readonly publicBaseUrl: string | null;
  /** Life of a signed URL for private media; URLs are stable within a window of this length. */
  readonly urlTtlSeconds: number;
  /** Accept http(s) URLs a client supplies on the media columns (otherwise only uploads). */
  readonly allowExternalUrls: boolean;
  /** HMAC key of the signed URLs; null: derived from the JWT secret (or key). */
  readonly signingKey: string | null;
  /** Processing (src/media/process/): largest image in pixels (width × height × frames). */
  readonly maxPixels: number;
  /** Longest video or audio, in seconds (checked when ffprobe is installed). */
  readonly maxDurationSeconds: number;
  /** ffprobe and ffmpeg (Debian's ffmpeg package); missing: duration and poster stay unknown. */
  readonly ffprobePath: string;
  readonly ffmpegPath: string;
}

export interface LocalStorageConfig {
  readonly driver: "local";
  /** DATA_DIR/media. */
  readonly dir: string;
}

export interface S3StorageConfig {
  readonly driver: "s3";
  readonly bucket: string;
  /** An S3-compatible server (MinIO, …); null: AWS. */
  readonly endpoint: string | null;
  readonly region: string;
  readonly forcePathStyle: boolean;
  /** From the URL's user info; null: the AWS SDK's default chain (AWS_ACCESS_KEY_ID, …). */
  readonly accessKeyId: string | null;
  readonly secretAccessKey: string | null;
}

/** Thrown when the environment holds an invalid value; `problems` has one line per variable. */
export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.join("\n"));
    this.name = "ConfigError";
    this.problems = problems;
  }
}

type Env = Readonly<Record<string, string | undefined>>;

const MIB = 1024 * 1024;

/** Collects problems while reading variables so that all of them are reported at once. */
class Reader {
  readonly problems: string[] = [];
  /** Every variable name asked for, in order: the list `.env.example` must cover. */
  readonly names = new Set<string>();
  private readonly env: Env;
  constructor(env: Env) {
    this.env = env;
  }

  raw(name: string): string | undefined {
    this.names.add(name);
    const value = this.env[name];
    return value === undefined || value.trim() === "" ? undefined : value.trim();
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  optionalString(name: string): string | null {
    return this.raw(name) ?? null;
  }

  /** A file path, resolved against `cwd`. */
  optionalPath(name: string, cwd: string): string | null {
    const value = this.raw(name);
    return value === undefined ? null : path.resolve(cwd, value);
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if ((allowed as readonly string[]).includes(value)) return value as T;
    this.problems.push(`${name} must be one of ${allowed.join(", ")} (got "${value}")`);
    return fallback;
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!/^-?\d+$/.test(value) || n < min || n > max) {
      this.problems.push(`${name} must be an integer from ${min} to ${max} (got "${value}")`);
      return fallback;
    }
    return n;
  }

  boolean(name: string, fallback: boolean): boolean {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (/^(1|true|yes|on)$/i.test(value)) return true;
    if (/^(0|false|no|off)$/i.test(value)) return false;
    this.problems.push(`${name} must be true or false (got "${value}")`);
    return fallback;
  }

  postgresUrl(name: string): string | null {
    const value = this.raw(name);
    if (value === undefined) return null;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      this.problems.push(`${name} must be a postgres:// URL (got something that is not a URL)`);
      return null;
    }
    if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
      this.problems.push(`${name} must be a postgres:// URL (got protocol "${url.protocol}")`);
      return null;
    }
    if (url.pathname.replace(/^\//, "") === "") {
      this.problems.push(`${name} must name a database, e.g. postgres://user:pass@host:5432/db`);
      return null;
    }
    return value;
  }

  /** CORS_ORIGINS: origins separated by commas or spaces (src/http/origins.ts). */
  originList(name: string, fallback: readonly string[]): readonly string[] {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const entries = splitOriginList(value);
    for (const entry of entries) {
      const problem = originEntryProblem(entry);
      if (problem) this.problems.push(`${name}: ${problem}`);
    }
    return Object.freeze(entries);
  }

  /**
   * STORAGE_URL: s3://[KEY:SECRET@]bucket[?endpoint=http://host:9000&region=…&path_style=true].
   * Unset: local files under `localDir`.
   */
  storage(name: string, localDir: string): LocalStorageConfig | S3StorageConfig {
    const value = this.raw(name);
    const local: LocalStorageConfig = { driver: "local", dir: localDir };
    if (value === undefined) return local;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      this.problems.push(`${name} must be an s3:// URL, e.g. s3://bucket?endpoint=http://…`);
      return local;
    }
    if (url.protocol !== "s3:" || url.hostname === "") {
      this.problems.push(`${name} must be an s3:// URL naming a bucket (got "${url.protocol}")`);
      return local;
    }
    const endpoint = url.searchParams.get("endpoint");
    if (endpoint !== null && !/^https?:\/\/[^/\s]+/.test(endpoint)) {
      this.problems.push(`${name}: endpoint must be an http(s) URL (got "${endpoint}")`);
      return local;
    }
    const pathStyle = url.searchParams.get("path_style");
    return {
      driver: "s3",
      bucket: decodeURIComponent(url.hostname),
      endpoint,
      region: url.searchParams.get("region") ?? "us-east-1",
      forcePathStyle: pathStyle === null ? endpoint !== null : /^(1|true|yes)$/i.test(pathStyle),
      accessKeyId: url.username === "" ? null : decodeURIComponent(url.username),
      secretAccessKey: url.password === "" ? null : decodeURIComponent(url.password),
    };
  }

  /** An http(s) origin with an optional path, without a trailing slash. */
  optionalBaseUrl(name: string): string | null {
    const value = this.raw(name);
    if (value === undefined) return null;
    if (!/^https?:\/\/[^/\s]+(\/\S*)?$/.test(value)) {
      this.problems.push(`${name} must be an http(s) URL, e.g. https://cdn.example.com`);
      return null;
    }
    return value.replace(/\/+$/, "");
  }

  optionalPort(name: string): number | null {
    return this.raw(name) === undefined ? null : this.integer(name, 0, 0, 65535);
  }

  smtpUrl(name: string): string | null {
    const value = this.raw(name);
    if (value === undefined) return null;
    if (!/^smtps?:\/\/[^/\s]+/.test(value)) {
      this.problems.push(
        `${name} must be an smtp:// or smtps:// URL, e.g. smtps://user:pass@smtp.example.com:465`,
      );
      return null;
    }
    return value;
  }

  /** REDIS_URL: redis:// or rediss://host:port[/db]. */
  redisUrl(name: string): string | null {
    const value = this.raw(name);
    if (value === undefined) return null;
    if (!/^rediss?:\/\/[^/\s]+(\/\d+)?$/.test(value)) {
      this.problems.push(`${name} must be a redis:// URL, e.g. redis://127.0.0.1:6379`);
      return null;
    }
    return value;
  }

  /** A PEM key; `\n` escapes are accepted so a key fits on one line of an env file. */
  pem(name: string): string | null {
    const value = this.raw(name);
    if (value === undefined) return null;
    const pem = value.replace(/\\n/g, "\n");
    if (!/-----BEGIN [A-Z ]+-----[\s\S]+-----END [A-Z ]+-----/.test(pem)) {
      this.problems.push(`${name} must be a PEM key (-----BEGIN ... KEY----- ...)`);
      return null;
    }
    return pem;
  }

  /** A role or database name: lowercase, so it never needs quoting in SQL. */
  identifier(name: string, fallback: string): string {
    const value = this.string(name, fallback);
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(value)) {
      this.problems.push(
        `${name} must be a lowercase PostgreSQL identifier (letters, digits, _) (got "${value}")`,
      );
      return fallback;
    }
    return value;
  }

  /** A secret with a development default that must be set explicitly in production. */
  secret(name: string, developmentDefault: string, isProduction: boolean): string {
    const value = this.raw(name);
    if (value !== undefined) return value;
    if (isProduction) this.problems.push(`${name} must be set when NODE_ENV=production`);
    return developmentDefault;
  }
}

/** Whether two postgres:// URLs name the same host and port (5432 when left out). */
function sameServer(a: string, b: string): boolean {
  const [x, y] = [new URL(a), new URL(b)];
  return x.hostname === y.hostname && (x.port || "5432") === (y.port || "5432");
}

/** Reads and validates the configuration. Pure: the same environment gives the same result. */
export function loadConfig(env: Env = process.env, cwd: string = process.cwd()): Config {
  const r = new Reader(env);
  const config = readConfig(r, cwd);
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return Object.freeze(config);
}

/** The names of every environment variable the configuration reads. */
export function configVariableNames(): string[] {
  const r = new Reader({});
  readConfig(r, process.cwd());
  return [...r.names];
}

/** DATABASE_READ_URLS: postgres:// URLs separated by commas or spaces. */
function postgresUrlList(r: Reader, name: string): readonly string[] {
  const value = r.raw(name);
  if (value === undefined) return [];
  const urls: string[] = [];
  for (const entry of value.split(/[\s,]+/).filter((e) => e !== "")) {
    let url: URL | null = null;
    try {
      url = new URL(entry);
    } catch {
      // reported below
    }
    if (!url || (url.protocol !== "postgres:" && url.protocol !== "postgresql:")) {
      r.problems.push(
        `${name}: each entry must be a postgres:// URL (got "${entry.slice(0, 40)}")`,
      );
    } else if (url.hostname === "") {
      r.problems.push(`${name}: each URL must name a host, e.g. postgres://replica1:5432/db`);
    } else urls.push(entry);
  }
  return Object.freeze(urls);
}

function readConfig(r: Reader, cwd: string): Config {
  const nodeEnv = r.oneOf<NodeEnv>(
    "NODE_ENV",
    ["development", "test", "production"],
    "development",
  );
  const isProduction = nodeEnv === "production";
  const dataDir = path.resolve(cwd, r.string("DATA_DIR", ".data"));

  const databaseUrl = r.postgresUrl("DATABASE_URL");
  const authUrl = r.postgresUrl("AUTH_DATABASE_URL");
  const rootUrl = r.postgresUrl("ROOT_DATABASE_URL");
  const poolerUrl = r.postgresUrl("DATABASE_POOLER_URL");
  if (poolerUrl !== null && databaseUrl !== null && sameServer(poolerUrl, databaseUrl)) {
    r.problems.push(
      "DATABASE_POOLER_URL must point at the pooler (PgBouncer), not at DATABASE_URL's server: " +
        "LISTEN and migrations keep the direct connection",
    );
  }
  if (isProduction && databaseUrl === null) {
    r.problems.push(
      "DATABASE_URL must be set when NODE_ENV=production (the embedded server is for development)",
    );
  }

  const config: Config = {
    env: nodeEnv,
    isProduction,
    logLevel: r.oneOf<LogLevel>("LOG_LEVEL", ["debug", "info", "warn", "error"], "info"),
    dataDir,
    http: {
      host: r.string("HOST", "127.0.0.1"),
      port: r.integer("PORT", 3000, 0, 65535),
      graphiql: r.boolean("GRAPHIQL", !isProduction),
      explain: r.boolean("GRAPHQL_EXPLAIN", false),
      corsOrigins: r.originList("CORS_ORIGINS", isProduction ? [] : DEVELOPMENT_ORIGINS),
      headersTimeoutMs: r.integer("HTTP_HEADERS_TIMEOUT_MS", 10_000, 500, 120_000),
      requestTimeoutMs: r.integer("HTTP_REQUEST_TIMEOUT_MS", 30_000, 1_000, 600_000),
    },
    database: {
      url: databaseUrl,
      authUrl,
      rootUrl,
      poolerUrl,
      ownerRole: r.identifier("DATABASE_OWNER", "mking_owner"),
      ownerPassword: r.string("DATABASE_OWNER_PASSWORD", "mking_owner_dev"),
      authenticatorRole: r.identifier("DATABASE_AUTHENTICATOR", "mking_authenticator"),
      authenticatorPassword: r.secret(
        "DATABASE_AUTHENTICATOR_PASSWORD",
        "mking_authenticator_dev",
        isProduction,
      ),
      migrateOnStart: r.boolean("MIGRATE_ON_START", true),
      waitSeconds: r.integer("DATABASE_WAIT_SECONDS", 60, 0, 3600),
    },
    readReplicas: {
      urls: postgresUrlList(r, "DATABASE_READ_URLS"),
      maxLagMs: r.integer("DATABASE_READ_MAX_LAG_MS", 2000, 10, 3_600_000),
      pollIntervalMs: r.integer("DATABASE_READ_POLL_MS", 250, 10, 60_000),
      readYourWritesWindowMs: r.integer("READ_YOUR_WRITES_WINDOW_MS", 5000, 0, 3_600_000),
    },
    embeddedPostgres: {
      port: r.integer("EMBEDDED_PG_PORT", 54321, 1024, 65535),
      dataDir: path.resolve(dataDir, r.string("EMBEDDED_PG_DIR", "postgres")),
      databaseName: r.identifier("EMBEDDED_PG_DATABASE", "mking_friend"),
      superuserPassword: r.string("EMBEDDED_PG_SUPERUSER_PASSWORD", "postgres"),
      walArchive: r.boolean("EMBEDDED_WAL_ARCHIVE", true),
    },
    worker: {
      concurrency: r.integer("WORKER_CONCURRENCY", 4, 1, 100),
      pollIntervalMs: r.integer("WORKER_POLL_INTERVAL_MS", 2000, 100, 600_000),
      heartbeatMs: r.integer("WORKER_HEARTBEAT_MS", 10_000, 100, 600_000),
      cron: r.boolean("WORKER_CRON", true),
    },
    metrics: {
      port: r.optionalPort("METRICS_PORT"),
      host: r.string("METRICS_HOST", r.string("HOST", "127.0.0.1")),
      accessLog: r.boolean("ACCESS_LOG", true),
      accessLogSalt: r.optionalString("ACCESS_LOG_SALT"),
      database: r.boolean("METRICS_DATABASE", true),
    },
    retention: {
      deletedContentDays: r.integer("SOFT_DELETE_RETENTION_DAYS", 30, 1, 3650),
      readNotificationDays: r.integer("NOTIFICATION_RETENTION_DAYS", 90, 1, 3650),
      auditLogDays: r.integer("AUDIT_RETENTION_DAYS", 365, 1, 36_500),
      emailDeliveryDays: r.integer("EMAIL_DELIVERY_RETENTION_DAYS", 90, 1, 3650),
      failedJobDays: r.integer("FAILED_JOB_RETENTION_DAYS", 30, 1, 3650),
      outboxDays: r.integer("OUTBOX_RETENTION_DAYS", 7, 1, 3650),
      backupDays: r.integer("BACKUP_RETENTION_DAYS", 7, 1, 3650),
    },
    reindex: {
      bloatPercent: r.integer("INDEX_BLOAT_PERCENT", 50, 10, 95),
      minBytes: r.integer("INDEX_BLOAT_MIN_MB", 10, 0, 1_000_000) * 1024 * 1024,
    },
    auth: {
      jwtSecret: r.optionalString("JWT_SECRET"),
      jwtAlgorithm: r.oneOf("JWT_ALGORITHM", ["HS256", "RS256"] as const, "HS256"),
      jwtPrivateKey: r.pem("JWT_PRIVATE_KEY"),
      jwtPublicKey: r.pem("JWT_PUBLIC_KEY"),
      jwtAudience: r.string("JWT_AUDIENCE", "mking-friend"),
      jwtIssuer: r.string("JWT_ISSUER", "mking-friend"),
      accessTokenTtlSeconds: r.integer("ACCESS_TOKEN_TTL_SECONDS", 900, 30, 86_400),
      refreshTokenTtlDays: r.integer("REFRESH_TOKEN_TTL_DAYS", 30, 1, 365),
      bcryptCost: r.integer("BCRYPT_COST", isProduction ? 12 : 10, 4, 15),
      loginMaxFailures: r.integer("LOGIN_MAX_FAILURES", 10, 1, 1000),
      loginMaxFailuresPerClient: r.integer("LOGIN_MAX_FAILURES_PER_CLIENT", 50, 1, 100_000),
      signupsPerClientPerHour: r.integer("SIGNUPS_PER_CLIENT_PER_HOUR", 50, 1, 1_000_000),
      loginFailureWindowMinutes: r.integer("LOGIN_FAILURE_WINDOW_MINUTES", 15, 1, 1440),
      trustProxy: r.boolean("TRUST_PROXY", false),
      accountDeletionGraceDays: r.integer("ACCOUNT_DELETION_GRACE_DAYS", 14, 1, 365),
      webauthnRpId: r.string("WEBAUTHN_RP_ID", "localhost"),
      webauthnOrigins: r.originList("WEBAUTHN_ORIGIN", ["http://localhost:3000"]),
    },
    api: {
      statementTimeoutMs: r.integer("API_STATEMENT_TIMEOUT_MS", 5000, 100, 600_000),
      maxDepth: r.integer("GRAPHQL_MAX_DEPTH", 12, 2, 100),
      maxCost: r.integer("GRAPHQL_MAX_COST", 20_000, 10, 10_000_000),
      defaultPageSize: r.integer("GRAPHQL_DEFAULT_PAGE_SIZE", 20, 1, 1000),
      maxPageSize: r.integer("GRAPHQL_MAX_PAGE_SIZE", 100, 1, 10_000),
      introspection: r.boolean("GRAPHQL_INTROSPECTION", !isProduction),
      maxRequestBytes: r.integer("MAX_REQUEST_BYTES", 100_000, 1_000, 10_000_000),
      mutationsPerMinutePerUser: r.integer("MUTATIONS_PER_MINUTE_PER_USER", 600, 1, 10_000_000),
      maxTokens: r.integer("GRAPHQL_MAX_TOKENS", 5000, 100, 1_000_000),
      maxAliases: r.integer("GRAPHQL_MAX_ALIASES", 30, 0, 100_000),
      maxSelections: r.integer("GRAPHQL_MAX_SELECTIONS", 1000, 10, 1_000_000),
      maxDirectives: r.integer("GRAPHQL_MAX_DIRECTIVES", 50, 0, 100_000),
      trustedDocuments: r.optionalPath("GRAPHQL_TRUSTED_DOCUMENTS", cwd),
    },
    realtime: {
      maxConnectionsPerUser: r.integer("REALTIME_MAX_CONNECTIONS_PER_USER", 10, 1, 10_000),
      maxSubscriptionsPerUser: r.integer("REALTIME_MAX_SUBSCRIPTIONS_PER_USER", 50, 1, 100_000),
      maxQueuedEvents: r.integer("REALTIME_MAX_QUEUED_EVENTS", 1000, 1, 1_000_000),
      typingPerMinute: r.integer("TYPING_MAX_PER_MINUTE", 60, 1, 10_000),
      presenceHeartbeatMs: r.integer("PRESENCE_HEARTBEAT_MS", 10_000, 50, 600_000),
      presenceTimeoutMs: r.integer("PRESENCE_TIMEOUT_MS", 30_000, 100, 3_600_000),
    },
    cache: {
      enabled: r.boolean("CACHE_ENABLED", true),
      maxEntries: r.integer("CACHE_MAX_ENTRIES", 10_000, 1, 10_000_000),
      ttlSeconds: r.integer("CACHE_TTL_SECONDS", 300, 1, 86_400),
      redisUrl: r.redisUrl("REDIS_URL"),
    },
    mail: {
      from: r.string("MAIL_FROM", "MKing Friend <no-reply@mking-friend.local>"),
      appUrl: r.string("APP_URL", "http://localhost:3000").replace(/\/+$/, ""),
      smtpUrl: r.smtpUrl("SMTP_URL"),
    },
    oidc: {
      providers: parseOidcProviders(r.raw("OIDC_PROVIDERS"), r.problems),
      redirectBaseUrl: r.optionalBaseUrl("OIDC_REDIRECT_BASE_URL"),
      appRedirectUris: parseAppRedirectUris(
        r.raw("OIDC_APP_REDIRECT_URIS"),
        `${r.string("APP_URL", "http://localhost:3000").replace(/\/+$/, "")}/auth/callback`,
        r.problems,
      ),
    },
    dataExport: {
      ttlHours: r.integer("DATA_EXPORT_TTL_HOURS", 48, 1, 24 * 30),
    },
    analytics: {
      pseudonymKey: r.optionalString("ANALYTICS_PSEUDONYM_KEY"),
    },
    media: {
      storage: r.storage("STORAGE_URL", path.resolve(dataDir, "media")),
      maxBytesImage: r.integer("MEDIA_MAX_BYTES_IMAGE", 20 * MIB, 1024, 10 * 1024 * MIB),
      maxBytesVideo: r.integer("MEDIA_MAX_BYTES_VIDEO", 500 * MIB, 1024, 100 * 1024 * MIB),
      maxBytesAudio: r.integer("MEDIA_MAX_BYTES_AUDIO", 100 * MIB, 1024, 100 * 1024 * MIB),
      quotaBytes: r.integer("MEDIA_QUOTA_BYTES", 5 * 1024 * MIB, 1024, Number.MAX_SAFE_INTEGER),
      uploadsPerHour: r.integer("MEDIA_UPLOADS_PER_HOUR", 200, 1, 1_000_000),
      publicBaseUrl: r.optionalBaseUrl("MEDIA_PUBLIC_BASE_URL"),
      urlTtlSeconds: r.integer("MEDIA_URL_TTL_SECONDS", 3600, 10, 3 * 86_400),
      allowExternalUrls: r.boolean("MEDIA_ALLOW_EXTERNAL_URLS", false),
      signingKey: r.optionalString("MEDIA_SIGNING_KEY"),
      maxPixels: r.integer("MEDIA_MAX_PIXELS", 40_000_000, 1, 1_000_000_000),
      maxDurationSeconds: r.integer("MEDIA_MAX_DURATION_SECONDS", 600, 1, 86_400),
      ffprobePath: r.string("MEDIA_FFPROBE_PATH", "ffprobe"),
      ffmpegPath: r.string("MEDIA_FFMPEG_PATH", "ffmpeg"),
    },
  };

  const { auth, api } = config;
  if (auth.jwtAlgorithm === "HS256") {
    if (auth.jwtSecret !== null && auth.jwtSecret.length < 32) {
      r.problems.push("JWT_SECRET must be at least 32 characters long");
    }
    if (auth.jwtSecret === null && isProduction) {
      r.problems.push(
        "JWT_SECRET must be set when NODE_ENV=production (or use JWT_ALGORITHM=RS256)",
      );
    }
  } else if (!auth.jwtPrivateKey || !auth.jwtPublicKey) {
    r.problems.push(
      "JWT_PRIVATE_KEY and JWT_PUBLIC_KEY (PEM) must be set when JWT_ALGORITHM=RS256",
    );
  }
  const { readReplicas } = config;
  if (readReplicas.urls.length > 0) {
    if (readReplicas.pollIntervalMs >= readReplicas.maxLagMs) {
      r.problems.push(
        `DATABASE_READ_POLL_MS (${readReplicas.pollIntervalMs}) must be below ` +
          `DATABASE_READ_MAX_LAG_MS (${readReplicas.maxLagMs}): lag is measured once per poll`,
      );
    }
    const needed = readReplicas.maxLagMs + readReplicas.pollIntervalMs;
    if (readReplicas.readYourWritesWindowMs < needed) {
      r.problems.push(
        `READ_YOUR_WRITES_WINDOW_MS (${readReplicas.readYourWritesWindowMs}) must be at least ` +
          `DATABASE_READ_MAX_LAG_MS + DATABASE_READ_POLL_MS (${needed}): a session's write must ` +
          `be remembered until every replica in rotation has replayed it`,
      );
    }
    const primary = config.database.url;
    if (primary !== null && readReplicas.urls.some((u) => sameServer(u, primary))) {
      r.problems.push("DATABASE_READ_URLS must list replicas, not DATABASE_URL's own server");
    }
  }
  const { pseudonymKey } = config.analytics;
  if (pseudonymKey !== null && Buffer.byteLength(pseudonymKey) < 32) {
    r.problems.push("ANALYTICS_PSEUDONYM_KEY must be at least 32 bytes long");
  }
  if (isProduction && auth.bcryptCost < 10) {
    r.problems.push(
      `BCRYPT_COST must be at least 10 when NODE_ENV=production (got ${auth.bcryptCost})`,
    );
  }
  if (api.defaultPageSize > api.maxPageSize) {
    r.problems.push("GRAPHQL_DEFAULT_PAGE_SIZE must not exceed GRAPHQL_MAX_PAGE_SIZE");
  }

  if (config.database.ownerRole === config.database.authenticatorRole) {
    r.problems.push("DATABASE_AUTHENTICATOR must differ from DATABASE_OWNER");
  }
  if (config.http.headersTimeoutMs > config.http.requestTimeoutMs) {
    r.problems.push("HTTP_HEADERS_TIMEOUT_MS must not exceed HTTP_REQUEST_TIMEOUT_MS");
  }
  return config;
}
