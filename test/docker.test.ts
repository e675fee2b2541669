/**
 * docker-compose.yml and the Dockerfile, checked by reading them (no Docker engine runs here):
 * the services exist with healthchecks, share one image, pass only variables the service
 * actually reads, and — resolved as `docker compose` resolves them — hand each container an
 * environment that src/config.ts accepts in production.
 */
import { existsSync, readFileSync } from "node:fs";

import { parse } from "yaml";

import { ConfigError, configVariableNames, loadConfig, type Config } from "../src/config.ts";

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }> | string[];
  profiles?: string[];
  volumes?: string[];
  ports?: string[];
}

const read = (file: string): string => readFileSync(new URL(`../${file}`, import.meta.url), "utf8");
const compose = parse(read("docker-compose.yml"), { merge: true }) as {
  services: Record<string, Service>;
};
const dockerfile = read("Dockerfile");
const { postgres, api, worker } = compose.services;

/**
 * Compose's variable interpolation (https://docs.docker.com/reference/compose-file/interpolation/)
 * of one value, with `dotenv` standing in for the shell environment and the `.env` file:
 * `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`,
 * `${VAR:+replacement}`, `${VAR+replacement}`, with nesting inside the default.
 */
function interpolate(value: string, dotenv: Readonly<Record<string, string>>): string {
  let out = "";
  let i = 0;
  while (i < value.length) {
    const c = value[i]!;
    if (c !== "$") {
      out += c;
      i += 1;
    } else if (value[i + 1] === "$") {
      out += "$";
      i += 2;
    } else if (value[i + 1] === "{") {
      // find the matching brace, skipping nested ${...}
      let depth = 1;
      let j = i + 2;
      for (; j < value.length && depth > 0; j += 1) {
        if (value[j] === "{") depth += 1;
        else if (value[j] === "}") depth -= 1;
      }
      if (depth !== 0) throw new Error(`unclosed \${ in ${JSON.stringify(value)}`);
      const inner = value.slice(i + 2, j - 1);
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([\s\S]*))?$/.exec(inner);
      if (!m) throw new Error(`bad substitution \${${inner}}`);
      const [, name = "", op, arg = ""] = m;
      const set = Object.hasOwn(dotenv, name);
      const current = dotenv[name] ?? "";
      const present = op?.startsWith(":") ? current !== "" : set;
      switch (op) {
        case undefined:
          out += current;
          break;
        case ":-":
        case "-":
          out += present ? current : interpolate(arg, dotenv);
          break;
        case ":?":
        case "?":
          if (!present) throw new Error(`required variable ${name} is missing a value: ${arg}`);
          out += current;
          break;
        default: // :+ and +
          out += present ? interpolate(arg, dotenv) : "";
      }
      i = j;
    } else {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(value.slice(i + 1));
      if (!m) throw new Error(`a lone $ in ${JSON.stringify(value)} (write $$)`);
      out += dotenv[m[0]] ?? "";
      i += 1 + m[0].length;
    }
  }
  return out;
}

/**
 * What every deployment's .env must set: compose refuses to start without it (`${VAR:?...}`, no
 * default); "with no .env" below means with nothing else.
 */
const REQUIRED_IN_DOTENV: Readonly<Record<string, string>> = {
  PGBACKREST_REPO1_CIPHER_PASS: "a-test-cipher-pass",
};

/** The environment `docker compose up` gives the container of `service`. */
function containerEnv(
  service: Service,
  dotenv: Readonly<Record<string, string>> = {},
): Record<string, string> {
  // Dockerfile ENV lines come first; the service's environment overrides them
  const fromImage = Object.fromEntries(
    [...dockerfile.matchAll(/^ENV (\w+)=(\S+)$/gm)].map(([, k, v]) => [k!, v!]),
  );
  const fromCompose = Object.fromEntries(
    Object.entries(service.environment ?? {}).map(([k, v]) => [
      k,
      interpolate(String(v), { ...REQUIRED_IN_DOTENV, ...dotenv }),
    ]),
  );
  return { ...fromImage, ...fromCompose };
}

