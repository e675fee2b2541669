/**
 * docker-compose.yml and the Dockerfile, checked by reading them (no Docker engine runs here):
 * the services exist with healthchecks, share one image, and pass only variables the service
 * actually reads.
 */
import { readFileSync } from "node:fs";

import { parse } from "yaml";

import { configVariableNames } from "../src/config.ts";

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
