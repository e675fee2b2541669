/** Reads a Prometheus text exposition into samples tests can compare. */

export interface Samples {
  readonly text: string;
  /** The sample's value (0 when absent). */
  value(name: string, labels?: Record<string, string>): number;
  /** Whether the sample exists. */
  has(name: string, labels?: Record<string, string>): boolean;
  /** This value minus the same sample's in `before`. */
  delta(before: Samples, name: string, labels?: Record<string, string>): number;
  /** Every sample of `name`, by label string. */
  all(name: string): Record<string, number>;
}

function key(labels: Record<string, string>): string {
  return Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(",");
}

export function parseSamples(text: string): Samples {
  const byName = new Map<string, Map<string, number>>();
  const families = new Set<string>();
  for (const line of text.split("\n")) {
    // one exposition, however many registries made it: each family and sample once
    const type = /^# TYPE (\S+) /.exec(line);
    if (type) {
      if (families.has(type[1]!)) throw new Error(`metric family ${type[1]} appears twice`);
      families.add(type[1]!);
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    const samples = byName.get(m[1]!) ?? new Map<string, number>();
    if (samples.has(key(labels))) throw new Error(`sample ${m[1]}{${m[2] ?? ""}} appears twice`);
    samples.set(key(labels), Number(m[3]));
    byName.set(m[1]!, samples);
  }
  const samples: Samples = {
    text,
    value: (name, labels = {}) => byName.get(name)?.get(key(labels)) ?? 0,
    has: (name, labels = {}) => byName.get(name)?.has(key(labels)) ?? false,
    delta: (before, name, labels = {}) => samples.value(name, labels) - before.value(name, labels),
    all: (name) => Object.fromEntries(byName.get(name) ?? []),
  };
  return samples;
}

export async function scrape(url: string): Promise<Samples> {
  const response = await fetch(`${url}/metrics`);
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  return parseSamples(await response.text());
}
