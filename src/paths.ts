/** Where the project's files live, independent of the process's working directory. */
import { fileURLToPath } from "node:url";

export const PROJECT_ROOT = fileURLToPath(new URL("..", import.meta.url));
export const MIGRATIONS_DIR = fileURLToPath(new URL("../migrations", import.meta.url));
export const POLICIES_DIR = fileURLToPath(new URL("../policies", import.meta.url));
export const GMRC_PATH = fileURLToPath(new URL("../.gmrc", import.meta.url));
export const SCHEMA_GRAPHQL_PATH = fileURLToPath(new URL("../schema.graphql", import.meta.url));
