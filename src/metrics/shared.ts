/**
 * Metrics the main thread records into shared memory, for the metrics thread to read and
 * render (src/metrics/thread.ts): the request path's counters, gauges and histograms cost a map
 * lookup and a few additions on the main thread, and a scrape costs it nothing but the few
 * gauges read when scraped (`collect`). prom-client runs only on the metrics thread.
 *
 * The main side (`SharedRegistry`) owns the values: pages of `SharedArrayBuffer`, one slot per
 * counter or gauge series, buckets and sum per histogram series. What the values mean (the
 * families, each series' labels and where its slots are) is told to the reader by
 * announcements: all of them at once when a reader starts (`snapshot`), then each new one as it
 * happens (`subscribe`). The reader (`SharedView`) registers each family on a prom-client
 * registry as a metric of its own that reads the slots when rendered.
 *
 * Reads race with writes: a scrape may see a histogram's bucket counted and its sum not yet
 * (the next scrape is whole again); `_count` and the `+Inf` bucket are the sum of the buckets
 * read, so they always agree. An aligned 8-byte slot is written in one instruction on the 64-bit
 * machines Node runs on, so a value is never read half-written.
 */
import type { Metric, Registry } from "prom-client";

export type FamilyType = "counter" | "gauge" | "histogram";

export interface FamilySpec {
  readonly name: string;
  readonly help: string;
  readonly type: FamilyType;
  readonly labelNames: readonly string[];
  /** Histograms: the upper bounds, ascending (+Inf is implied). */
  readonly buckets: readonly number[];
}

export interface SeriesSpec {
  readonly family: string;
  readonly labels: readonly string[];
  readonly page: number;
  readonly offset: number;
}

/** What the reader learns, in order (a page before the series in it, a family before its series). */
export type Announcement =
  | { readonly kind: "page"; readonly buffer: SharedArrayBuffer }
  | { readonly kind: "family"; readonly family: FamilySpec }
  | { readonly kind: "series"; readonly series: SeriesSpec }
  | { readonly kind: "removed"; readonly family: string };

/** Slots per page (64 KiB): ~580 histogram series of 11 buckets. */
const PAGE_SLOTS = 8192;

/** Slots a series of `spec` takes: one value, or each bucket, +Inf and the sum. */
function slotsOf(spec: FamilySpec): number {
  return spec.type === "histogram" ? spec.buckets.length + 2 : 1;
}

/** One counter or gauge series: its slot. */
export class Series {
  readonly #values: Float64Array;
  readonly #at: number;

  constructor(values: Float64Array, at: number) {
    this.#values = values;
    this.#at = at;
  }

  inc(n = 1): void {
    this.#values[this.#at]! += n;
  }

  dec(n = 1): void {
    this.#values[this.#at]! -= n;
  }

  set(value: number): void {
    this.#values[this.#at] = value;
  }
}

/** One histogram series: per-bucket counts (the last is +Inf), then the sum. */
export class HistogramSeries {
  readonly #values: Float64Array;
  readonly #at: number;
  readonly #bounds: readonly number[];

  constructor(values: Float64Array, at: number, bounds: readonly number[]) {
    this.#values = values;
    this.#at = at;
    this.#bounds = bounds;
  }

  observe(value: number): void {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i += 1;
    this.#values[this.#at + i]! += 1;
    this.#values[this.#at + bounds.length + 1]! += value;
  }
}

interface Allocator {
  allocate(family: FamilySpec, labels: readonly string[]): { values: Float64Array; at: number };
}

/** A family's series by their label values (in the order of its label names). */
class Family<S> {
  readonly spec: FamilySpec;
  readonly #allocator: Allocator;
  readonly #make: (values: Float64Array, at: number) => S;
  readonly #series = new Map<string, S>();
  readonly #slots: { values: Float64Array; at: number }[] = [];

  constructor(spec: FamilySpec, allocator: Allocator, make: (v: Float64Array, at: number) => S) {
    this.spec = spec;
    this.#allocator = allocator;
    this.#make = make;
  }

