/**
 * Groups and events through GraphQL: createGroup, joinGroup, inviteToGroup, approveGroupMember,
 * rejectGroupMember, leaveGroup, setGroupMemberRole, banGroupMember, Group.viewerMembership,
 * Query.myGroups; createEvent, updateEvent, cancelEvent, rsvpEvent (capacity under a lock,
 * optional waitlist), Query.upcomingEvents, Event.viewerRsvp.
 */
import type { TestAccount } from "../helpers/accounts.ts";
import { ok, refusal, startApi, type Api } from "../helpers/api.ts";

let api: Api;
beforeAll(async () => {
  api = await startApi();
});
afterAll(() => api.close());

const CREATE_GROUP = `mutation ($n: String!, $t: String) { createGroup(input: { name: $n, groupType: $t }) { group { id groupType viewerMembership { role status } } } }`;
const JOIN = `mutation ($g: UUID!) { joinGroup(input: { groupId: $g }) { groupMember { status role } } }`;
const INVITE = `mutation ($g: UUID!, $u: UUID!) { inviteToGroup(input: { groupId: $g, userId: $u }) { groupMember { status inviter { id } } } }`;
const APPROVE = `mutation ($g: UUID!, $u: UUID!) { approveGroupMember(input: { groupId: $g, userId: $u }) { groupMember { status } } }`;
const REJECT = `mutation ($g: UUID!, $u: UUID!) { rejectGroupMember(input: { groupId: $g, userId: $u }) { success } }`;
const LEAVE = `mutation ($g: UUID!) { leaveGroup(input: { groupId: $g }) { success } }`;
const ROLE = `mutation ($g: UUID!, $u: UUID!, $r: String!) { setGroupMemberRole(input: { groupId: $g, userId: $u, role: $r }) { groupMember { role } } }`;
const BAN = `mutation ($g: UUID!, $u: UUID!) { banGroupMember(input: { groupId: $g, userId: $u }) { groupMember { status } } }`;

/** `n` new accounts at once, as a tuple. */
type Accounts<N extends number, T extends TestAccount[] = []> = T["length"] extends N
  ? T
  : Accounts<N, [...T, TestAccount]>;
async function accounts<N extends number>(n: N): Promise<Accounts<N>> {
  return (await Promise.all(Array.from({ length: n }, () => api.register()))) as Accounts<N>;
}

async function group(admin: TestAccount, type: string): Promise<string> {
  return ok<{ createGroup: { group: { id: string } } }>(
    await api.as(admin)(CREATE_GROUP, { n: `${type} group`, t: type }),
  ).createGroup.group.id;
}

