/**
 * How deep a request's JSON may nest. A JSON variable (the passkey answers, `JSON!`) nested a
 * few thousand levels, well within MAX_REQUEST_BYTES, overflowed the stack of the recursive code
 * that coerces it: a 500. The check itself walks with an explicit stack, so it cannot overflow.
 */
export const MAX_JSON_DEPTH = 64;

/** Whether `value` nests objects and arrays more than `max` levels deep. */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (depth + 1 > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === "object" && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}

/** The refusal of a request whose variables or extensions nest too deep, or null (HTTP and ws). */
export function tooDeepJson(variables: unknown, extensions: unknown): string | null {
  return nestsDeeperThan(variables, MAX_JSON_DEPTH) || nestsDeeperThan(extensions, MAX_JSON_DEPTH)
    ? `\`variables\` and \`extensions\` may nest at most ${MAX_JSON_DEPTH} levels deep`
    : null;
}