/** src/config.ts on a container's environment, as the service reads it at start-up. */
function configOf(env: Record<string, string>): Config {
  try {
    return loadConfig(env, "/app");
  } catch (error) {
    // show the problems, not just "threw"
    if (error instanceof ConfigError) expect(error.problems).toEqual([]);
    throw error;
  }
}

describe("docker-compose.yml", () => {
  it("has postgres, its backups, pgbouncer, api, its load balancer and worker, each with a healthcheck", () => {
    // services of an optional profile (`--profile monitoring`) are checked further down
    const always = Object.keys(compose.services).filter((s) => !compose.services[s]!.profiles);
    expect(always.sort()).toEqual([
      "api",
      "backup",
      "lb",
      "minio",
      "minio-buckets",
      "pgbouncer",
      "postgres",
      "worker",
    ]);
    for (const name of ["postgres", "backup", "pgbouncer", "api", "lb", "worker"])
      expect(compose.services[name]?.healthcheck?.test.length).toBeGreaterThan(0);
  });

  it("runs a current PostgreSQL (the official image, with pgBackRest added)", () => {
    expect(postgres!.build).toBe("docker/postgres");
    const from = /^FROM postgres:(\d+)$/m.exec(read("docker/postgres/Dockerfile"))?.[1];
    expect(Number(from)).toBeGreaterThanOrEqual(15);
    expect(postgres!.image).toBe(`mking-friend-postgres:${from}`);
  });

  it("builds one image and runs the API and the worker from it", () => {
    expect(api!.build).toBe(".");
    expect(worker!.image).toBe(api!.image);
    expect(api!.command).toEqual(["node", "src/main.ts", "server"]);
    expect(worker!.command).toEqual(["node", "src/main.ts", "worker"]);
  });

  it.each(["api", "worker"])("gives %s only variables that src/config.ts reads", (name) => {
    const known = new Set(configVariableNames());
    for (const variable of Object.keys(compose.services[name]!.environment ?? {})) {
      expect({ variable, known: known.has(variable) }).toEqual({ variable, known: true });
    }
  });

  it.each(["api", "worker"])(
    "gives %s an environment that src/config.ts accepts in production, with no .env",
    (name) => {
      const config = configOf(containerEnv(compose.services[name]!));
      expect(config.isProduction).toBe(true);
      expect(config.database.url).toMatch(/^postgres:\/\/mking_owner:mking_owner_dev@postgres:/);
      expect(config.auth.jwtSecret?.length).toBeGreaterThanOrEqual(32);
    },
  );

  it("turns on introspection with GraphiQL (Ruru needs it), and both off together", () => {
    const on = configOf(containerEnv(api!));
    expect([on.http.graphiql, on.api.introspection]).toEqual([true, true]);
    const off = configOf(containerEnv(api!, { GRAPHIQL: "false" }));
    expect([off.http.graphiql, off.api.introspection]).toEqual([false, false]);
    const apiOnly = configOf(
      containerEnv(api!, { GRAPHIQL: "false", GRAPHQL_INTROSPECTION: "true" }),
    );
    expect([apiOnly.http.graphiql, apiOnly.api.introspection]).toEqual([false, true]);
  });

  it("takes the secrets from .env, the same ones in every service", () => {
    const dotenv = {
      POSTGRES_PASSWORD: "pg-pass",
      DATABASE_AUTHENTICATOR_PASSWORD: "auth-pass",
      JWT_SECRET: "a-deployment-secret-of-more-than-32-characters",
      SMTP_URL: "smtps://u:p@smtp.example.com:465",
    };
    const apiConfig = configOf(containerEnv(api!, dotenv));
    const workerConfig = configOf(containerEnv(worker!, dotenv));
    expect(new URL(apiConfig.database.url!).password).toBe("pg-pass");
    expect(interpolate(postgres!.environment!.POSTGRES_PASSWORD!, dotenv)).toBe("pg-pass");
    for (const config of [apiConfig, workerConfig]) {
      expect(config.database.authenticatorPassword).toBe("auth-pass");
      expect(config.auth.jwtSecret).toBe(dotenv.JWT_SECRET);
    }
    expect(workerConfig.mail.smtpUrl).toBe(dotenv.SMTP_URL);
    expect(configOf(containerEnv(worker!)).mail.smtpUrl).toBeNull();
  });

  it("would fail here if a service lacked a variable production requires", () => {
    const { JWT_SECRET: _dropped, ...withoutSecret } = containerEnv(api!);
    expect(() => loadConfig(withoutSecret, "/app")).toThrow(/JWT_SECRET must be set/);
    // and a ${VAR:?message} the .env does not provide stops interpolation, as compose does
    expect(() => interpolate("${JWT_SECRET:?set it in .env}", {})).toThrow(/set it in \.env/);
  });

  it("interpolates the way docker compose does", () => {
    const env = { SET: "value", EMPTY: "" };
    expect(interpolate("a-${SET}-$SET-$$SET", env)).toBe("a-value-value-$SET");
    expect(interpolate("${EMPTY:-d} ${EMPTY-d} ${UNSET-d} ${UNSET:-${SET:-x}}", env)).toBe(
      "d  d value",
    );
    expect(interpolate("${SET:+alt}|${EMPTY:+alt}|${EMPTY+alt}", env)).toBe("alt||alt");
    expect(() => interpolate("${EMPTY:?needed}", env)).toThrow(/EMPTY .*needed/);
    expect(interpolate("${EMPTY?needed}", env)).toBe("");
  });

  it("points DATABASE_URL at the postgres service's user and database", () => {
    const url = new URL(api!.environment!.DATABASE_URL!.replace(/\$\{[^}]+\}/g, "pw"));
    expect(url.hostname).toBe("postgres");
    expect(decodeURIComponent(url.username)).toBe(postgres!.environment!.POSTGRES_USER);
    expect(url.pathname).toBe(`/${postgres!.environment!.POSTGRES_DB}`);
    expect(worker!.environment!.DATABASE_URL).toBe(api!.environment!.DATABASE_URL);
  });

  it("starts the API once the database is healthy, and the worker once the API (and so the migrations) is", () => {
    expect(api!.depends_on).toEqual({
      postgres: { condition: "service_healthy" },
      // the query pool goes through it (DATABASE_POOLER_URL)
      pgbouncer: { condition: "service_healthy" },
      // media storage (STORAGE_URL): the bucket exists before the API starts
      "minio-buckets": { condition: "service_completed_successfully" },
    });
    expect(worker!.depends_on).toEqual({ api: { condition: "service_healthy" } });
    expect(api!.environment!.MIGRATE_ON_START).toBe("true");
    expect(worker!.environment!.MIGRATE_ON_START).toBe("false");
  });
});

