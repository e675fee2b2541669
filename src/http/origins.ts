/**
 * CORS_ORIGINS: which browser origins may call the API. Each entry is an origin
 * (`https://app.example.com`, `http://localhost:5173`), optionally with `*` as the port
 * (`http://localhost:*`: any port, or none) or as the first label of the host
 * (`https://*.example.com`: any subdomain, not the bare domain). Nothing else: no paths, no `*`
 * alone. Pure, so src/config.ts validates the list at start-up with the same rules.
 */

/** The development default: the local machine on any port. Production's default is none. */
export const DEVELOPMENT_ORIGINS: readonly string[] = Object.freeze([
  "http://localhost:*",
  "http://127.0.0.1:*",
  "http://[::1]:*",
]);

const ENTRY =
  /^(https?):\/\/(\*\.)?((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::(\*|\d{1,5}))?$/;

const DEFAULT_PORTS: Readonly<Record<string, string>> = { http: "80", https: "443" };

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Why `entry` is not a valid CORS_ORIGINS entry, or null when it is. */
export function originEntryProblem(entry: string): string | null {
  const m = ENTRY.exec(entry.toLowerCase());
  if (!m) {
    return `"${entry}" is not an origin like https://app.example.com, http://localhost:* or https://*.example.com (no path, no trailing slash)`;
  }
  const port = m[4];
  if (port !== undefined && port !== "*" && Number(port) > 65535) {
    return `"${entry}" has a port above 65535`;
  }
  return null;
}

/** Splits a CORS_ORIGINS value (commas and/or spaces) into its entries. */
export function splitOriginList(value: string): string[] {
  return value.split(/[\s,]+/).filter((entry) => entry !== "");
}

function entryPattern(entry: string): string {
  const m = ENTRY.exec(entry.toLowerCase());
  if (!m) throw new Error(`invalid CORS origin entry: ${entry}`);
  const [, scheme = "", wildcardSubdomain, host = "", port] = m;
  const hostPattern = (wildcardSubdomain ? "(?:[a-z0-9-]+\\.)+" : "") + escape(host);
  const portPattern =
    port === "*"
      ? "(?::\\d{1,5})?"
      : port === undefined || port === DEFAULT_PORTS[scheme]
        ? ""
        : `:${port}`;
  return `${scheme}://${hostPattern}${portPattern}`;
}

/** Answers whether a request's `Origin` header is on the list. */
export type OriginMatcher = (origin: string) => boolean;

export function originMatcher(entries: readonly string[]): OriginMatcher {
  if (entries.length === 0) return () => false;
  const pattern = new RegExp(`^(?:${entries.map(entryPattern).join("|")})$`);
  return (origin) => {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false; // e.g. "null" (sandboxed frames, file://)
    }
    // Browsers send the serialized origin exactly; anything else is not a browser's Origin.
    return url.origin === origin.toLowerCase() && pattern.test(url.origin);
  };
}
