/**
 * Signed-out callers, every mutation of the API: those that need a signed-in user answer
 * UNAUTHENTICATED ("Sign in first"), in one place — each SQL function's first step is
 * app_hidden.require_user(), and policies/_functions.sql lets anonymous execute them so it can
 * say so. The generated CRUD mutations answer FORBIDDEN: anonymous holds no write privilege on
 * any table (docs/error_codes.md). Signing in and its siblings are open to anyone.
 *
 * The list is not written by hand: every volatile function of app_public is a mutation, plus
 * the plugins' signed-in mutations; each is called with type-correct dummy arguments built from
 * the live schema.
 */
import pg from "pg";
import {
  buildSchema,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isScalarType,
  type GraphQLField,
  type GraphQLInputType,
} from "postgraphile/graphql";

import { createTestDatabase, type TestDatabase } from "../helpers/database.ts";
import { testLogger } from "../helpers/log.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { buildSchemaSdl } from "../../src/schemaExport.ts";

/** Mutations that work without signing in. */
const OPEN = ["register", "login", "refreshToken", "logout", "requestPasswordReset", "resetPassword", "verifyEmail", "cancelAccountDeletion", "completeSecondStep", "startPasskeySignIn", "finishPasskeySignIn", "startOidcSignIn", "completeOidcSignIn"];
/** Plugin mutations (not SQL functions of app_public) that need a signed-in user. */
const PLUGIN_SIGNED_IN = ["logoutEverywhere", "changePassword", "requestEmailVerification", "sendTyping", "requestAccountDeletion", "enrolTotp", "confirmTotp", "disableTotp", "regenerateRecoveryCodes", "startPasskeyRegistration", "finishPasskeyRegistration", "startPasskeyVerification", "removePasskey", "startOidcLink", "linkIdentity", "unlinkIdentity"];

let db: TestDatabase;
let server: TestServer;
let mutations: Record<string, GraphQLField<unknown, unknown>>;
let sqlMutations: string[];

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startTestServer(db);
  const schema = buildSchema(await buildSchemaSdl(db.authUrl, testLogger()));
  mutations = schema.getMutationType()!.getFields();
  const client = new pg.Client({ connectionString: db.ownerUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(
      `select p.proname as name from pg_proc p
        where p.pronamespace = 'app_public'::regnamespace and p.provolatile = 'v' and p.prokind = 'f'
        order by 1`,
    );
    // snake_case → camelCase, as PostGraphile names them
    sqlMutations = rows.map((r) => r.name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()));
  } finally {
    await client.end();
  }
});
afterAll(async () => {
  await server.close();
  await db.drop();
});

/** A value of the input type: its required fields (or one field), scalars as harmless dummies. */
function dummy(type: GraphQLInputType): unknown {
  if (isNonNullType(type)) return dummy(type.ofType);
  if (isListType(type)) return [];
  if (isEnumType(type)) return type.getValues()[0]!.value;
  if (isInputObjectType(type)) {
    const fields = Object.values(type.getFields());
    const required = fields.filter((f) => isNonNullType(f.type));
    // a patch with nothing in it is refused before it reaches the database: set one field
    const chosen = required.length > 0 ? required : fields.filter((f) => f.name !== "clientMutationId").slice(0, 1);
    return Object.fromEntries(chosen.map((f) => [f.name, dummy(f.type)]));
  }
  if (isScalarType(type)) {
    const byScalar: Record<string, unknown> = {
      UUID: "00000000-0000-4000-8000-000000000000",
      String: "x",
      Int: 1,
      Float: 1,
      Boolean: true,
      Datetime: "2030-01-01T00:00:00Z",
      BigInt: "1",
      BigFloat: "1",
      JSON: {},
    };
    if (!(type.name in byScalar)) throw new Error(`no dummy for scalar ${type.name}`);
    return byScalar[type.name];
  }
  throw new Error(`no dummy for ${String(type)}`);
}

async function callSignedOut(name: string): Promise<string | undefined> {
  const field = mutations[name];
  if (!field) throw new Error(`no mutation ${name}`);
  const defs = field.args.map((a) => `$${a.name}: ${String(a.type)}`).join(", ");
  const args = field.args.map((a) => `${a.name}: $${a.name}`).join(", ");
  const variables = Object.fromEntries(field.args.map((a) => [a.name, dummy(a.type)]));
  const query = `mutation${defs ? `(${defs})` : ""} { ${name}${args ? `(${args})` : ""} { __typename } }`;
  const { body } = await server.graphql(query, variables);
  return body.errors?.[0]?.extensions?.code as string | undefined;
}

const signedIn = (): string[] => [...sqlMutations, ...PLUGIN_SIGNED_IN];

it("finds every SQL mutation in the schema (the list below is complete)", () => {
  expect(sqlMutations.length).toBeGreaterThan(40);
  expect(signedIn().filter((name) => !mutations[name])).toEqual([]);
});

it("answers every mutation that needs a login with UNAUTHENTICATED when signed out", async () => {
  const codes: Record<string, string | undefined> = {};
  for (const name of signedIn()) codes[name] = await callSignedOut(name);
  const wrong = Object.entries(codes).filter(([, code]) => code !== "UNAUTHENTICATED");
  expect(wrong).toEqual([]);
});

it("answers the generated CRUD mutations with FORBIDDEN when signed out (anonymous may write nothing)", async () => {
  const crud = Object.keys(mutations).filter((name) => !signedIn().includes(name) && !OPEN.includes(name));
  expect(crud).toEqual(expect.arrayContaining(["createPost", "updatePost", "deleteFriendship"]));
  const codes: Record<string, string | undefined> = {};
  for (const name of crud) codes[name] = await callSignedOut(name);
  const wrong = Object.entries(codes).filter(([, code]) => code !== "FORBIDDEN");
  expect(wrong).toEqual([]);
});

it("leaves signing in open: register, login and the token mutations are never FORBIDDEN", async () => {
  const codes: Record<string, string | undefined> = {};
  for (const name of OPEN) codes[name] = await callSignedOut(name);
  expect(Object.entries(codes).filter(([, code]) => code === "FORBIDDEN")).toEqual([]);
});