describe("docker-compose.yml, PgBouncer and many instances (docs/SCALING.md)", () => {
  const { pgbouncer, lb } = compose.services;
  /** docker/pgbouncer/pgbouncer.ini: section → option → value. */
  const ini: Record<string, Record<string, string>> = {};
  let section = "";
  for (const line of read("docker/pgbouncer/pgbouncer.ini").split("\n")) {
    const header = /^\[(.+)\]$/.exec(line.trim());
    const option = /^([a-z_]+)\s*=\s*(.*)$/.exec(line.trim());
    if (header) ini[(section = header[1]!)] = {};
    else if (option) ini[section]![option[1]!] = option[2]!;
  }
  const haproxy = read("docker/haproxy/haproxy.cfg");
  const replicas = (service: Service, dotenv: Record<string, string> = {}): number =>
    Number(
      interpolate(
        String((service as Service & { deploy?: { replicas?: unknown } }).deploy?.replicas ?? 1),
        dotenv,
      ),
    );

  it("sends the API's and the worker's queries through PgBouncer in transaction mode, to postgres", () => {
    for (const service of [api!, worker!]) {
      const config = configOf(containerEnv(service));
      const pooler = new URL(config.database.poolerUrl!);
      expect(pooler.hostname).toBe("pgbouncer");
      expect(pooler.port).toBe(ini.pgbouncer!.listen_port);
      // the database PgBouncer serves under that name is postgres's own
      const database = pooler.pathname.slice(1);
      expect(ini.databases![database]).toBe(
        `host=postgres port=5432 dbname=${postgres!.environment!.POSTGRES_DB}`,
      );
      expect(new URL(config.database.url!).hostname).toBe("postgres");
    }
    expect(ini.pgbouncer!.pool_mode).toBe("transaction");
    expect(ini.pgbouncer!.auth_type).toBe("scram-sha-256");
    // PgBouncer knows both roles, with the passwords the services use
    const dotenv = { POSTGRES_PASSWORD: "pg-pass", DATABASE_AUTHENTICATOR_PASSWORD: "auth-pass" };
    const env = containerEnv(pgbouncer!, dotenv);
    const apiConfig = configOf(containerEnv(api!, dotenv));
    expect(env.DATABASE_OWNER).toBe(new URL(apiConfig.database.url!).username);
    expect(env.DATABASE_OWNER_PASSWORD).toBe("pg-pass");
    expect(env.DATABASE_AUTHENTICATOR).toBe(apiConfig.database.authenticatorRole);
    expect(env.DATABASE_AUTHENTICATOR_PASSWORD).toBe("auth-pass");
    expect(read("docker/pgbouncer/entrypoint.sh")).toContain(ini.pgbouncer!.auth_file!);
    expect(pgbouncer!.depends_on).toEqual({ postgres: { condition: "service_healthy" } });
    // Debian 12's PgBouncer, the one test/ops/pgbouncer.test.ts runs
    expect(read("docker/pgbouncer/Dockerfile")).toMatch(/^FROM debian:bookworm-slim$/m);
    expect(read("test/ops/packages.txt")).toMatch(/^pgbouncer\s/m);
  });

  it("runs several API and worker instances, the APIs behind lb only", () => {
    expect(replicas(api!)).toBeGreaterThanOrEqual(2);
    expect(replicas(worker!)).toBeGreaterThanOrEqual(2);
    expect(replicas(api!, { API_REPLICAS: "5" })).toBe(5);
    expect(replicas(worker!, { WORKER_REPLICAS: "3" })).toBe(3);
    // replicas cannot share a host port: lb publishes it, on this machine's loopback
    expect(api!.ports ?? []).toEqual([]);
    expect(lb!.ports).toEqual([`127.0.0.1:3000:${api!.environment!.PORT}`]);
    expect(lb!.depends_on).toEqual({ api: { condition: "service_healthy" } });
    // the instances trust lb's X-Forwarded-For for the client's address
    expect(configOf(containerEnv(api!)).auth.trustProxy).toBe(true);
    expect(haproxy).toMatch(/^\s*option forwardfor$/m);
  });

  it("balances every api replica, ready ones only, websockets included", () => {
    const mounted = lb!.volumes!.find((v) => v.endsWith(":/usr/local/etc/haproxy/haproxy.cfg:ro"));
    expect(mounted?.split(":")[0]).toBe("./docker/haproxy/haproxy.cfg");
    expect(haproxy).toMatch(/^frontend \w+\n\s+bind :3000$/m);
    // every address Docker's DNS gives for the service name, on the API's port
    expect(haproxy).toMatch(
      new RegExp(`server-template api \\d+ api:${api!.environment!.PORT} check resolvers docker`),
    );
    expect(haproxy).toMatch(/nameserver dns 127\.0\.0\.11:53/);
    expect(haproxy).toMatch(/option httpchk GET \/readyz/);
    // an upgraded websocket is a tunnel: its idle timeout is far beyond the API's 12-s pings
    const tunnel = /^\s*timeout tunnel (\d+)([smh])$/m.exec(haproxy);
    const seconds = Number(tunnel?.[1]) * ({ s: 1, m: 60, h: 3600 }[tunnel?.[2] as "s"] ?? 0);
    expect(seconds).toBeGreaterThanOrEqual(60);
    expect(haproxy).toMatch(/^\s*mode http$/m);
  });

  it("gives the api and worker instances one DATA_DIR volume (export archives, outbox)", () => {
    for (const service of [api!, worker!]) {
      expect(service.volumes).toContain(`app-data:${configOf(containerEnv(service)).dataDir}`);
    }
  });
});

