/** Small, pure helpers for PostgreSQL connection URLs. */

export interface UrlParts {
  user?: string;
  password?: string;
  database?: string;
}

/** Returns `url` with the given parts replaced (values are percent-encoded). */
export function withUrlParts(url: string, parts: UrlParts): string {
  const u = new URL(url);
  if (parts.user !== undefined) u.username = encodeURIComponent(parts.user);
  if (parts.password !== undefined) u.password = encodeURIComponent(parts.password);
  if (parts.database !== undefined) u.pathname = "/" + encodeURIComponent(parts.database);
  return u.toString();
}

export function databaseNameOf(url: string): string {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, ""));
}

export function userOf(url: string): string {
  return decodeURIComponent(new URL(url).username);
}

/** The URL with its password replaced by `***`, for logs. */
export function redactUrl(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = "***";
  return u.toString();
}
