/**
 * docker-compose.yml and the Dockerfile, checked by reading them (no Docker engine runs here):
 * the services exist with healthchecks, share one image, pass only variables the service
 * actually reads, and — resolved as `docker compose` resolves them — hand each container an
 * environment that src/config.ts accepts in production.
 */
import { readFileSync } from "node:fs";

import { parse } from "yaml";

import { ConfigError, configVariableNames, loadConfig, type Config } from "../src/config.ts";

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
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
    Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), dotenv)]),
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
  it("has postgres, api and worker, each with a healthcheck", () => {
    expect(Object.keys(compose.services).sort()).toEqual(["api", "postgres", "worker"]);
    for (const service of [postgres, api, worker])
      expect(service?.healthcheck?.test.length).toBeGreaterThan(0);
  });

  it("runs a current PostgreSQL", () => {
    expect(Number(/^postgres:(\d+)/.exec(postgres!.image ?? "")?.[1])).toBeGreaterThanOrEqual(15);
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
    expect(api!.depends_on).toEqual({ postgres: { condition: "service_healthy" } });
    expect(worker!.depends_on).toEqual({ api: { condition: "service_healthy" } });
    expect(api!.environment!.MIGRATE_ON_START).toBe("true");
    expect(worker!.environment!.MIGRATE_ON_START).toBe("false");
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
