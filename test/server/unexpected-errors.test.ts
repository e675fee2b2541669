/**
 * The nets under /graphql for exceptions grafserv would answer without a code: a stack overflow
 * while a document is parsed or validated (plugins/errorCodes.ts) is refused as
 * QUERY_TOO_COMPLEX, and any 5xx response whose errors have no code (grafserv's "Unknown error
 * occurred") becomes INTERNAL_SERVER_ERROR with an error id that is in the log
 * (plugins/unexpectedErrors.ts). Both are driven with the shapes grafserv hands them.
 */
import type { ExecutionConfig, Result } from "postgraphile/grafserv";
import { GraphQLError } from "postgraphile/graphql";

import { ErrorCodesPlugin } from "../../plugins/errorCodes.ts";
import { codedServerError } from "../../plugins/unexpectedErrors.ts";
import { testLogger } from "../helpers/log.ts";

const json = (status: number, body: unknown): Result => {
  const buffer = Buffer.from(JSON.stringify(body), "utf8");
  return {
    type: "buffer",
    statusCode: status,
    headers: { "content-type": "application/json", "content-length": String(buffer.length) },
    buffer,
  };
};

const bodyOf = (
  result: Result | null,
): { errors: { message: string; extensions: Record<string, unknown> }[] } => {
  if (result?.type !== "buffer") throw new Error(`not a buffer: ${result?.type}`);
  return JSON.parse(result.buffer.toString("utf8"));
};

describe("a 5xx answered by grafserv without a code", () => {
  test("becomes INTERNAL_SERVER_ERROR with an error id, logged, the status kept", () => {
    const log = testLogger();
    const out = codedServerError(
      json(500, { errors: [{ message: "Unknown error occurred" }] }),
      log,
    )!;
    expect(out.statusCode).toBe(500);
    const body = bodyOf(out);
    expect(body.errors).toHaveLength(1);
    const [error] = body.errors;
    expect(error!.extensions.code).toBe("INTERNAL_SERVER_ERROR");
    const errorId = error!.extensions.errorId as string;
    expect(errorId).toMatch(/^[0-9a-f-]{36}$/);
    expect(error!.message).toContain(errorId);
    expect(out.type === "buffer" && out.headers["content-length"]).toBe(
      String(out.type === "buffer" ? out.buffer.length : -1),
    );
    expect(log.lines.some((l) => l.includes(errorId) && l.includes("Unknown error occurred"))).toBe(
      true,
    );
  });

  test("a 503 (the schema not ready in time) becomes SERVICE_UNAVAILABLE", () => {
    const out = codedServerError(
      json(503, { errors: [{ message: "Unknown error occurred" }] }),
      testLogger(),
    );
    expect(out?.statusCode).toBe(503);
    expect(bodyOf(out).errors[0]!.extensions.code).toBe("SERVICE_UNAVAILABLE");
  });

  test("a JSON result is rewritten too", () => {
    const out = codedServerError(
      { type: "json", statusCode: 500, headers: {}, json: { errors: [{ message: "boom" }] } },
      testLogger(),
    );
    expect(bodyOf(out).errors[0]!.extensions.code).toBe("INTERNAL_SERVER_ERROR");
    expect(JSON.stringify(bodyOf(out))).not.toContain("boom");
  });

  test("coded errors, responses under 500 and bodies that are not GraphQL pass untouched", () => {
    const log = testLogger();
    const coded = json(500, {
      errors: [{ message: "x", extensions: { code: "INTERNAL_SERVER_ERROR", errorId: "1" } }],
    });
    expect(codedServerError(coded, log)).toBe(coded);
    const refused = json(400, { errors: [{ message: "no code" }] });
    expect(codedServerError(refused, log)).toBe(refused);
    const text: Result = {
      type: "buffer",
      statusCode: 500,
      headers: {},
      buffer: Buffer.from("ERROR"),
    };
    expect(codedServerError(text, log)).toBe(text);
    expect(codedServerError(null, log)).toBeNull();
    expect(log.lines).toEqual([]);
  });
});

describe("a document whose checking runs out of stack", () => {
  type SetPreset = (
    next: () => void,
    event: { getExecutionConfig: (ctx: unknown) => Promise<ExecutionConfig> },
  ) => void;
  /** The plugin's parse-and-validate around `inner`, as grafserv's setPreset hands it over. */
  async function wrapped(
    inner: ExecutionConfig["parseAndValidate"],
  ): Promise<ExecutionConfig["parseAndValidate"]> {
    const event = {
      getExecutionConfig: async (_ctx: unknown) =>
        ({ parseAndValidate: inner }) as unknown as ExecutionConfig,
    };
    const setPreset = ErrorCodesPlugin.grafserv!.middleware!.setPreset as unknown as SetPreset;
    setPreset(() => undefined, event);
    return (await event.getExecutionConfig({})).parseAndValidate;
  }
  const overflow = (): never => {
    throw new RangeError("Maximum call stack size exceeded");
  };

  test("thrown: refused as QUERY_TOO_COMPLEX (nesting)", async () => {
    const parseAndValidate = await wrapped(overflow);
    const { errors } = parseAndValidate("{ a }") as { errors: readonly GraphQLError[] };
    expect(errors.map((e) => e.extensions)).toEqual([
      { code: "QUERY_TOO_COMPLEX", limit: "nesting" },
    ]);
  });

  test("handed back as the parser's error (grafserv catches what parse throws): the same", async () => {
    const parseAndValidate = await wrapped(
      () => ({ errors: [new RangeError("Maximum call stack size exceeded")] }) as never,
    );
    const { errors } = parseAndValidate("{ a }") as { errors: readonly GraphQLError[] };
    expect(errors[0]!.extensions).toEqual({ code: "QUERY_TOO_COMPLEX", limit: "nesting" });
    expect(errors[0]!.message).not.toContain("Maximum call stack");
  });

  test("other errors keep their codes; other exceptions go on to the 5xx net", async () => {
    const syntax = await wrapped(
      () => ({ errors: [new GraphQLError("Syntax Error: Unexpected Name")] }) as never,
    );
    expect((syntax("x") as { errors: GraphQLError[] }).errors[0]!.extensions.code).toBe(
      "GRAPHQL_PARSE_FAILED",
    );
    const other = await wrapped(() => {
      throw new TypeError("a bug");
    });
    expect(() => other("{ a }")).toThrow(TypeError);
  });
});