describe("groups", () => {
  it("make their creator an admin", async () => {
    const ada = await api.register();
    const created = ok<{ createGroup: { group: Record<string, unknown> } }>(
      await api.as(ada)(CREATE_GROUP, { n: "Hikers", t: "secret" }),
    );
    expect(created.createGroup.group).toMatchObject({
      groupType: "secret",
      viewerMembership: { role: "admin", status: "active" },
    });
    const mine = ok<{ myGroups: { nodes: { name: string }[] } }>(
      await api.as(ada)(`{ myGroups { nodes { name } } }`),
    );
    expect(mine.myGroups.nodes).toEqual([{ name: "Hikers" }]);
  });

  it("are joined at once when public, by approved request when private, by invitation when secret", async () => {
    const [ada, ben] = [await api.register(), await api.register()];
    const pub = await group(ada, "public");
    const priv = await group(ada, "private");
    const secret = await group(ada, "secret");

    expect(ok(await api.as(ben)(JOIN, { g: pub }))).toEqual({
      joinGroup: { groupMember: { status: "active", role: "member" } },
    });
    expect(ok(await api.as(ben)(JOIN, { g: pub }))).toEqual({
      joinGroup: { groupMember: { status: "active", role: "member" } },
    });

    expect(ok(await api.as(ben)(JOIN, { g: priv }))).toEqual({
      joinGroup: { groupMember: { status: "pending", role: "member" } },
    });
    expect(refusal(await api.as(ben)(APPROVE, { g: priv, u: ben.id }))).toEqual({
      code: "FORBIDDEN",
    });
    expect(ok(await api.as(ada)(APPROVE, { g: priv, u: ben.id }))).toEqual({
      approveGroupMember: { groupMember: { status: "active" } },
    });

    expect(refusal(await api.as(ben)(JOIN, { g: secret }))).toEqual({
      code: "NOT_FOUND",
      field: "group_id",
    });
    expect(ok(await api.as(ada)(INVITE, { g: secret, u: ben.id }))).toEqual({
      inviteToGroup: { groupMember: { status: "pending", inviter: { id: ada.id } } },
    });
    expect(ok(await api.as(ben)(JOIN, { g: secret }))).toEqual({
      joinGroup: { groupMember: { status: "active", role: "member" } },
    });
  });

  it("let moderators reject requests, and only admins change roles — never their own", async () => {
    const [ada, ben, cat] = [await api.register(), await api.register(), await api.register()];
    const g = await group(ada, "private");
    ok(await api.as(ben)(JOIN, { g }));
    ok(await api.as(ada)(APPROVE, { g, u: ben.id }));
    ok(await api.as(cat)(JOIN, { g }));

    expect(refusal(await api.as(ben)(ROLE, { g, u: cat.id, r: "admin" }))).toEqual({
      code: "FORBIDDEN",
    });
    expect(ok(await api.as(ada)(ROLE, { g, u: ben.id, r: "moderator" }))).toEqual({
      setGroupMemberRole: { groupMember: { role: "moderator" } },
    });
    expect(refusal(await api.as(ben)(ROLE, { g, u: ben.id, r: "admin" }))).toEqual({
      code: "FORBIDDEN",
    });
    expect(refusal(await api.as(ada)(ROLE, { g, u: ada.id, r: "member" }))).toEqual({
      code: "FORBIDDEN",
      field: "user_id",
    });
    expect(ok(await api.as(ben)(REJECT, { g, u: cat.id }))).toEqual({
      rejectGroupMember: { success: true },
    });
    expect(
      ok<{ group: { viewerMembership: unknown } }>(
        await api.as(cat)(`query ($g: UUID!) { group(id: $g) { viewerMembership { status } } }`, {
          g,
        }),
      ).group.viewerMembership,
    ).toBeNull();
  });

  it("ban: the banned member is out and cannot rejoin; moderators cannot ban admins", async () => {
    const [ada, ben, cat] = [await api.register(), await api.register(), await api.register()];
    const g = await group(ada, "public");
    ok(await api.as(ben)(JOIN, { g }));
    ok(await api.as(cat)(JOIN, { g }));
    ok(await api.as(ada)(ROLE, { g, u: ben.id, r: "moderator" }));
    expect(refusal(await api.as(ben)(BAN, { g, u: ada.id }))).toEqual({ code: "FORBIDDEN" });
    expect(ok(await api.as(ben)(BAN, { g, u: cat.id }))).toEqual({
      banGroupMember: { groupMember: { status: "banned" } },
    });
    expect(refusal(await api.as(cat)(JOIN, { g }))).toEqual({ code: "FORBIDDEN" });
    expect(refusal(await api.as(cat)(LEAVE, { g }))).toEqual({
      code: "NOT_FOUND",
      field: "group_id",
    });
  });

  it("keep an admin: the last admin cannot leave while others remain", async () => {
    const [ada, ben] = [await api.register(), await api.register()];
    const g = await group(ada, "public");
    ok(await api.as(ben)(JOIN, { g }));
    expect(refusal(await api.as(ada)(LEAVE, { g }))).toEqual({ code: "CONFLICT" });
    ok(await api.as(ada)(ROLE, { g, u: ben.id, r: "admin" }));
    expect(ok(await api.as(ada)(LEAVE, { g }))).toEqual({ leaveGroup: { success: true } });
  });
});

const UNKNOWN = "00000000-0000-4000-8000-000000000000";
const BLOCK = `mutation ($id: UUID!) { blockUser(input: { userId: $id }) { success } }`;
const MEMBERSHIP = `query ($g: UUID!) { group(id: $g) { viewerMembership { status role } } }`;