describe("docker-compose.yml, monitoring profile", () => {
  const { prometheus, grafana } = compose.services;

  it("runs Prometheus and Grafana only with --profile monitoring, on this machine's loopback", () => {
    for (const service of [prometheus, grafana]) {
      expect(service?.profiles).toEqual(["monitoring"]);
      expect(service!.ports!.length).toBeGreaterThan(0);
      for (const port of service!.ports!) expect(port).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
    }
  });

  it("mounts configuration files that exist", () => {
    const binds = [...prometheus!.volumes!, ...grafana!.volumes!].filter((v) => v.startsWith("./"));
    expect(binds.length).toBeGreaterThanOrEqual(4);
    for (const bind of binds) {
      const source = bind.split(":")[0]!;
      expect({ source, exists: existsSync(new URL(`../${source}`, import.meta.url)) }).toEqual({
        source,
        exists: true,
      });
    }
    // the files Prometheus is told to read are the mounted ones
    const mountedAt = (service: Service, target: string): string | undefined =>
      service.volumes!.find((v) => v.split(":")[1] === target)?.split(":")[0];
    const config = parse(read("monitoring/prometheus/prometheus.yml")) as { rule_files: string[] };
    expect(prometheus!.command).toContain("--config.file=/etc/prometheus/prometheus.yml");
    expect(mountedAt(prometheus!, "/etc/prometheus/prometheus.yml")).toBe(
      "./monitoring/prometheus/prometheus.yml",
    );
    expect(config.rule_files.map((file) => mountedAt(prometheus!, file))).toEqual([
      "./monitoring/prometheus/alerts.yml",
    ]);
    expect(mountedAt(grafana!, "/etc/grafana/provisioning")).toBe(
      "./monitoring/grafana/provisioning",
    );
  });

  it("scrapes METRICS_PORT of the api and the worker, which serve it", () => {
    const config = parse(read("monitoring/prometheus/prometheus.yml")) as {
      scrape_configs: {
        static_configs?: { targets: string[] }[];
        // every replica of a service: Docker's DNS gives one A record per container
        dns_sd_configs?: { names: string[]; type: string; port: number }[];
      }[];
    };
    const targets = config.scrape_configs.flatMap((c) => [
      ...(c.static_configs ?? []).flatMap((s) => s.targets),
      ...(c.dns_sd_configs ?? [])
        .filter((d) => d.type === "A")
        .flatMap((d) => d.names.map((name) => `${name}:${d.port}`)),
    ]);
    for (const name of ["api", "worker"]) {
      const env = containerEnv(compose.services[name]!);
      expect(env.METRICS_PORT).toMatch(/^\d+$/);
      expect(targets).toContain(`${name}:${env.METRICS_PORT}`);
      expect(configOf(env).metrics.port).toBe(Number(env.METRICS_PORT));
      // reachable on the compose network, not published on the host
      expect(compose.services[name]!.ports ?? []).not.toContainEqual(
        expect.stringContaining(env.METRICS_PORT!),
      );
    }
  });

  it("takes Grafana's admin password from the environment", () => {
    const password = grafana!.environment!.GF_SECURITY_ADMIN_PASSWORD!;
    expect(interpolate(password, { GRAFANA_ADMIN_PASSWORD: "from-env" })).toBe("from-env");
  });
});

