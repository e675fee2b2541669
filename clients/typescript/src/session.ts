/**
 * What a signed-in client holds: the short-lived access token, the single-use refresh token and
 * who it is; and where it keeps them between page loads (a `SessionStore`).
 */
export interface SessionUser {
  id: string;
  username: string | null;
  displayName: string | null;
  avatarUrl: string | null;
}

export interface Session {
  accessToken: string;
  refreshToken: string;
  user: SessionUser | null;
}

/** Where the session is kept: memory by default; the example app uses localStorage. */
export interface SessionStore {
  load(): Session | null;
  save(session: Session | null): void;
}

export function memoryStore(initial: Session | null = null): SessionStore {
  let session = initial;
  return {
    load: () => session,
    save: (next) => {
      session = next;
    },
  };
}

/** The part of the Web Storage API (`localStorage`, `sessionStorage`) the store uses. */
export interface WebStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** A store in a Web Storage object (`localStorage`), under `key`. */
export function webStorageStore(storage: WebStorage, key = "mking.session"): SessionStore {
  return {
    load() {
      const raw = storage.getItem(key);
      if (!raw) return null;
      try {
        return JSON.parse(raw) as Session;
      } catch {
        return null;
      }
    },
    save(session) {
      if (session) storage.setItem(key, JSON.stringify(session));
      else storage.removeItem(key);
    },
  };
}

/** The access token's issue and expiry times (ms since the epoch), read from its claims. */
export function tokenTimes(accessToken: string): { issuedAt: number; expiresAt: number } | null {
  const payload = accessToken.split(".")[1];
  if (!payload) return null;
  try {
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
    const claims = JSON.parse(json) as { iat?: unknown; exp?: unknown };
    if (typeof claims.iat !== "number" || typeof claims.exp !== "number") return null;
    return { issuedAt: claims.iat * 1000, expiresAt: claims.exp * 1000 };
  } catch {
    return null;
  }
}