async function membership(g: string, u: TestAccount): Promise<unknown[]> {
  return api.sql(
    `select status, role, invited_by is not null as invited from app_public.group_members where group_id = $1 and user_id = $2`,
    [g, u.id],
  );
}

describe("createGroup refusals", () => {
  it("refuses an empty name and an unknown group type, naming the field, and keeps nothing", async () => {
    const ada = await api.register();
    expect(refusal(await api.as(ada)(CREATE_GROUP, { n: "   ", t: "public" }))).toEqual({
      code: "INVALID_INPUT",
      field: "name",
    });
    expect(refusal(await api.as(ada)(CREATE_GROUP, { n: "Club", t: "invisible" }))).toEqual({
      code: "INVALID_INPUT",
      field: "group_type",
    });
    expect(
      await api.sql(`select count(*)::int as n from app_public.groups where created_by = $1`, [
        ada.id,
      ]),
    ).toEqual([{ n: 0 }]);
  });
});

describe("inviteToGroup", () => {
  it("is for the group's admins and moderators only", async () => {
    const [ada, mod, mem, asker, out, ben] = await accounts(6);
    const g = await group(ada, "private");
    for (const who of [mod, mem, asker]) ok(await api.as(who)(JOIN, { g }));
    ok(await api.as(ada)(APPROVE, { g, u: mod.id }));
    ok(await api.as(ada)(APPROVE, { g, u: mem.id }));
    ok(await api.as(ada)(ROLE, { g, u: mod.id, r: "moderator" }));

    for (const who of [mem, asker, out]) {
      expect(refusal(await api.as(who)(INVITE, { g, u: ben.id }))).toEqual({ code: "FORBIDDEN" });
    }
    expect(await membership(g, ben)).toEqual([]);
    expect(ok(await api.as(mod)(INVITE, { g, u: ben.id }))).toEqual({
      inviteToGroup: { groupMember: { status: "pending", inviter: { id: mod.id } } },
    });
  });

  it("refuses an unknown group, and a secret group to those outside it (as if it did not exist)", async () => {
    const [ada, out, ben] = [await api.register(), await api.register(), await api.register()];
    const secret = await group(ada, "secret");
    expect(refusal(await api.as(out)(INVITE, { g: UNKNOWN, u: ben.id }))).toEqual({
      code: "NOT_FOUND",
      field: "group_id",
    });
    expect(refusal(await api.as(out)(INVITE, { g: secret, u: ben.id }))).toEqual({
      code: "NOT_FOUND",
      field: "group_id",
    });
    // an invitation does not let the invitee invite others
    ok(await api.as(ada)(INVITE, { g: secret, u: ben.id }));
    expect(refusal(await api.as(ben)(INVITE, { g: secret, u: out.id }))).toEqual({
      code: "NOT_FOUND",
      field: "group_id",
    });
  });

  it("refuses unknown people and people who blocked the inviter", async () => {
    const [ada, ben] = [await api.register(), await api.register()];
    const g = await group(ada, "public");
    expect(refusal(await api.as(ada)(INVITE, { g, u: UNKNOWN }))).toEqual({
      code: "NOT_FOUND",
      field: "user_id",
    });
    ok(await api.as(ben)(BLOCK, { id: ada.id }));
    expect(refusal(await api.as(ada)(INVITE, { g, u: ben.id }))).toEqual({
      code: "NOT_FOUND",
      field: "user_id",
    });
    expect(await membership(g, ben)).toEqual([]);
  });

  it("refuses people the inviter blocked", async () => {
    const [ada, ben] = [await api.register(), await api.register()];
    const g = await group(ada, "public");
    ok(await api.as(ada)(BLOCK, { id: ben.id }));
    expect(refusal(await api.as(ada)(INVITE, { g, u: ben.id }))?.code).toBe("FORBIDDEN");
    expect(await membership(g, ben)).toEqual([]);
  });

  it("changes nothing for members, the invited and the banned; approves someone who asked", async () => {
    const [ada, mem, inv, banned, asker] = await accounts(5);
    const g = await group(ada, "private");
    ok(await api.as(mem)(JOIN, { g }));
    ok(await api.as(ada)(APPROVE, { g, u: mem.id }));
    ok(await api.as(ada)(INVITE, { g, u: inv.id }));
    ok(await api.as(banned)(JOIN, { g }));
    ok(await api.as(ada)(BAN, { g, u: banned.id }));
    ok(await api.as(asker)(JOIN, { g }));

    expect(ok(await api.as(ada)(INVITE, { g, u: mem.id }))).toEqual({
      inviteToGroup: { groupMember: { status: "active", inviter: null } },
    });
    expect(ok(await api.as(ada)(INVITE, { g, u: inv.id }))).toEqual({
      inviteToGroup: { groupMember: { status: "pending", inviter: { id: ada.id } } },
    });
    expect(await membership(g, inv)).toEqual([
      { status: "pending", role: "member", invited: true },
    ]);
    // an invitation does not lift a ban
    expect(ok(await api.as(ada)(INVITE, { g, u: banned.id }))).toEqual({
      inviteToGroup: { groupMember: { status: "banned", inviter: null } },
    });
    expect(refusal(await api.as(banned)(JOIN, { g }))).toEqual({ code: "FORBIDDEN" });
    // inviting someone who asked to join lets them in
    expect(ok(await api.as(ada)(INVITE, { g, u: asker.id }))).toEqual({
      inviteToGroup: { groupMember: { status: "active", inviter: null } },
    });
    expect(ok(await api.as(asker)(MEMBERSHIP, { g }))).toEqual({
      group: { viewerMembership: { status: "active", role: "member" } },
    });
  });
});