describe("docker-compose.yml, hot standby (profile standby)", () => {
  const standby = compose.services["postgres-standby"];
  const script = (file: string): string => read(file);
  const mountedAt = (service: Service, target: string): string | undefined =>
    service.volumes!.find((v) => v.split(":")[1] === target)?.split(":")[0];

  it("runs a second PostgreSQL of the same image, after the primary is healthy, with a healthcheck", () => {
    expect(standby?.profiles).toEqual(["standby"]);
    expect(standby!.image).toBe(postgres!.image);
    expect(standby!.depends_on).toEqual({ postgres: { condition: "service_healthy" } });
    expect(standby!.healthcheck!.test.length).toBeGreaterThan(0);
    // a volume of its own: a standby never shares the primary's data folder
    const dataVolume = (service: Service): string | undefined =>
      service.volumes!.find((v) => v.endsWith(":/var/lib/postgresql"))?.split(":")[0];
    expect(dataVolume(standby!)).toBeDefined();
    expect(dataVolume(standby!)).not.toBe(dataVolume(postgres!));
    expect(standby!.ports ?? []).toEqual([]);
  });

  it("clones the primary with pg_basebackup -R on first start, then runs the image's entrypoint", () => {
    const entrypoint = (standby as Service & { entrypoint: string[] }).entrypoint;
    const source = mountedAt(standby!, entrypoint[0]!);
    expect(source).toBe("./docker/postgres/standby-entrypoint.sh");
    const text = script(source!.slice(2));
    expect(text).toMatch(/if \[ ! -s "\$PGDATA\/PG_VERSION" \]/);
    expect(text).toMatch(/pg_basebackup[\s\S]*--write-recovery-conf[\s\S]*--wal-method=stream/);
    expect(text).toMatch(/application_name=\$STANDBY_NAME/);
    expect(text).toMatch(/exec docker-entrypoint\.sh "\$@"\s*$/);
    const env = containerEnv(standby!);
    expect(env.PRIMARY_HOST).toBe("postgres");
    expect(Object.keys(compose.services)).toContain(env.PRIMARY_HOST);
  });

  it("creates the replication role at the primary's init and lets the compose network replicate", () => {
    const source = mountedAt(postgres!, "/docker-entrypoint-initdb.d/10-replication.sh");
    expect(source).toBe("./docker/postgres/initdb-replication.sh");
    const text = script(source!.slice(2));
    expect(text).toMatch(/create role %I with replication login password %L/);
    expect(text).toMatch(/host replication \$\{REPLICATION_USER\} samenet scram-sha-256/);
  });

  it("uses the same replication role and password on both sides, taken from .env", () => {
    const dotenv = { POSTGRES_REPLICATION_PASSWORD: "repl-pass" };
    const primaryEnv = containerEnv(postgres!, dotenv);
    const standbyEnv = containerEnv(standby!, dotenv);
    expect(standbyEnv.REPLICATION_USER).toBe(primaryEnv.REPLICATION_USER);
    expect(standbyEnv.REPLICATION_PASSWORD).toBe("repl-pass");
    expect(primaryEnv.REPLICATION_PASSWORD).toBe("repl-pass");
    expect(containerEnv(standby!).REPLICATION_PASSWORD).toBe(
      containerEnv(postgres!).REPLICATION_PASSWORD,
    );
  });

  it("leaves replication asynchronous by default (synchronous_standby_names unset)", () => {
    const primaryCommand = (postgres!.command ?? []).join(" ");
    expect(primaryCommand).not.toMatch(/synchronous_standby_names=\S/);
    // the comment says how to turn it on, naming the standby's application_name
    const name = containerEnv(standby!).STANDBY_NAME;
    expect(read("docker-compose.yml")).toContain(
      `ALTER SYSTEM SET synchronous_standby_names = '${name}'`,
    );
  });
});

