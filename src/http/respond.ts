/**
 * The one shape every refusal outside GraphQL execution takes: a GraphQL response with a single
 * error, a human message and a stable `extensions.code` (docs/error_codes.md), as JSON.
 */
import type { Response } from "express";

import type { ErrorCode } from "../errors.ts";
import { requestRecord } from "./requestObserver.ts";

export interface RefusalBody {
  errors: [{ message: string; extensions: { code: ErrorCode } }];
}

export function refusalBody(code: ErrorCode, message: string): RefusalBody {
  return { errors: [{ message, extensions: { code } }] };
}

export function refuse(
  res: Response,
  status: number,
  code: ErrorCode,
  message: string,
  headers: Record<string, string> = {},
): void {
  const body = refusalBody(code, message);
  const record = requestRecord(res);
  if (record) record.errors = body.errors;
  res.status(status).set(headers).json(body);
}