describe("approveGroupMember and rejectGroupMember refusals", () => {
  it("approve only pending requests: not invitations, members, strangers or unknown groups", async () => {
    const [ada, mem, inv, out] = await accounts(4);
    const g = await group(ada, "private");
    ok(await api.as(mem)(JOIN, { g }));
    ok(await api.as(ada)(APPROVE, { g, u: mem.id }));
    ok(await api.as(ada)(INVITE, { g, u: inv.id }));
    const noRequest = { code: "NOT_FOUND", field: "user_id" };
    expect(refusal(await api.as(ada)(APPROVE, { g, u: mem.id }))).toEqual(noRequest);
    expect(refusal(await api.as(ada)(APPROVE, { g, u: inv.id }))).toEqual(noRequest);
    expect(refusal(await api.as(ada)(APPROVE, { g, u: out.id }))).toEqual(noRequest);
    expect(refusal(await api.as(ada)(APPROVE, { g, u: UNKNOWN }))).toEqual(noRequest);
    expect(refusal(await api.as(ada)(APPROVE, { g: UNKNOWN, u: out.id }))).toEqual({
      code: "NOT_FOUND",
      field: "group_id",
    });
    // the invitation stays an invitation: only the invitee accepts it
    expect(await membership(g, inv)).toEqual([
      { status: "pending", role: "member", invited: true },
    ]);
  });

  it("reject: only by the group's admins and moderators, only pending rows", async () => {
    const [ada, mem, asker, out] = await accounts(4);
    const g = await group(ada, "private");
    ok(await api.as(mem)(JOIN, { g }));
    ok(await api.as(ada)(APPROVE, { g, u: mem.id }));
    ok(await api.as(asker)(JOIN, { g }));

    expect(refusal(await api.as(mem)(REJECT, { g, u: asker.id }))).toEqual({ code: "FORBIDDEN" });
    expect(refusal(await api.as(out)(REJECT, { g, u: asker.id }))).toEqual({ code: "FORBIDDEN" });
    expect(refusal(await api.as(asker)(REJECT, { g, u: asker.id }))).toEqual({
      code: "FORBIDDEN",
    });
    expect(refusal(await api.as(ada)(REJECT, { g: UNKNOWN, u: asker.id }))).toEqual({
      code: "NOT_FOUND",
      field: "group_id",
    });
    // an active member is not rejected (that is a ban)
    expect(refusal(await api.as(ada)(REJECT, { g, u: mem.id }))).toEqual({
      code: "NOT_FOUND",
      field: "user_id",
    });
    expect(refusal(await api.as(ada)(REJECT, { g, u: out.id }))).toEqual({
      code: "NOT_FOUND",
      field: "user_id",
    });
    expect(await membership(g, mem)).toEqual([
      { status: "active", role: "member", invited: false },
    ]);
    expect(await membership(g, asker)).toEqual([
      { status: "pending", role: "member", invited: false },
    ]);
    // rejecting twice: the second time there is nothing to reject
    ok(await api.as(ada)(REJECT, { g, u: asker.id }));
    expect(refusal(await api.as(ada)(REJECT, { g, u: asker.id }))).toEqual({
      code: "NOT_FOUND",
      field: "user_id",
    });
    // a rejected request may be made again
    expect(ok(await api.as(asker)(JOIN, { g }))).toEqual({
      joinGroup: { groupMember: { status: "pending", role: "member" } },
    });
  });

  it("withdraws an invitation: the invitee can no longer join the secret group", async () => {
    const [ada, ben] = [await api.register(), await api.register()];
    const g = await group(ada, "secret");
    ok(await api.as(ada)(INVITE, { g, u: ben.id }));
    expect(ok(await api.as(ada)(REJECT, { g, u: ben.id }))).toEqual({
      rejectGroupMember: { success: true },
    });
    expect(await membership(g, ben)).toEqual([]);
    expect(refusal(await api.as(ben)(JOIN, { g }))).toEqual({
      code: "NOT_FOUND",
      field: "group_id",
    });
  });
});

