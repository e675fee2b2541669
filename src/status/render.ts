/**
 * `npm run status` as one screen of plain text: aligned columns, colour only on a terminal
 * (and never with NO_COLOR set).
 */
import type { Section, StatusReport } from "./collect.ts";

export interface RenderOptions {
  colour: boolean;
  /** Terminal width: long statements are cut to fit. */
  width: number;
}

type Tone = "good" | "bad" | "warn" | "dim";
const CODES: Record<Tone, string> = { good: "32", bad: "31", warn: "33", dim: "2" };

export function bytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export function duration(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${Math.round(seconds / 86_400)} d`;
}

/** Rows as columns padded to the widest cell; `right` columns are aligned right (numbers). */
export function table(rows: string[][], right: ReadonlySet<number> = new Set()): string[] {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) =>
        i === row.length - 1 && !right.has(i)
          ? cell
          : right.has(i)
            ? cell.padStart(widths[i]!)
            : cell.padEnd(widths[i]!),
      )
      .join("  ")
      .trimEnd(),
  );
}

export function renderStatus(report: StatusReport, options: RenderOptions): string {
  const paint = (tone: Tone, text: string): string =>
    options.colour ? `\u001b[${CODES[tone]}m${text}\u001b[0m` : text;
  const out: string[] = [];
  const heading = (title: string): void => {
    out.push("", options.colour ? `\u001b[1m${title}\u001b[0m` : title);
  };
  const indent = (lines: string[]): void => {
    out.push(...lines.map((line) => `  ${line}`));
  };
  const failed = (s: Section<unknown>): s is { ok: false; reason: string } => !s.ok;

  out.push(`MKing Friend status at ${report.at.toISOString()}`);

  heading("Service");
  const { api } = report;
  const apiTone: Tone =
    api.status === "ready" ? "good" : api.status === "not checked" ? "dim" : "bad";
  const workerLine = ((): string => {
    if (failed(report.workers)) return paint("bad", `unknown (${report.workers.reason})`);
    const alive = report.workers.value.filter((w) => w.alive);
    if (alive.length === 0) {
      const last = report.workers.value[0];
      return paint(
        "bad",
        last ? `none alive (last heartbeat ${duration(last.secondsSinceBeat)} ago)` : "none alive",
      );
    }
    const pools = alive
      .map(
        (w) => `${w.hostname ?? "?"} pid ${w.pid ?? "?"}, beat ${duration(w.secondsSinceBeat)} ago`,
      )
      .join("; ");
    return `${paint("good", `${alive.length} alive`)}: ${pools}`;
  })();
  indent(
    table([
      ["API", `${paint(apiTone, api.status)} (${api.detail})${api.url ? ` ${api.url}` : ""}`],
      ["Worker", workerLine],
    ]),
  );

  heading("Database");
  if (failed(report.database)) {
    indent([paint("bad", report.database.reason)]);
  } else {
    const db = report.database.value;
    const used = db.connections.reduce((sum, c) => sum + c.count, 0);
    indent(
      table([
        ["Name", `${db.name} (PostgreSQL ${db.version})`],
        ["Size", bytes(db.sizeBytes)],
        [
          "Connections",
          `${used} of max ${db.maxConnections}: ` +
            db.connections.map((c) => `${c.state} ${c.count}`).join(", "),
        ],
        [
          "Longest transaction",
          paint(
            db.longestTransactionSeconds > 600 ? "warn" : "good",
            duration(db.longestTransactionSeconds),
          ),
        ],
      ]),
    );
    indent(
      table(
        [
          ["Biggest tables", "size", "rows", "dead"],
          ...db.tables.map((t) => [
            `  ${t.name}`,
            bytes(t.bytes),
            String(t.liveRows),
            String(t.deadRows),
          ]),
        ],
        new Set([1, 2, 3]),
      ),
    );
  }

  heading("Slowest statements (pg_stat_statements, by mean time)");
  if (failed(report.statements)) {
    indent([paint("dim", report.statements.reason)]);
  } else if (report.statements.value.length === 0) {
    indent(["none recorded yet"]);
  } else {
    const rows = [
      ["mean ms", "calls", "total ms", "statement"],
      ...report.statements.value.map((s) => [
        s.meanMs.toFixed(1),
        String(s.calls),
        s.totalMs.toFixed(0),
        s.query,
      ]),
    ];
    const lines = table(rows, new Set([0, 1, 2]));
    indent(
      lines.map((line) =>
        line.length > options.width - 3 ? `${line.slice(0, options.width - 4)}…` : line,
      ),
    );
  }

  heading("Job queue");
  if (failed(report.queue)) {
    indent([paint("bad", report.queue.reason)]);
  } else {
    const { rows, oldestReadySeconds } = report.queue.value;
    const states = ["ready", "scheduled", "running", "retrying", "failed"];
    const tasks = [...new Set(rows.map((r) => r.task))].sort();
    const count = (task: string, state: string): number =>
      rows.find((r) => r.task === task && r.state === state)?.jobs ?? 0;
    if (tasks.length === 0) indent(["empty"]);
    else
      indent(
        table(
          [
            ["task", ...states],
            ...tasks.map((task) => [task, ...states.map((state) => String(count(task, state)))]),
          ],
          new Set([1, 2, 3, 4, 5]),
        ),
      );
    indent([
      `oldest ready job: ${paint(oldestReadySeconds > 300 ? "bad" : "good", duration(oldestReadySeconds))}`,
    ]);
  }

  heading("Last backup");
  if (failed(report.backup)) {
    indent([paint("bad", report.backup.reason)]);
  } else if (report.backup.value.finishedAt === null) {
    indent([paint("warn", "no backups found")]);
  } else {
    const { finishedAt, count } = report.backup.value;
    const age = (report.at.getTime() - finishedAt.getTime()) / 1000;
    indent([
      `${paint(age > 26 * 3600 ? "bad" : "good", finishedAt.toISOString())} (${duration(age)} ago; ${count} base backup${count === 1 ? "" : "s"} kept)`,
    ]);
  }
  return out.join("\n") + "\n";
}
