/**
 * Generated update mutations (`updatePost`, `updateUserProfileByUserId`, …) answer NOT_FOUND
 * when no row was updated — it does not exist, or row-level security hides it or refuses the
 * change — like the generated deletes do. Without this, @dataplan/pg's pgUpdateSingle answers
 * `{ post: null }` without an error, and a client cannot tell a refusal from a success.
 *
 * The plan PostGraphile builds is kept: it returns `object({ result: $update })`; we add to that
 * object a check that depends on `$update` and throws when the update matched no row, so the
 * payload (and the whole field) becomes that error.
 */
import "postgraphile";
import { lambda, ObjectStep, type Step } from "postgraphile/grafast";

import { appError } from "../src/errors.ts";

/** The message a refused or missing update answers with (code NOT_FOUND). */
export const NOTHING_UPDATED_MESSAGE =
  "Nothing was updated: it does not exist or you may not change it.";

function assertUpdated(row: unknown): true {
  if (row == null) throw appError("NOT_FOUND", NOTHING_UPDATED_MESSAGE);
  return true;
}

export const UpdateRefusalsPlugin: GraphileConfig.Plugin = {
  name: "MkingUpdateRefusalsPlugin",
  version: "1.0.0",
  after: ["PgMutationUpdateDeletePlugin"],
  schema: {
    hooks: {
      GraphQLObjectType_fields_field(field, _build, context) {
        const { isRootMutation, isPgUpdateMutation, fieldName } = context.scope;
        if (!isRootMutation || !isPgUpdateMutation) return field;
        const plan = field.plan;
        if (!plan) throw new Error(`UpdateRefusalsPlugin: Mutation.${fieldName} has no plan`);
        return {
          ...field,
          plan(...args: Parameters<typeof plan>) {
            const $payload: unknown = plan(...args);
            if (!($payload instanceof ObjectStep)) {
              throw new Error(
                `UpdateRefusalsPlugin: Mutation.${fieldName} no longer plans object({ result })`,
              );
            }
            const $object = $payload as ObjectStep<{ result: Step; updated: Step<true> }>;
            $object.set("updated", lambda($object.getStepForKey("result"), assertUpdated));
            return $object;
          },
        };
      },
    },
  },
};