describe("leaving and myGroups", () => {
  const MINE = `{ myGroups { nodes { id } } }`;
  const myGroups = async (who: TestAccount) =>
    ok<{ myGroups: { nodes: { id: string }[] } }>(await api.as(who)(MINE)).myGroups.nodes.map(
      (n) => n.id,
    );

  it("a plain member leaves at once; leaving again is refused", async () => {
    const [ada, ben] = [await api.register(), await api.register()];
    const g = await group(ada, "public");
    ok(await api.as(ben)(JOIN, { g }));
    expect(await myGroups(ben)).toEqual([g]);
    expect(ok(await api.as(ben)(LEAVE, { g }))).toEqual({ leaveGroup: { success: true } });
    expect(ok(await api.as(ben)(MEMBERSHIP, { g }))).toEqual({ group: { viewerMembership: null } });
    expect(await myGroups(ben)).toEqual([]);
    expect(refusal(await api.as(ben)(LEAVE, { g }))).toEqual({
      code: "NOT_FOUND",
      field: "group_id",
    });
    // the admin is unaffected
    expect(await membership(g, ada)).toEqual([{ status: "active", role: "admin", invited: false }]);
  });

  it("leaveGroup also withdraws your own request and declines an invitation", async () => {
    const [ada, ben] = [await api.register(), await api.register()];
    const priv = await group(ada, "private");
    const secret = await group(ada, "secret");
    ok(await api.as(ben)(JOIN, { g: priv }));
    ok(await api.as(ada)(INVITE, { g: secret, u: ben.id }));
    ok(await api.as(ben)(LEAVE, { g: priv }));
    ok(await api.as(ben)(LEAVE, { g: secret }));
    expect(await membership(priv, ben)).toEqual([]);
    expect(await membership(secret, ben)).toEqual([]);
  });

  it("myGroups lists active memberships only: not requests, invitations or bans", async () => {
    const [ada, ben] = [await api.register(), await api.register()];
    const active = await group(ada, "public");
    const requested = await group(ada, "private");
    const invited = await group(ada, "secret");
    const banned = await group(ada, "public");
    ok(await api.as(ben)(JOIN, { g: active }));
    ok(await api.as(ben)(JOIN, { g: requested }));
    ok(await api.as(ada)(INVITE, { g: invited, u: ben.id }));
    ok(await api.as(ben)(JOIN, { g: banned }));
    ok(await api.as(ada)(BAN, { g: banned, u: ben.id }));
    expect(await myGroups(ben)).toEqual([active]);
    expect((await myGroups(ada)).sort()).toEqual([active, requested, invited, banned].sort());
  });
});

