/** Who or what caused something: a person (pusher, approver, requester, whoever froze) or `system`. Pure types and rules. */

/** Who or what caused a run or an operation: a person (pusher, approver, requester) or `system`. */
export interface Actor {
  /** Identity (e-mail or user name) of a person, or `system`. */
  id: string;
  /** Display name if known. */
  name?: string;
}

/**
 * An actor from a stored or received value: records written before freezes, quarantines and
 * break-glass kept whole actors hold only the id string (upgraded here, on read); anything else
 * is returned as it is, for the schema to check.
 */
export function upgradeStoredActor(value: unknown): unknown {
  return typeof value === 'string' ? { id: value } : value;
}

/** The actor an identity acts as (its id and display name; groups are not recorded). */
export function actorOf(who: { id: string; name?: string }): Actor {
  return { id: who.id, ...(who.name ? { name: who.name } : {}) };
}

/** How an actor is shown to people: the display name when known, else the id. */
export function actorLabel(actor: Actor): string {
  return actor.name ?? actor.id;
}
