/**
 * Trusted documents (persisted operations, an operation allowlist): opt-in with
 * GRAPHQL_TRUSTED_DOCUMENTS=<manifest.json>. The manifest maps the SHA-256 (hex) of each
 * registered document to the document; clients send the hash instead of the document, as
 * `{"documentId": "sha256:<hex>"}` (GraphQL-over-HTTP persisted documents; the `sha256:`
 * prefix is optional) or `{"extensions": {"persistedQuery": {"sha256Hash": "<hex>"}}}`
 * (Apollo). Anything else — a `query` text, an unknown hash — is refused with
 * `UNTRUSTED_DOCUMENT`, over HTTP and websockets alike.
 *
 * The substitution of hash → document is @grafserv/persisted's PersistedPlugin (grafserv's
 * `processGraphQLRequestBody` middleware, which both transports run). In front of it, a gate
 * of ours refuses what it would refuse, with our stable error code, and without the plugin's
 * `console.error` of every refused payload (a log flood anyone could trigger). Should the gate
 * be bypassed, PersistedPlugin still refuses: it never runs an unregistered document.
 *
 * The manifest is written by `npm run trusted-documents` (src/trustedDocuments.ts).
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

import { PersistedPlugin } from "@grafserv/persisted";
import "postgraphile";
import type { ParsedGraphQLBody } from "postgraphile/grafserv";
import { getOperationAST, parse, type DocumentNode } from "postgraphile/graphql";

import { appError } from "../errors.ts";

/** SHA-256 (hex) → document text. */
export type TrustedDocuments = ReadonlyMap<string, string>;

/** The hash a document is registered under: SHA-256 of its exact text (UTF-8), in hex. */
export function documentHash(document: string): string {
  return createHash("sha256").update(document, "utf8").digest("hex");
}

const HASH = /^[0-9a-f]{64}$/;

/** Reads a manifest's JSON; throws an Error naming the first problem. */
export function parseTrustedDocuments(json: string, source: string): TrustedDocuments {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new Error(`${source}: not valid JSON`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new Error(`${source}: expected an object { "<sha256 hex>": "<document>" }`);
  }
  const documents = new Map<string, string>();
  for (const [hash, document] of Object.entries(parsed)) {
    if (!HASH.test(hash)) throw new Error(`${source}: "${hash}" is not a SHA-256 hex hash`);
    if (typeof document !== "string") throw new Error(`${source}: ${hash} is not a string`);
    if (documentHash(document) !== hash) {
      throw new Error(`${source}: ${hash} is not the SHA-256 of its document`);
    }
    try {
      parse(document);
    } catch (e) {
      throw new Error(`${source}: ${hash} is not a GraphQL document (${(e as Error).message})`);
    }
    documents.set(hash, document);
  }
  return documents;
}

export function loadTrustedDocuments(file: string): TrustedDocuments {
  let json: string;
  try {
    json = readFileSync(file, "utf8");
  } catch (e) {
    throw new Error(`GRAPHQL_TRUSTED_DOCUMENTS: cannot read ${file} (${(e as Error).message})`);
  }
  return parseTrustedDocuments(json, file);
}

function field(value: unknown, name: string): unknown {
  return value !== null && typeof value === "object"
    ? (value as Record<string, unknown>)[name]
    : undefined;
}

/** The document hash a request names, if any (see the header for the accepted shapes). */
export function hashFromPayload(body: ParsedGraphQLBody): string | undefined {
  const hash = field(field(body.extensions, "persistedQuery"), "sha256Hash");
  if (typeof hash === "string") return hash;
  const documentId: unknown = body.documentId;
  if (typeof documentId === "string") return documentId.replace(/^sha256:/, "");
  return undefined;
}

/** Added to the preset when GRAPHQL_TRUSTED_DOCUMENTS is set. */
export function trustedDocumentsPreset(documents: TrustedDocuments): GraphileConfig.Preset {
  const parsed = new Map<string, DocumentNode>();
  const isSubscription = (hash: string, operationName: unknown): boolean => {
    let document = parsed.get(hash);
    if (!document) {
      document = parse(documents.get(hash) ?? "");
      parsed.set(hash, document);
    }
    const name = typeof operationName === "string" ? operationName : undefined;
    return getOperationAST(document, name)?.operation === "subscription";
  };
  const gate: GraphileConfig.Plugin = {
    name: "MkingTrustedDocumentsGatePlugin",
    version: "1.0.0",
    grafserv: {
      middleware: {
        processGraphQLRequestBody: {
          before: ["PersistedPlugin"],
          callback(next, event) {
            const hash = hashFromPayload(event.body);
            if (hash === undefined || !documents.has(hash)) {
              throw appError(
                "UNTRUSTED_DOCUMENT",
                hash === undefined
                  ? "This server runs only registered documents: send the document's hash as documentId."
                  : "No document is registered under this hash.",
                { statusCode: 400 },
              );
            }
            if (event.request && isSubscription(hash, event.body.operationName)) {
              // What src/http/transport.ts does for documents sent as text.
              throw appError(
                "SUBSCRIPTIONS_REQUIRE_WEBSOCKET",
                "Subscriptions are served over websockets only: connect to /graphql with the graphql-transport-ws protocol",
                { statusCode: 400 },
              );
            }
            return next();
          },
        },
      },
    },
  };
  return {
    plugins: [gate, PersistedPlugin],
    grafserv: {
      hashFromPayload,
      persistedOperationsGetter(hash) {
        const document = documents.get(hash);
        if (document === undefined) throw new Error("unregistered document hash");
        return document;
      },
      allowUnpersistedOperation: false,
    },
  };
}