  /** The series for these label values (created, at zero, the first time). */
  series(values: readonly string[]): S {
    const key = values.length === 1 ? values[0]! : values.join("\u0000");
    let series = this.#series.get(key);
    if (series === undefined) {
      if (values.length !== this.spec.labelNames.length)
        throw new TypeError(
          `${this.spec.name}: ${this.spec.labelNames.length} label values expected`,
        );
      const slot = this.#allocator.allocate(this.spec, values);
      series = this.#make(slot.values, slot.at);
      this.#series.set(key, series);
      this.#slots.push(slot);
    }
    return series;
  }

  /** Gauges: every series goes absent until set again (what a collection did not see is gone). */
  clear(): void {
    for (const { values, at } of this.#slots) values[at] = Number.NaN;
  }
}

export type CounterFamily = Family<Series>;
export type GaugeFamily = Family<Series>;
export type HistogramFamily = Family<HistogramSeries>;

interface FamilyOptions {
  name: string;
  help: string;
  labelNames?: readonly string[];
}

interface CollectedOptions<F> extends FamilyOptions {
  /** Sets the family's values from what the main thread knows, each time it is scraped. */
  collect?: (family: F) => void;
}

/** The main thread's side: defines families, owns the values, tells the readers. */
export class SharedRegistry implements Allocator {
  readonly #buffers: SharedArrayBuffer[] = [];
  #page: Float64Array = new Float64Array(0);
  #used = 0;
  readonly #families = new Map<string, FamilySpec>();
  readonly #series: SeriesSpec[] = [];
  readonly #collectors = new Map<string, () => void>();
  readonly #readers = new Set<(announcement: Announcement) => void>();

  counter(options: CollectedOptions<CounterFamily>): CounterFamily {
    return this.#define(options, "counter", [], (v, at) => new Series(v, at));
  }

  gauge(options: CollectedOptions<GaugeFamily>): GaugeFamily {
    return this.#define(options, "gauge", [], (v, at) => new Series(v, at));
  }

  histogram(options: FamilyOptions & { buckets: readonly number[] }): HistogramFamily {
    const bounds = [...options.buckets].sort((a, b) => a - b);
    return this.#define(
      options,
      "histogram",
      bounds,
      (v, at) => new HistogramSeries(v, at, bounds),
    );
  }