describe("docker-compose.yml, pgBackRest backups", () => {
  const backup = compose.services.backup;
  const standby = compose.services["postgres-standby"];
  const postgresDockerfile = read("docker/postgres/Dockerfile");
  const schedule = read("docker/postgres/backup-schedule.sh");
  /** docker/postgres/pgbackrest.conf: section → option → value. */
  const conf: Record<string, Record<string, string>> = {};
  let section = "";
  for (const line of read("docker/postgres/pgbackrest.conf").split("\n")) {
    const header = /^\[(.+)\]$/.exec(line.trim());
    const option = /^([a-z0-9-]+)=(.*)$/.exec(line.trim());
    if (header) conf[(section = header[1]!)] = {};
    else if (option) conf[section]![option[1]!] = option[2]!;
  }
  const global = conf.global!;
  /** `-c name=value` settings of the postgres command. */
  const setting = (name: string): string | undefined =>
    postgres!.command!.find((arg) => arg.startsWith(`${name}=`))?.slice(name.length + 1);
  const mountOf = (service: Service, target: string): string | undefined =>
    service.volumes!.find((v) => v.split(":")[1] === target)?.split(":")[0];
  const stanza = /--stanza=(\S+)/.exec(setting("archive_command") ?? "")?.[1];

  it("archives every WAL segment with pgBackRest, within archive_timeout (the RPO)", () => {
    expect(postgres!.command![0]).toBe("postgres");
    expect(setting("archive_mode")).toBe("on");
    expect(setting("archive_command")).toBe(`pgbackrest --stanza=${stanza} archive-push %p`);
    expect(Number(setting("archive_timeout"))).toBeGreaterThan(0);
    expect(Number(setting("archive_timeout"))).toBeLessThanOrEqual(60);
    // a promoted standby archives to the same repository
    expect(standby?.command).toEqual(postgres!.command);
    expect(standby?.image).toBe(postgres!.image);
    expect(mountOf(standby!, global["repo1-path"]!)).toBe("pgbackrest");
  });

  it("installs pgBackRest and its configuration, which names the stanza the commands use", () => {
    expect(postgresDockerfile).toMatch(/apt-get install -y --no-install-recommends pgbackrest/);
    expect(postgresDockerfile).toMatch(
      /^COPY .*pgbackrest\.conf \/etc\/pgbackrest\/pgbackrest\.conf$/m,
    );
    expect(postgresDockerfile).toMatch(
      /^COPY .*backup-schedule\.sh \/usr\/local\/bin\/backup-schedule$/m,
    );
    expect(stanza).toBe("mking");
    expect(Object.keys(conf).sort()).toEqual(["global", stanza]);
    expect(schedule).toMatch(new RegExp(`^STANZA=${stanza}$`, "m"));
  });

  it("encrypts the repository with a key from the environment, the same in every service, with no default", () => {
    expect(global["repo1-cipher-type"]).toBe("aes-256-cbc");
    for (const options of Object.values(conf))
      expect(options).not.toHaveProperty("repo1-cipher-pass");
    const services = [postgres!, backup!, standby!];
    for (const service of services) {
      const raw = service.environment!.PGBACKREST_REPO1_CIPHER_PASS!;
      expect(() => interpolate(raw, {})).toThrow(
        /PGBACKREST_REPO1_CIPHER_PASS.*docs\/OPERATIONS\.md/,
      );
      expect(() => interpolate(raw, { PGBACKREST_REPO1_CIPHER_PASS: "" })).toThrow();
      expect(interpolate(raw, { PGBACKREST_REPO1_CIPHER_PASS: "from-env" })).toBe("from-env");
    }
    expect(schedule).toMatch(/: "\$\{PGBACKREST_REPO1_CIPHER_PASS:\?/);
  });

  it("keeps 2 full backups and some differential ones, compressed", () => {
    expect(global["repo1-retention-full"]).toBe("2");
    expect(Number(global["repo1-retention-diff"])).toBeGreaterThanOrEqual(1);
    expect(global["compress-type"]).toMatch(/^(zst|lz4|gz)$/);
  });

  it("puts the repository on the pgbackrest volume, and lets the backup service read the data folder and reach the socket", () => {
    const { volumes } = parse(read("docker-compose.yml")) as { volumes: Record<string, unknown> };
    expect(Object.keys(volumes)).toEqual(
      expect.arrayContaining(["pgdata", "pgbackrest", "pgsocket"]),
    );
    const options = conf[stanza!]!;
    // the official image's PGDATA for its major version, on the pgdata volume in both services
    const major = /^FROM postgres:(\d+)$/m.exec(postgresDockerfile)?.[1];
    expect(options["pg1-path"]).toBe(`/var/lib/postgresql/${major}/docker`);
    for (const service of [postgres!, backup!]) {
      expect(mountOf(service, global["repo1-path"]!)).toBe("pgbackrest");
      expect(mountOf(service, "/var/lib/postgresql")).toBe("pgdata");
      expect(mountOf(service, options["pg1-socket-path"]!)).toBe("pgsocket");
    }
    expect(backup!.volumes).toContain("pgdata:/var/lib/postgresql:ro");
    expect(options["pg1-user"]).toBe(postgres!.environment!.POSTGRES_USER);
  });

  it("schedules weekly full and daily differential backups, each verified, once postgres is healthy", () => {
    expect(backup!.image).toBe(postgres!.image);
    expect(backup!.command).toEqual(["backup-schedule"]);
    expect((backup as Service & { user: string }).user).toBe("postgres");
    expect(backup!.depends_on).toEqual({ postgres: { condition: "service_healthy" } });
    expect(backup!.healthcheck!.test).toEqual(["CMD", "backup-schedule", "health"]);
    expect(schedule).toMatch(/--type="\$1" backup && pgbackrest --stanza="\$STANZA" verify/);
    expect(schedule).toMatch(/then backup full; else backup diff; fi/);
    const env = containerEnv(backup!);
    expect(env.BACKUP_HOUR).toMatch(/^([01]\d|2[0-3])$/);
    expect(env.BACKUP_FULL_WEEKDAY).toMatch(/^[1-7]$/);
  });
});

describe("Dockerfile", () => {
  it("runs on Node 24 and copies everything the service reads at run time", () => {
    expect(dockerfile).toMatch(/^FROM node:24/m);
    // sources of every COPY line: all words but the first (COPY) and the last (destination)
    const copied = dockerfile
      .split("\n")
      .filter((line) => line.startsWith("COPY "))
      .flatMap((line) => line.trim().split(/\s+/).slice(1, -1));
    for (const path of [
      "src",
      "plugins",
      "migrations",
      "policies",
      "graphile.config.ts",
      ".gmrc",
    ]) {
      expect(copied).toContain(path);
    }
  });

  it("lets the service's user write DATA_DIR (the e-mail outbox without SMTP_URL)", () => {
    expect(dockerfile).toMatch(/^RUN mkdir \.data && chown node:node \.data$/m);
    expect(dockerfile.indexOf("chown node:node .data")).toBeLessThan(
      dockerfile.indexOf("USER node"),
    );
    expect(configOf(containerEnv(worker!)).dataDir).toBe("/app/.data");
  });

  it("checks each Node service's health on the port it serves", () => {
    const port = (service: Service, variable: string): string =>
      new RegExp(`127\\.0\\.0\\.1:${service.environment![variable]}/(healthz|readyz)`).exec(
        service.healthcheck!.test.join(" "),
      )?.[1] ?? "none";
    expect(port(api!, "PORT")).toBe("readyz");
    expect(port(worker!, "METRICS_PORT")).toBe("healthz");
    // served on all interfaces inside the container, so the check (and a scraper) can reach it
    expect(worker!.environment!.HOST).toBe("0.0.0.0");
  });
});
