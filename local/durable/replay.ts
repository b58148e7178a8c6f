/**
 * Pure helpers for turning the library's cumulative action list into new work (docs/durable.md,
 * "How an episode runs"): leaf enumeration, structural signatures for the non-determinism
 * check, input decoding, and the retry back-off formula.
 */
import { ActionType, type Action, type RetryOptions } from './types.js';

/** Leaves of one top-level action, depth-first, left to right (the order ids are allocated). */
export function leavesOf(action: Action, out: Action[] = []): Action[] {
  if ((action.actionType === ActionType.WhenAll || action.actionType === ActionType.WhenAny) && Array.isArray(action.compoundActions)) {
    for (const child of action.compoundActions) leavesOf(child, out);
  } else {
    out.push(action);
  }
  return out;
}

/** What must stay the same between replays of one top-level action (names, not inputs). */
export function signatureOf(action: Action): string {
  if (action.actionType === ActionType.WhenAll || action.actionType === ActionType.WhenAny) {
    return `${action.actionType}(${(action.compoundActions ?? []).map(signatureOf).join(',')})`;
  }
  const name = action.functionName ?? action.operation ?? action.externalEventName ?? '';
  const target = action.actionType === ActionType.CallEntity || action.actionType === ActionType.SignalEntity ? `@${action.instanceId}` : '';
  return `${action.actionType}:${name}${target}`;
}

/** Human-readable description of an action for error messages. */
export function describeAction(action: Action | undefined): string {
  if (!action) return 'nothing';
  const names: Record<number, string> = Object.fromEntries(Object.entries(ActionType).map(([k, v]) => [v, k]));
  const type = names[action.actionType] ?? `action ${action.actionType}`;
  if (action.compoundActions) return `${type}[${action.compoundActions.map(describeAction).join(', ')}]`;
  const name = action.functionName ?? action.operation ?? action.externalEventName;
  return name ? `${type}('${name}')` : type;
}

/**
 * CallActivity(+Retry) and ContinueAsNew carry a string input JSON-encoded once more;
 * undo that so the activity sees what the orchestrator passed.
 */
export function decodeInput(actionType: number, input: unknown): unknown {
  if (
    typeof input === 'string' &&
    (actionType === ActionType.CallActivity || actionType === ActionType.CallActivityWithRetry || actionType === ActionType.ContinueAsNew)
  ) {
    try {
      return JSON.parse(input);
    } catch {
      return input;
    }
  }
  return input;
}

/** JSON text of a value, null for undefined (stored columns, history payloads). */
export function toJsonText(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

/** Parses stored JSON text; unparsable text is returned as a string, null stays null. */
export function fromJsonText(text: string | null | undefined): unknown {
  if (text === null || text === undefined) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Delay before retry attempt `attempts + 1` (DTFx RetryInterceptor: first × backoff^(n-1), capped). */
export function retryDelayMs(retry: RetryOptions, attemptsMade: number): number {
  const backoff = retry.backoffCoefficient ?? 1;
  let delay = retry.firstRetryIntervalInMilliseconds * Math.pow(backoff, Math.max(0, attemptsMade - 1));
  if (retry.maxRetryIntervalInMilliseconds && retry.maxRetryIntervalInMilliseconds > 0) {
    delay = Math.min(delay, retry.maxRetryIntervalInMilliseconds);
  }
  return Number.isFinite(delay) && delay > 0 ? delay : 0;
}

/** `@name@key` → { name, key } (the name is already lower case in a scheduler id). */
export function parseSchedulerId(id: string): { name: string; key: string } {
  const second = id.indexOf('@', 1);
  if (!id.startsWith('@') || second < 0) throw new Error(`not an entity scheduler id: ${id}`);
  return { name: id.slice(1, second), key: id.slice(second + 1) };
}

export function schedulerId(name: string, key: string): string {
  return `@${name.toLowerCase()}@${key}`;
}