const CREATE_EVENT = `mutation ($t: String!, $s: Datetime!, $max: Int, $p: String) {
  createEvent(input: { title: $t, startDate: $s, maxAttendees: $max, privacyLevel: $p }) { event { id creator { id } } }
}`;
const RSVP = `mutation ($e: UUID!, $s: RsvpStatus!, $w: Boolean) { rsvpEvent(input: { eventId: $e, status: $s, joinWaitlist: $w }) { event { id goingCount viewerRsvp { status } viewerWaitlistPosition } } }`;
const soon = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();

async function event(who: TestAccount, title: string, days: number, max?: number): Promise<string> {
  return ok<{ createEvent: { event: { id: string } } }>(
    await api.as(who)(CREATE_EVENT, { t: title, s: soon(days), max: max ?? null }),
  ).createEvent.event.id;
}

describe("events", () => {
  it("RSVP going, maybe and not going, and show the viewer's answer", async () => {
    const [ada, ben] = [await api.register(), await api.register()];
    const e = await event(ada, "Picnic", 3);
    const going = ok<{ rsvpEvent: { event: Record<string, unknown> } }>(
      await api.as(ben)(RSVP, { e, s: "GOING" }),
    );
    expect(going.rsvpEvent.event).toMatchObject({ goingCount: 1, viewerRsvp: { status: "going" } });
    const maybe = ok<{ rsvpEvent: { event: Record<string, unknown> } }>(
      await api.as(ben)(RSVP, { e, s: "MAYBE" }),
    );
    expect(maybe.rsvpEvent.event).toMatchObject({ goingCount: 0, viewerRsvp: { status: "maybe" } });
  });

  it("never overbook: of many parallel GOING answers to capacity 3, exactly 3 succeed; the rest get EVENT_FULL", async () => {
    const ada = await api.register();
    const e = await event(ada, "Tiny gig", 5, 3);
    const people = await Promise.all(Array.from({ length: 10 }, () => api.register()));
    const results = await Promise.all(people.map((p) => api.as(p)(RSVP, { e, s: "GOING" })));
    const succeeded = results.filter((r) => !r.errors);
    const refused = results.filter((r) => r.errors);
    expect(succeeded).toHaveLength(3);
    expect(refused.map((r) => refusal(r)?.code)).toEqual(Array(7).fill("EVENT_FULL"));
    expect(
      await api.sql(
        `select count(*)::int as n from app_public.event_attendees where event_id = $1 and status = 'going'`,
        [e],
      ),
    ).toEqual([{ n: 3 }]);
  });

  it("let people wait for a place, and give a freed place to the first waiting, at once", async () => {
    const [ada, ben, cat, dan] = [
      await api.register(),
      await api.register(),
      await api.register(),
      await api.register(),
    ];
    const e = await event(ada, "Workshop", 5, 1);
    ok(await api.as(ben)(RSVP, { e, s: "GOING" }));
    const waiting = ok<{ rsvpEvent: { event: Record<string, unknown> } }>(
      await api.as(cat)(RSVP, { e, s: "GOING", w: true }),
    );
    expect(waiting.rsvpEvent.event).toMatchObject({ viewerRsvp: null, viewerWaitlistPosition: 1 });
    ok(await api.as(dan)(RSVP, { e, s: "GOING", w: true }));
    ok(await api.as(ben)(RSVP, { e, s: "NOT_GOING" }));
    const promoted = ok<{ event: Record<string, unknown> }>(
      await api.as(cat)(
        `query ($e: UUID!) { event(id: $e) { viewerRsvp { status } viewerWaitlistPosition } }`,
        { e },
      ),
    );
    expect(promoted.event).toEqual({
      viewerRsvp: { status: "going" },
      viewerWaitlistPosition: null,
    });
    const next = ok<{ event: Record<string, unknown> }>(
      await api.as(dan)(`query ($e: UUID!) { event(id: $e) { viewerWaitlistPosition } }`, { e }),
    );
    expect(next.event).toEqual({ viewerWaitlistPosition: 1 });
    // a bigger capacity lets the next one in
    ok(
      await api.as(ada)(
        `mutation ($e: UUID!) { updateEvent(input: { eventId: $e, maxAttendees: 2 }) { event { id } } }`,
        { e },
      ),
    );
    expect(
      await api.sql(
        `select status from app_public.event_attendees where event_id = $1 and user_id = $2`,
        [e, dan.id],
      ),
    ).toEqual([{ status: "going" }]);
  });

  it("are edited and cancelled by their organiser only; a cancelled event takes no answers", async () => {
    const [ada, ben] = [await api.register(), await api.register()];
    const e = await event(ada, "Talk", 2);
    const UPDATE = `mutation ($e: UUID!) { updateEvent(input: { eventId: $e, title: "Better talk" }) { event { title } } }`;
    const CANCEL = `mutation ($e: UUID!) { cancelEvent(input: { eventId: $e }) { event { isCancelled cancelledAt } } }`;
    expect(refusal(await api.as(ben)(UPDATE, { e }))).toEqual({ code: "FORBIDDEN" });
    expect(ok(await api.as(ada)(UPDATE, { e }))).toEqual({
      updateEvent: { event: { title: "Better talk" } },
    });
    expect(refusal(await api.as(ben)(CANCEL, { e }))).toEqual({ code: "FORBIDDEN" });
    expect(
      ok<{ cancelEvent: { event: Record<string, unknown> } }>(await api.as(ada)(CANCEL, { e }))
        .cancelEvent.event,
    ).toEqual({
      isCancelled: true,
      cancelledAt: expect.any(String),
    });
    expect(refusal(await api.as(ben)(RSVP, { e, s: "GOING" }))).toEqual({ code: "CONFLICT" });
  });

  it("refuse an event in the past, and invisible events", async () => {
    const [ada, ben] = [await api.register(), await api.register()];
    expect(refusal(await api.as(ada)(CREATE_EVENT, { t: "Yesterday", s: soon(-1) }))).toEqual({
      code: "INVALID_INPUT",
      field: "start_date",
    });
    const hidden = ok<{ createEvent: { event: { id: string } } }>(
      await api.as(ada)(CREATE_EVENT, { t: "Secret party", s: soon(1), p: "private" }),
    ).createEvent.event.id;
    expect(refusal(await api.as(ben)(RSVP, { e: hidden, s: "GOING" }))).toEqual({
      code: "NOT_FOUND",
      field: "event_id",
    });
  });

  it("upcomingEvents lists the visible future ones, soonest first", async () => {
    const [ada, ben] = [await api.register(), await api.register()];
    const later = await event(ada, "Later", 9);
    const sooner = await event(ada, "Sooner", 1);
    ok(await api.as(ada)(CREATE_EVENT, { t: "Mine only", s: soon(2), p: "private" }));
    const list = ok<{ upcomingEvents: { nodes: { id: string }[] } }>(
      await api.as(ben)(`{ upcomingEvents(first: 100) { nodes { id } } }`),
    );
    const ids = list.upcomingEvents.nodes.map((n) => n.id);
    expect(ids.indexOf(sooner)).toBeLessThan(ids.indexOf(later));
    expect(ids).toContain(later);
    expect(
      ok<{ upcomingEvents: { nodes: { title?: string }[] } }>(
        await api.as(ben)(`{ upcomingEvents(first: 100) { nodes { title } } }`),
      ).upcomingEvents.nodes.map((n) => n.title),
    ).not.toContain("Mine only");
  });
});

