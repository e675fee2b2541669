/**
 * The pure parts of `npm run bench:scaleout` (bench/scaleout.ts): its arguments, the reduction
 * of alternated load runs to medians against a baseline, the read routing counters read from an
 * API's /metrics, PgBouncer's configuration, and the Markdown block. The bench itself needs
 * PgBouncer and a standby and minutes of load: it is run by hand, not here.
 */
import {
  DEFAULT_CASES,
  parseScaleoutArgs,
  ScaleoutArgsError,
} from "../../bench/harness/scaleoutArgs.ts";
import { pgbouncerIni } from "../../bench/harness/scaleoutPgBouncer.ts";
import {
  markdown,
  parseRouted,
  percentChange,
  replicaShare,
  summariseCase,
  type ScaleoutRun,
} from "../../bench/harness/scaleoutReport.ts";

describe("bench:scaleout arguments", () => {
  it("defaults to both comparisons, the default cases and its own port range", () => {
    const o = parseScaleoutArgs([]);
    expect(o).toEqual({
      scale: 1,
      seconds: 5,
      runs: 3,
      concurrency: 8,
      cases: [...DEFAULT_CASES],
      pooler: true,
      replica: true,
      ports: { pgbouncer: 56182, standby: 56181, metrics: 56183 },
      poolerServerConnections: 10,
    });
  });

  it("takes cases, switches and ports", () => {
    const o = parseScaleoutArgs([
      "--cases",
      "profile, post_detail,profile",
      "--no-replica",
      "--seconds",
      "2.5",
      "--pgbouncer-port",
      "56189",
    ]);
    expect(o.cases).toEqual(["profile", "post_detail"]);
    expect(o.replica).toBe(false);
    expect(o.pooler).toBe(true);
    expect(o.seconds).toBe(2.5);
    expect(o.ports.pgbouncer).toBe(56189);
  });

  it.each([
    [["--cases", "like_unlike"], /unknown case like_unlike/],
    [["--cases", ","], /lists no case/],
    [["--runs", "1.5"], /--runs must be a positive whole number/],
    [["--seconds", "0"], /--seconds must be a positive number/],
    [["--no-pooler", "--no-replica"], /nothing to measure/],
    [["--standby-port", "80"], /--standby-port must be 1024/],
    [["--metrics-port", "56182"], /must differ/],
    [["--bogus"], /Unknown option '--bogus'/],
  ])("refuses %j", (args, message) => {
    expect(() => parseScaleoutArgs(args)).toThrow(ScaleoutArgsError);
    expect(() => parseScaleoutArgs(args)).toThrow(message);
  });
});

