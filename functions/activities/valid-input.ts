/**
 * Activity inputs are parsed where they enter: `withValidInput` wraps a registered activity so
 * an input that does not match its contract (shared/contracts/activity-inputs.schema.ts) is
 * refused with a ValidationError naming the fields, before the activity does anything.
 */
import type { InvocationContext } from '@azure/functions';
import type { ActivityInput, ActivityName, ActivityOutput } from '../../shared/contracts/activities.js';
import { activityInputSchemas } from '../../shared/contracts/activity-inputs.schema.js';
import { ValidationError } from '../../shared/errors.js';

/** `handler` behind the input schema of activity `name`. */
export function withValidInput<K extends ActivityName>(
  name: K,
  handler: (input: ActivityInput<K>, context: InvocationContext) => Promise<ActivityOutput<K>>,
): (input: unknown, context: InvocationContext) => Promise<ActivityOutput<K>> {
  const schema = activityInputSchemas[name];
  return async (input, context) => {
    const parsed = schema.safeParse(input);
    if (!parsed.success) {
      // A bad record key (an env variable name) carries the rule it broke one level down.
      const issues = parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.') || '(input)', message: (i.code === 'invalid_key' ? i.issues[0]?.message : undefined) ?? i.message }));
      throw new ValidationError(`activity ${name} refused its input: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
    }
    return handler(parsed.data as ActivityInput<K>, context);
  };
}