describe("events in groups", () => {
  const IN_GROUP = `mutation ($t: String!, $s: Datetime!, $g: UUID) {
    createEvent(input: { title: $t, startDate: $s, groupId: $g }) { event { id group { id } creator { id } } }
  }`;
  const EVENT = `query ($e: UUID!) { event(id: $e) { id title } }`;

  it("are created by active members, and seen by members only when the group is private", async () => {
    const [ada, ben, asker, out] = await accounts(4);
    const g = await group(ada, "private");
    ok(await api.as(ben)(JOIN, { g }));
    ok(await api.as(ada)(APPROVE, { g, u: ben.id }));
    ok(await api.as(asker)(JOIN, { g }));

    const created = ok<{ createEvent: { event: { id: string } } }>(
      await api.as(ben)(IN_GROUP, { t: "Members' meetup", s: soon(4), g }),
    ).createEvent.event;
    expect(created).toEqual({ id: expect.any(String), group: { id: g }, creator: { id: ben.id } });

    expect(ok(await api.as(ada)(EVENT, { e: created.id }))).toEqual({
      event: { id: created.id, title: "Members' meetup" },
    });
    for (const who of [asker, out]) {
      expect(ok(await api.as(who)(EVENT, { e: created.id }))).toEqual({ event: null });
      expect(refusal(await api.as(who)(RSVP, { e: created.id, s: "GOING" }))).toEqual({
        code: "NOT_FOUND",
        field: "event_id",
      });
    }
  });

  it("are refused to non-members and to those whose request is pending, and keep nothing", async () => {
    const [ada, asker, out] = [await api.register(), await api.register(), await api.register()];
    const g = await group(ada, "private");
    ok(await api.as(asker)(JOIN, { g }));
    for (const who of [asker, out]) {
      expect(refusal(await api.as(who)(IN_GROUP, { t: "Crash", s: soon(2), g }))).toEqual({
        code: "FORBIDDEN",
        field: "group_id",
      });
    }
    expect(
      await api.sql(`select count(*)::int as n from app_public.events where group_id = $1`, [g]),
    ).toEqual([{ n: 0 }]);
  });
});

