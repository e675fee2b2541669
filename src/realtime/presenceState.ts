/**
 * Who is online, as one API instance knows it (src/realtime/presence.ts feeds it): its own users
 * (a count of live sockets each) and, per other instance, the users it announced and when it
 * was last heard from. A user is online while any instance holds them. Every change that turns
 * a user online or offline (here, not just on one instance) is reported to `onChange`.
 */
export type PresenceChange = (userId: string, online: boolean) => void;

interface Remote {
  heardAt: number;
  users: Set<string>;
  /** A heartbeat arriving in parts: its number, the users so far and the parts still due. */
  pending: { beat: number; users: Set<string>; due: number } | null;
}

export class PresenceState {
  readonly #local = new Map<string, number>();
  readonly #remotes = new Map<string, Remote>();
  readonly #onChange: PresenceChange;

  constructor(onChange: PresenceChange) {
    this.#onChange = onChange;
  }

  isOnline(userId: string): boolean {
    if (this.#local.has(userId)) return true;
    for (const r of this.#remotes.values()) if (r.users.has(userId)) return true;
    return false;
  }

  /** Everyone online on some instance. */
  online(): Set<string> {
    const all = new Set(this.#local.keys());
    for (const r of this.#remotes.values()) for (const u of r.users) all.add(u);
    return all;
  }

  /** This instance's users (with at least one live socket here). */
  localUsers(): string[] {
    return [...this.#local.keys()];
  }

  /** A socket of `userId` opened here; true when it is their first one here. */
  opened(userId: string): boolean {
    const before = this.isOnline(userId);
    const count = (this.#local.get(userId) ?? 0) + 1;
    this.#local.set(userId, count);
    if (!before) this.#onChange(userId, true);
    return count === 1;
  }

  /** A socket of `userId` closed here; true when it was their last one here. */
  closed(userId: string): boolean {
    const count = (this.#local.get(userId) ?? 0) - 1;
    if (count > 0) {
      this.#local.set(userId, count);
      return false;
    }
    if (!this.#local.delete(userId)) return false;
    if (!this.isOnline(userId)) this.#onChange(userId, false);
    return true;
  }

  /** Forgets every socket of `userId` here (shutting down); true when they are now offline. */
  dropLocal(userId: string): boolean {
    if (!this.#local.has(userId)) return false;
    this.#local.set(userId, 1);
    this.closed(userId);
    return !this.isOnline(userId);
  }

  /** Another instance says `userId` came online or went offline there. */
  announced(instanceId: string, userId: string, online: boolean, now: number): void {
    const remote = this.#remote(instanceId, now);
    this.#change([userId], () => {
      if (online) remote.users.add(userId);
      else remote.users.delete(userId);
      if (online) remote.pending?.users.add(userId);
      else remote.pending?.users.delete(userId);
    });
  }

  /**
   * Part `part` of `parts` of another instance's heartbeat number `beat`: users it holds.
   * Users are added at once; the full heartbeat replaces what the instance held.
   */
  heartbeat(
    instanceId: string,
    beat: number,
    part: number,
    parts: number,
    users: string[],
    now: number,
  ): void {
    const remote = this.#remote(instanceId, now);
    if (!remote.pending || remote.pending.beat !== beat) {
      remote.pending = { beat, users: new Set(), due: parts };
    }
    const pending = remote.pending;
    for (const u of users) pending.users.add(u);
    pending.due -= 1;
    this.#change(users, () => {
      for (const u of users) remote.users.add(u);
    });
    if (part === parts - 1 || pending.due <= 0) {
      remote.pending = null;
      if (pending.due > 0) return; // a part was missed: wait for the next heartbeat
      const gone = [...remote.users].filter((u) => !pending.users.has(u));
      this.#change(gone, () => {
        remote.users = pending.users;
      });
    }
  }

  /** Another instance stopped (cleanly): its users are offline unless held elsewhere. */
  left(instanceId: string): string[] {
    const remote = this.#remotes.get(instanceId);
    if (!remote) return [];
    return this.#change([...remote.users], () => this.#remotes.delete(instanceId));
  }

  /** Drops the instances not heard from since `before`; returns the users that went offline. */
  expire(before: number): string[] {
    const offline: string[] = [];
    for (const [id, r] of [...this.#remotes])
      if (r.heardAt < before) offline.push(...this.left(id));
    return offline;
  }

  #remote(instanceId: string, now: number): Remote {
    let remote = this.#remotes.get(instanceId);
    if (!remote) {
      remote = { heardAt: now, users: new Set(), pending: null };
      this.#remotes.set(instanceId, remote);
    }
    remote.heardAt = now;
    return remote;
  }

  /** Applies `update` and reports who of `userIds` turned online or offline; returns the latter. */
  #change(userIds: string[], update: () => void): string[] {
    const before = new Map(userIds.map((u) => [u, this.isOnline(u)]));
    update();
    const offline: string[] = [];
    for (const [u, was] of before) {
      const now = this.isOnline(u);
      if (now === was) continue;
      if (!now) offline.push(u);
      this.#onChange(u, now);
    }
    return offline;
  }
}
