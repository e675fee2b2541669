/**
 * `npm run trusted-documents -- <dir or file>... [--out trusted-documents.json] [--replace]`:
 * registers a client's GraphQL documents for trusted documents mode (GRAPHQL_TRUSTED_DOCUMENTS;
 * src/graphql/trustedDocuments.ts).
 *
 * Every `.graphql` / `.gql` file found (folders are searched recursively) is one document,
 * exactly as the client sends it; its hash is the SHA-256 (hex) of the file's text. The
 * manifest `{ "<hash>": "<document>" }` is written to `--out`. Entries already in that file
 * are kept (clients of the previous release still send their hashes) unless `--replace`.
 * Prints one line per document: hash, file, operation names.
 */
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";

import { Kind, parse } from "graphql";

import { documentHash, parseTrustedDocuments } from "./graphql/trustedDocuments.ts";

export interface RegisteredDocument {
  file: string;
  hash: string;
  operations: string[];
}

async function graphqlFiles(input: string): Promise<string[]> {
  if (!(await stat(input)).isDirectory()) return [input];
  const entries = await readdir(input, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && /\.(graphql|gql)$/.test(e.name))
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

/** Reads the documents under `inputs` and writes the manifest; throws on a bad document. */
export async function writeTrustedDocuments(options: {
  inputs: readonly string[];
  out: string;
  replace?: boolean;
}): Promise<RegisteredDocument[]> {
  const manifest = new Map<string, string>();
  if (!options.replace) {
    const existing = await readFile(options.out, "utf8").catch(() => null);
    if (existing !== null) {
      for (const [hash, doc] of parseTrustedDocuments(existing, options.out)) {
        manifest.set(hash, doc);
      }
    }
  }
  const registered: RegisteredDocument[] = [];
  for (const input of options.inputs) {
    for (const file of await graphqlFiles(input)) {
      const text = await readFile(file, "utf8");
      let operations: string[];
      try {
        operations = parse(text)
          .definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION)
          .map((d) => d.name?.value ?? "(anonymous)");
      } catch (e) {
        throw new Error(`${file}: ${(e as Error).message}`);
      }
      if (operations.length === 0) throw new Error(`${file}: no operation in this document`);
      const hash = documentHash(text);
      manifest.set(hash, text);
      registered.push({ file, hash, operations });
    }
  }
  const sorted = Object.fromEntries([...manifest].sort(([a], [b]) => (a < b ? -1 : 1)));
  await writeFile(options.out, JSON.stringify(sorted, null, 2) + "\n");
  return registered;
}

async function main(args: string[]): Promise<void> {
  const inputs: string[] = [];
  let out = "trusted-documents.json";
  let replace = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--out" && args[i + 1]) out = args[++i]!;
    else if (arg === "--replace") replace = true;
    else inputs.push(arg);
  }
  if (inputs.length === 0) {
    process.stderr.write(
      "usage: npm run trusted-documents -- <dir or file>... [--out trusted-documents.json] [--replace]\n",
    );
    process.exit(2);
  }
  try {
    const registered = await writeTrustedDocuments({ inputs, out, replace });
    for (const r of registered) {
      process.stdout.write(`${r.hash}  ${r.file}  ${r.operations.join(", ")}\n`);
    }
    process.stdout.write(`${registered.length} document(s) registered in ${out}\n`);
  } catch (error) {
    process.stderr.write(`trusted-documents: ${(error as Error).message}\n`);
    process.exit(1);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await main(process.argv.slice(2));
}
