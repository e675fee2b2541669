/**
 * `npm run soak -- [--minutes N] [--seed S] [--users U] [--out FILE]`: the chaos soak
 * (soak/soak.ts). Prints progress and the summary; `--out FILE` also writes FILE.json and
 * FILE.md (the section for BENCHMARKS.md). Exits 1 when an invariant broke.
 *
 * DATABASE_URL (an empty database, as its owner) runs against your own server; PostgreSQL is then
 * never restarted. Without it the soak boots its own embedded server under .data/soak-<pid>.
 */
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";

// before Grafast loads (the token service imports it): no development-mode warning
process.env.GRAPHILE_ENV ??= "production";
const { toMarkdown } = await import("./report.ts");
const { runSoak } = await import("./soak.ts");
const { FAULT_KINDS } = await import("./faults.ts");
type FaultKind = (typeof FAULT_KINDS)[number];

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "10" },
    seed: { type: "string" },
    users: { type: "string", default: "30" },
    "think-ms": { type: "string", default: "150" },
    "fault-gap": { type: "string", default: "10-30" },
    scale: { type: "string", default: "0.002" },
    out: { type: "string" },
    faults: { type: "string" },
  },
});

const minutes = Number(values.minutes);
const users = Number(values.users);
const [gapMin, gapMax] = (values["fault-gap"] ?? "").split("-").map((s) => Number(s) * 1000);
if (!(minutes > 0) || !(users >= 8) || !(gapMin! > 0) || !(gapMax! >= gapMin!)) {
  process.stderr.write(
    "usage: npm run soak -- [--minutes N>0] [--seed S] [--users U>=8] [--fault-gap MIN-MAX seconds] [--out FILE]\n",
  );
  process.exit(2);
}
const unknownFault = values.faults
  ?.split(",")
  .find((k) => !(FAULT_KINDS as readonly string[]).includes(k));
if (unknownFault) {
  process.stderr.write(`soak: unknown fault "${unknownFault}"; known: ${FAULT_KINDS.join(", ")}\n`);
  process.exit(2);
}
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
process.stderr.write(`soak: seed ${seed} (replay its faults with --seed ${seed})\n`);

let interrupted = false;
process.once("SIGINT", () => {
  interrupted = true;
  process.stderr.write("soak: interrupted; stopping what it started\n");
  process.exit(130);
});

const report = await runSoak({
  minutes,
  seed,
  users,
  thinkMs: Number(values["think-ms"]),
  faultGap: { min: gapMin!, max: gapMax! },
  scale: Number(values.scale),
  faultPlan: values.faults ? (values.faults.split(",") as FaultKind[]) : undefined,
  databaseUrl: process.env.DATABASE_URL?.trim() || null,
  say: (line) => process.stderr.write(`soak: ${line}\n`),
});
const markdown = toMarkdown(report);
process.stdout.write(markdown);
if (values.out) {
  const base = values.out.replace(/\.(json|md)$/, "");
  await writeFile(`${base}.json`, JSON.stringify(report, null, 2) + "\n");
  await writeFile(`${base}.md`, markdown);
  process.stderr.write(`soak: wrote ${base}.json and ${base}.md\n`);
}
if (!interrupted) process.exit(report.ok ? 0 : 1);