describe("cancelled events", () => {
  const UPDATE = `mutation ($e: UUID!) { updateEvent(input: { eventId: $e, title: "Revived" }) { event { title } } }`;
  const CANCEL = `mutation ($e: UUID!) { cancelEvent(input: { eventId: $e }) { event { isCancelled cancelledAt } } }`;

  it("cannot be edited any more, and cancelling again changes nothing", async () => {
    const ada = await api.register();
    const e = await event(ada, "Gala", 6);
    const first = ok<{ cancelEvent: { event: { isCancelled: boolean; cancelledAt: string } } }>(
      await api.as(ada)(CANCEL, { e }),
    ).cancelEvent.event;
    const again = ok<{ cancelEvent: { event: { isCancelled: boolean; cancelledAt: string } } }>(
      await api.as(ada)(CANCEL, { e }),
    ).cancelEvent.event;
    expect(again).toEqual(first);
    expect(first.isCancelled).toBe(true);
    expect(refusal(await api.as(ada)(UPDATE, { e }))).toEqual({ code: "CONFLICT" });
    expect(
      await api.sql(`select title, is_cancelled from app_public.events where id = $1`, [e]),
    ).toEqual([{ title: "Gala", is_cancelled: true }]);
  });
});

describe("upcomingEvents", () => {
  it("leaves out cancelled and past events and orders by start date, then id", async () => {
    const [ada, ben] = [await api.register(), await api.register()];
    const inFive = await event(ada, "In five days", 5);
    const inOne = await event(ada, "Tomorrow", 1);
    const cancelled = await event(ada, "Called off", 2);
    ok(
      await api.as(ada)(
        `mutation ($e: UUID!) { cancelEvent(input: { eventId: $e }) { event { id } } }`,
        { e: cancelled },
      ),
    );
    // events cannot be created in the past: one that has started since, and two at the same time
    const [past] = await api.sql<{ id: string }>(
      `insert into app_public.events (title, start_date, created_by) values ('Yesterday', now() - interval '1 day', $1) returning id`,
      [ada.id],
    );
    const twins = await api.sql<{ id: string }>(
      `insert into app_public.events (title, start_date, created_by)
       select 'Twin ' || i, date_trunc('hour', now()) + interval '3 days', $1 from generate_series(1, 2) i
       returning id`,
      [ada.id],
    );
    const twinIds = twins.map((t) => t.id).sort();

    const listed = ok<{ upcomingEvents: { nodes: { id: string }[] } }>(
      await api.as(ben)(`{ upcomingEvents(first: 100) { nodes { id } } }`),
    ).upcomingEvents.nodes.map((n) => n.id);
    const adas = new Set([inFive, inOne, cancelled, past!.id, ...twinIds]);
    expect(listed.filter((id) => adas.has(id))).toEqual([inOne, ...twinIds, inFive]);
  });
});
