/**
 * The shared read's decoding (src/realtime/sharedReads.ts): a row comes back as its composite
 * literal and must split into exactly the column texts the driver would have seen; values go
 * into the statement as literals, quotes and backslashes escaped.
 */
import { inlineValues, parseRecord, settingsInTurn } from "../../src/realtime/sharedReads.ts";

describe("parseRecord", () => {
  it("splits a composite literal into its fields, NULLs as null", () => {
    expect(parseRecord(`(1,abc,,"")`)).toEqual(["1", "abc", null, ""]);
    expect(parseRecord(`(,)`)).toEqual([null, null]);
    expect(parseRecord(`()`)).toEqual([null]);
  });

  it("undoes the quoting of commas, quotes, backslashes, parentheses and arrays", () => {
    expect(parseRecord(`("a, b","say ""hi""","back\\\\slash","(x)","{a,""b c"",NULL}")`)).toEqual([
      "a, b",
      'say "hi"',
      "back\\slash",
      "(x)",
      '{a,"b c",NULL}',
    ]);
  });
});

describe("inlineValues", () => {
  it("puts each value in its placeholder as a literal, $10 apart from $1", () => {
    const values = ["a'b", null, ...Array.from({ length: 7 }, (_, i) => `v${i + 3}`), "ten"];
    expect(inlineValues(`select $1::text, $2::uuid, $10::text`, values)).toBe(
      `select 'a''b'::text, null::uuid, 'ten'::text`,
    );
    // pg's escapeLiteral: a leading space and E'' when there is a backslash
    expect(inlineValues(`select $1::text`, ["back\\slash"])).toBe(`select  E'back\\\\slash'::text`);
  });

  it("refuses what it cannot write as a literal, and placeholders without a value", () => {
    expect(inlineValues(`select $1::json`, [{ a: 1 }])).toBeNull();
    expect(inlineValues(`select $2::text`, ["one"])).toBeNull();
  });
});

describe("settingsInTurn", () => {
  it("sends the first viewer's settings in full and each next one's changes only", () => {
    const a: [string, string][] = [
      ["jwt.claims.session_id", "s1"],
      ["jwt.claims.user_id", "u1"],
      ["role", "authenticated"],
    ];
    const b: [string, string][] = [
      ["jwt.claims.session_id", "s2"],
      ["jwt.claims.user_id", "u2"],
      ["role", "authenticated"],
    ];
    expect(settingsInTurn([a, b, b])).toEqual([
      a,
      [
        ["jwt.claims.session_id", "s2"],
        ["jwt.claims.user_id", "u2"],
      ],
      [],
    ]);
  });

  it("refuses viewers whose settings have other names: one's claim would stay set for the next", () => {
    const signedIn: [string, string][] = [
      ["jwt.claims.user_id", "u1"],
      ["role", "authenticated"],
    ];
    const anonymous: [string, string][] = [["role", "anonymous"]];
    expect(() => settingsInTurn([signedIn, anonymous])).toThrow(/same settings/);
  });
});