  #define<S>(
    options: CollectedOptions<Family<S>>,
    type: FamilyType,
    buckets: readonly number[],
    make: (values: Float64Array, at: number) => S,
  ): Family<S> {
    if (this.#families.has(options.name))
      throw new Error(`a metric named ${options.name} is already registered`);
    const spec: FamilySpec = {
      name: options.name,
      help: options.help,
      type,
      labelNames: [...(options.labelNames ?? [])],
      buckets,
    };
    this.#families.set(spec.name, spec);
    this.#tell({ kind: "family", family: spec });
    const family = new Family<S>(spec, this, make);
    // an unlabelled family has its one series from the start (at zero), as prom-client's
    if (spec.labelNames.length === 0) family.series([]);
    const { collect } = options;
    if (collect) this.#collectors.set(spec.name, () => collect(family));
    return family;
  }

  /** Stops exporting a family (its slots are not reused). */
  remove(name: string): void {
    if (!this.#families.delete(name)) return;
    this.#collectors.delete(name);
    for (let i = this.#series.length - 1; i >= 0; i -= 1) {
      if (this.#series[i]!.family === name) this.#series.splice(i, 1);
    }
    this.#tell({ kind: "removed", family: name });
  }

  /** Runs the families' `collect` (at each scrape, before the reader renders). */
  collect(): void {
    for (const collect of this.#collectors.values()) collect();
  }

  /** Everything a new reader needs to know, in order. */
  snapshot(): Announcement[] {
    return [
      ...this.#buffers.map((buffer) => ({ kind: "page", buffer }) as const),
      ...[...this.#families.values()].map((family) => ({ kind: "family", family }) as const),
      ...this.#series.map((series) => ({ kind: "series", series }) as const),
    ];
  }

  /**
   * Tells `reader` each announcement from now on (take the `snapshot` in the same turn), until
   * the returned function is called.
   */
  subscribe(reader: (announcement: Announcement) => void): () => void {
    this.#readers.add(reader);
    return () => this.#readers.delete(reader);
  }

  /** @internal A series' slots (Family calls it for a new series). */
  allocate(family: FamilySpec, labels: readonly string[]): { values: Float64Array; at: number } {
    const size = slotsOf(family);
    if (this.#used + size > this.#page.length) {
      const buffer = new SharedArrayBuffer(PAGE_SLOTS * Float64Array.BYTES_PER_ELEMENT);
      this.#buffers.push(buffer);
      this.#page = new Float64Array(buffer);
      this.#used = 0;
      this.#tell({ kind: "page", buffer });
    }
    const at = this.#used;
    this.#used += size;
    // a family removed while someone still holds it: its new series are written, never read
    if (this.#families.get(family.name) !== family) return { values: this.#page, at };
    const series: SeriesSpec = {
      family: family.name,
      labels: [...labels],
      page: this.#buffers.length - 1,
      offset: at,
    };
    this.#series.push(series);
    this.#tell({ kind: "series", series });
    return { values: this.#page, at };
  }

  #tell(announcement: Announcement): void {
    for (const reader of this.#readers) reader(announcement);
  }
}

interface ExportedValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/** A family as prom-client's registry renders it: its samples read from the slots. */
class SharedMetric {
  readonly name: string;
  readonly help: string;
  readonly type: FamilyType;
  readonly aggregator = "sum";
  readonly #spec: FamilySpec;
  readonly #series: { labels: Record<string, string>; values: Float64Array; at: number }[] = [];

  constructor(spec: FamilySpec) {
    this.#spec = spec;
    this.name = spec.name;
    this.help = spec.help;
    this.type = spec.type;
  }

  add(labels: readonly string[], values: Float64Array, at: number): void {
    const named: Record<string, string> = {};
    this.#spec.labelNames.forEach((name, i) => (named[name] = labels[i] ?? ""));
    this.#series.push({ labels: named, values, at });
  }

  get(): Promise<{
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: ExportedValue[];
  }> {
    const values: ExportedValue[] = [];
    const { buckets } = this.#spec;
    for (const s of this.#series) {
      if (this.type !== "histogram") {
        const value = s.values[s.at]!;
        if (!Number.isNaN(value)) values.push({ labels: s.labels, value });
        continue;
      }
      const bucket = `${this.name}_bucket`;
      let cumulative = 0;
      buckets.forEach((le, i) => {
        cumulative += s.values[s.at + i]!;
        values.push({ labels: { ...s.labels, le }, value: cumulative, metricName: bucket });
      });
      cumulative += s.values[s.at + buckets.length]!;
      values.push({ labels: { ...s.labels, le: "+Inf" }, value: cumulative, metricName: bucket });
      const sum = s.values[s.at + buckets.length + 1]!;
      values.push({ labels: s.labels, value: sum, metricName: `${this.name}_sum` });
      values.push({ labels: s.labels, value: cumulative, metricName: `${this.name}_count` });
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    });
  }

  /** prom-client's `resetMetrics`: the values are the main thread's, not the reader's. */
  reset(): void {}
}

/** The reader's side (the metrics thread): the main thread's families on a prom-client registry. */
export class SharedView {
  readonly #registry: Registry;
  readonly #pages: Float64Array[] = [];
  readonly #metrics = new Map<string, SharedMetric>();

  constructor(registry: Registry, announcements: readonly Announcement[] = []) {
    this.#registry = registry;
    for (const a of announcements) this.apply(a);
  }

  apply(announcement: Announcement): void {
    switch (announcement.kind) {
      case "page":
        this.#pages.push(new Float64Array(announcement.buffer));
        return;
      case "family": {
        const metric = new SharedMetric(announcement.family);
        this.#metrics.set(metric.name, metric);
        this.#registry.registerMetric(metric as unknown as Metric);
        return;
      }
      case "series": {
        const { family, labels, page, offset } = announcement.series;
        const values = this.#pages[page];
        const metric = this.#metrics.get(family);
        if (values && metric) metric.add(labels, values, offset);
        return;
      }
      case "removed":
        if (this.#metrics.delete(announcement.family))
          this.#registry.removeSingleMetric(announcement.family);
        return;
    }
  }
}
