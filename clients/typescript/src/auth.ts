/**
 * The session: sign up, in and out, and keeping the access token fresh.
 *
 * - Before expiry: a timer refreshes when `refreshMargin` of the token's lifetime is left
 *   (default 0.2: at 12 of 15 minutes), and a request made with a token the clock says has
 *   expired refreshes first.
 * - On refusal: a request answered 401 UNAUTHENTICATED (expired or invalid token: a clock that
 *   drifted, a laptop that slept through the timer) refreshes once and is retried once; `revoked`
 *   (the session was ended elsewhere) signs out.
 * - Refresh tokens are single use and presenting one twice ends the session (theft detection),
 *   so at most one refresh runs at a time and everyone waiting shares its result.
 */
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";

import { ApiError } from "./errors.ts";
import {
  LoginDocument,
  LogoutDocument,
  RefreshTokenDocument,
  RegisterDocument,
  type RegisterInput,
  type SessionFieldsFragment,
} from "./generated/graphql.ts";
import { tokenTimes, type Session, type SessionStore } from "./session.ts";
import { postOperation, type Fetch } from "./transport.ts";

export type SessionChange = "signed-in" | "refreshed" | "signed-out";

export interface AuthOptions {
  endpoint: string;
  fetch: Fetch;
  store: SessionStore;
  /** Refresh ahead of expiry (timer, and before a request with an expired token). Default true. */
  autoRefresh: boolean;
  /** The part of the token's lifetime left when the timer refreshes (0 < margin < 1). */
  refreshMargin: number;
}

type Timer = ReturnType<typeof setTimeout>;

export class Auth {
  private session: Session | null;
  private refreshing: Promise<string> | null = null;
  private timer: Timer | null = null;
  private readonly listeners = new Set<(change: SessionChange, session: Session | null) => void>();
  private readonly options: AuthOptions;

  constructor(options: AuthOptions) {
    this.options = options;
    this.session = options.store.load();
    this.schedule();
  }

  get current(): Session | null {
    return this.session;
  }

  /** Calls `listener` on every sign-in, refresh and sign-out; returns the unsubscribe. */
  onChange(listener: (change: SessionChange, session: Session | null) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async signUp(input: RegisterInput): Promise<Session> {
    const data = await this.call(RegisterDocument, { input }, null);
    return this.begin(data.register);
  }

  async signIn(email: string, password: string): Promise<Session> {
    const data = await this.call(LoginDocument, { input: { email, password } }, null);
    return this.begin(data.login);
  }

  /** Ends the session on the server (its tokens stop working at once) and forgets it here. */
  async signOut(): Promise<void> {
    const session = this.session;
    this.set(null, "signed-out");
    if (!session) return;
    try {
      await this.call(LogoutDocument, { refreshToken: session.refreshToken }, null);
    } catch (error) {
      // an already-ended session is signed out all the same
      if (!(error instanceof ApiError)) throw error;
    }
  }

  /** The access token to send now, refreshed first if the clock says it has expired. */
  async accessToken(): Promise<string | null> {
    if (this.refreshing) return this.refreshing;
    const session = this.session;
    if (!session) return null;
    const times = tokenTimes(session.accessToken);
    if (this.options.autoRefresh && times && times.expiresAt <= Date.now()) {
      return this.refresh();
    }
    return session.accessToken;
  }

  /**
   * `stale` was refused as expired or invalid: refresh (unless that already happened since it
   * was handed out) and return the new token. Throws, signed out, if the session is over.
   */
  async afterRefusal(stale: string): Promise<string> {
    if (this.refreshing) return this.refreshing;
    const session = this.session;
    if (!session) throw signedOut();
    if (session.accessToken !== stale) return session.accessToken;
    return this.refresh();
  }

  /** The session was ended elsewhere (`revoked`): forget it. */
  ended(): void {
    if (this.session) this.set(null, "signed-out");
  }

  /** Exchanges the refresh token for new tokens; one exchange at a time. */
  refresh(): Promise<string> {
    this.refreshing ??= this.exchange().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private async exchange(): Promise<string> {
    const session = this.session;
    if (!session) throw signedOut();
    let data;
    try {
      data = await this.call(RefreshTokenDocument, { refreshToken: session.refreshToken }, null);
    } catch (error) {
      // refused (used, expired or ended): the session is over; a network error keeps it
      if (error instanceof ApiError && this.session === session) this.set(null, "signed-out");
      throw error;
    }
    const next = toSession(data.refreshToken);
    this.set(next, "refreshed");
    return next.accessToken;
  }

  private begin(payload: SessionFieldsFragment | null): Session {
    const session = toSession(payload);
    this.set(session, "signed-in");
    return session;
  }

  private set(session: Session | null, change: SessionChange): void {
    this.session = session;
    this.options.store.save(session);
    this.schedule();
    for (const listener of this.listeners) listener(change, session);
  }

  private schedule(): void {
    this.stop();
    const times = this.session && tokenTimes(this.session.accessToken);
    if (!this.options.autoRefresh || !times) return;
    const margin = (times.expiresAt - times.issuedAt) * this.options.refreshMargin;
    const delay = Math.max(0, times.expiresAt - margin - Date.now());
    this.timer = setTimeout(() => {
      // a failure here is seen again by the next request (which refreshes once on 401)
      this.refresh().catch(() => undefined);
    }, delay);
    (this.timer as { unref?: () => void }).unref?.();
  }

  private async call<TData, TVariables>(
    document: TypedDocumentNode<TData, TVariables>,
    variables: TVariables,
    token: string | null,
  ): Promise<TData> {
    const result = await postOperation(
      this.options.fetch,
      this.options.endpoint,
      document,
      variables,
      token,
    );
    if (result.errors) throw new ApiError(result.errors, result.status);
    if (!result.data) throw new ApiError([{ message: "The API answered without data" }]);
    return result.data;
  }
}

function toSession(payload: SessionFieldsFragment | null): Session {
  // a sign-in that needs a second factor carries no tokens (README "Two-factor sign-in")
  if (!payload?.accessToken || !payload.refreshToken) {
    throw new ApiError([
      {
        message: "This sign-in needs another step that this client does not support",
        extensions: { code: "UNAUTHENTICATED", reason: "second_step" },
      },
    ]);
  }
  return {
    accessToken: payload.accessToken,
    refreshToken: payload.refreshToken,
    user: payload.user ?? null,
  };
}

function signedOut(): ApiError {
  return new ApiError([
    { message: "Sign in first", extensions: { code: "UNAUTHENTICATED", reason: "signed_out" } },
  ]);
}
