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