describe("bench:scaleout figures", () => {
  const run = (rps: number, p50: number, p95: number, errors = 0) => ({ rps, p50, p95, errors });

  it("reduces each arm to medians and sets it against the baseline", () => {
    const c = summariseCase("profile", "Profile page", "direct", [
      {
        arm: "direct",
        label: "direct pool",
        runs: [run(100, 5, 9), run(120, 4, 8), run(80, 6, 12)],
      },
      {
        arm: "pgbouncer",
        label: "through PgBouncer",
        runs: [run(90, 6, 10), run(70, 7, 14, 2), run(95, 5, 9)],
      },
    ]);
    expect(c.arms.map((a) => [a.arm, a.rps, a.p50, a.p95, a.errors, a.vsBaseline])).toEqual([
      ["direct", 100, 5, 9, 0, 1],
      ["pgbouncer", 90, 6, 10, 2, 0.9],
    ]);
    expect(c.arms[1]!.runs).toHaveLength(3);
  });

  it("has no ratio without a measured baseline", () => {
    const c = summariseCase("x", "X", "missing", [{ arm: "a", label: "A", runs: [run(10, 1, 2)] }]);
    expect(c.arms[0]!.vsBaseline).toBeNull();
  });

  it("reads the routing counters of /metrics", () => {
    const text = [
      "# HELP mking_db_reads_routed_total Query operations by target.",
      "# TYPE mking_db_reads_routed_total counter",
      'mking_db_reads_routed_total{target="primary"} 12',
      'mking_db_reads_routed_total{target="replica"} 3408',
      'mking_db_read_replica_in_rotation{replica="127.0.0.1:56181"} 1',
    ].join("\n");
    expect(parseRouted(text)).toEqual({ primary: 12, replica: 3408 });
    expect(parseRouted("")).toEqual({ primary: 0, replica: 0 });
  });

  it("formats shares and changes", () => {
    expect(replicaShare({ primary: 25, replica: 75 })).toBe("75 % (75 of 100)");
    expect(replicaShare({ primary: 0, replica: 0 })).toBe("none counted");
    expect(replicaShare(null)).toBe("–");
    expect(percentChange(0.9)).toBe("-10.0 %");
    expect(percentChange(1.0234)).toBe("+2.3 %");
    expect(percentChange(null)).toBe("–");
  });

  it("prints one table per comparison, the notes and the replica share where counted", () => {
    const result: ScaleoutRun = {
      startedAt: "2026-12-01T10:00:00.000Z",
      machine: "2 CPUs, 23 GB, Node v24, shared with other work",
      postgres: "PostgreSQL 18.1",
      pgbouncer: "PgBouncer 1.18.0",
      settings: { scale: 1, connections: 8 },
      comparisons: [
        {
          id: "pooler",
          title: "Direct vs PgBouncer",
          baseline: "direct",
          notes: ["one API instance"],
          cases: [
            summariseCase("profile", "Profile", "direct", [
              { arm: "direct", label: "direct pool", runs: [run(200, 3, 6)] },
              { arm: "pgbouncer", label: "through PgBouncer", runs: [run(150, 4, 8)] },
            ]),
          ],
        },
        {
          id: "replica",
          title: "Primary vs replica",
          baseline: "primary",
          notes: ["2 cores: no CPU added"],
          cases: [
            summariseCase("profile", "Profile", "primary", [
              { arm: "primary", label: "primary only", runs: [run(100, 3, 6)] },
              {
                arm: "replica",
                label: "with replica",
                runs: [run(110, 3, 6)],
                routed: { primary: 1, replica: 9 },
              },
            ]),
          ],
        },
      ],
    };
    const text = markdown(result);
    expect(text).toContain("### Scale-out: PgBouncer and a read replica (2026-12-01)");
    expect(text).toContain("PostgreSQL 18.1; PgBouncer 1.18.0.");
    expect(text).toContain("noisy");
    expect(text).toContain("- one API instance");
    expect(text).toContain("| profile | direct pool | 200 | baseline | 3 | 6 | 0 |");
    expect(text).toContain("| profile | through PgBouncer | 150 | -25.0 % | 4 | 8 | 0 |");
    // the routing column only where an arm counted its routing
    expect(text).toContain("| profile | primary only | 100 | baseline | 3 | 6 | 0 | – |");
    expect(text).toContain(
      "| profile | with replica | 110 | +10.0 % | 3 | 6 | 0 | 90 % (9 of 10) |",
    );
    expect(text.split("reads on the replica")).toHaveLength(2);
  });
});

describe("bench:scaleout PgBouncer configuration", () => {
  it("pools transactions on the loopback, with the given sizes and users", () => {
    const ini = pgbouncerIni({
      port: 56182,
      upstreamPort: 56180,
      database: "mking_friend_bench",
      users: [{ name: "mking_owner", password: "x" }],
      serverConnections: 10,
      statsUser: "mking_owner",
      authFile: "/tmp/u.txt",
    });
    expect(ini).toContain(
      "mking_friend_bench = host=127.0.0.1 port=56180 dbname=mking_friend_bench",
    );
    for (const line of [
      "listen_addr = 127.0.0.1",
      "listen_port = 56182",
      "pool_mode = transaction",
      "default_pool_size = 10",
      "auth_file = /tmp/u.txt",
      "stats_users = mking_owner",
      "server_reset_query =",
    ]) {
      expect(ini.split("\n")).toContain(line);
    }
  });
});
