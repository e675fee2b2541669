/** The MKing Friend typed client: see ../README.md. */
export { createClient, type ClientOptions, type MkingClient } from "./client.ts";
export type { SessionChange } from "./auth.ts";
export { ApiError, isApiError, type ErrorCode } from "./errors.ts";
export { ERROR_CODES } from "./generated/errorCodes.ts";
export * from "./generated/graphql.ts";
export { pages, Pager, type FetchPage, type Page } from "./paging.ts";
export {
  uploadFile,
  UploadFailedError,
  UPLOAD_FAILURE_CODES,
  type UploadedFile,
  type UploadErrorCode,
  type UploadFileOptions,
} from "./uploads.ts";
export type { ConnectionEvent, SubscriptionHandlers } from "./realtime.ts";
export {
  memoryStore,
  tokenTimes,
  webStorageStore,
  type Session,
  type SessionStore,
  type SessionUser,
  type WebStorage,
} from "./session.ts";
