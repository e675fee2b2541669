/** Hand-made `.cpuprofile` parts for the tests of bench/harness/cpuProfile.ts. */
import type { CpuProfile } from "../../bench/harness/cpuProfile.ts";

/** One node of a profile's call tree: a function of a file, and the ids of its callees. */
export function frame(
  id: number,
  functionName: string,
  url: string,
  children: number[] = [],
): CpuProfile["nodes"][number] {
  return { id, callFrame: { functionName, url }, children };
}
