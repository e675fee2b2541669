/**
 * What the soak knows happened: every write the API acknowledged (with the ids it returned),
 * every write it refused (with a marker that must never appear in the data), the writes whose
 * outcome is unknown (a broken connection), and every event each subscriber received.
 *
 * Per pair (a user and a post, a user and an event) the last acknowledged answer decides what
 * must be in the database; a pair touched by a request of unknown outcome is not checked.
 */
export type PairState = { value: boolean; uncertain: boolean };

export interface FriendshipAck {
  friendshipId: string;
  requester: string;
  addressee: string;
  /** Its status in the answer (updated when the load later accepts it). */
  status: string;
}

export interface AckedMessage {
  id: string;
  conversationId: string;
  senderId: string;
  /** When the request was sent and when its answer arrived (ms since the epoch). */
  sentAt: number;
  ackAt: number;
}

export interface SubscriptionSession {
  readonly id: number;
  readonly userId: string;
  readonly conversationId: string;
  readonly instance: string;
  /** When it was subscribed. */
  readonly openedAt: number;
  /** The first event it received: from then on the LISTEN is surely in place. */
  liveFrom: number | null;
  endedAt: number | null;
  /** Why it ended: "closed <close code>" (socket), an error code (e.g. CLIENT_TOO_SLOW), "complete", "end". */
  endReason: string | null;
  readonly received: Set<string>;
}

export class Ledger {
  readonly posts = new Map<string, string>(); // id → author
  readonly comments: { id: string; postId: string; authorId: string }[] = [];
  /** Content markers of refused posts, comments and messages: none may exist. */
  readonly refusedMarkers: { table: "posts" | "comments" | "messages"; marker: string }[] = [];
  readonly likes = new Map<string, PairState>(); // "user:post" → liked?
  /** Friendships as the API returned them (sendFriendRequest may return theirs, accepted). */
  readonly friendRequests: FriendshipAck[] = [];
  readonly accepts: FriendshipAck[] = [];
  readonly follows: { follower: string; following: string }[] = [];
  readonly blocks: { blocker: string; blocked: string; ackAt: number }[] = [];
  readonly messages: AckedMessage[] = [];
  readonly rsvps = new Map<string, PairState>(); // "user:event" → going?
  readonly sessions: SubscriptionSession[] = [];
  private nextSession = 1;

  setPair(map: Map<string, PairState>, key: string, value: boolean): void {
    const old = map.get(key);
    map.set(key, { value, uncertain: old?.uncertain ?? false });
  }

  /** A request about the pair whose outcome is unknown: the pair is not checked. */
  taintPair(map: Map<string, PairState>, key: string): void {
    const old = map.get(key);
    map.set(key, { value: old?.value ?? false, uncertain: true });
  }

  openSession(userId: string, conversationId: string, instance: string): SubscriptionSession {
    const session: SubscriptionSession = {
      id: this.nextSession++,
      userId,
      conversationId,
      instance,
      openedAt: Date.now(),
      liveFrom: null,
      endedAt: null,
      endReason: null,
      received: new Set(),
    };
    this.sessions.push(session);
    return session;
  }

  /** How many received events the ledger holds in all. */
  receivedEvents(): number {
    return this.sessions.reduce((n, s) => n + s.received.size, 0);
  }
}
