/**
 * Entra ID groups -> Conveyor approver groups. Behind App Service authentication a person's
 * groups arrive as `groups` claims holding group object ids (or names, for groups synced from
 * Active Directory when the app registration emits them), and app roles as `roles` claims.
 * Pipelines name approvers as `group:<name>`; the `CONVEYOR_ENTRA_GROUPS` setting says which
 * Entra groups make up each Conveyor group:
 *
 * ```json
 * { "release-managers": ["6f9c2b3e-1a2b-4c5d-8e9f-0a1b2c3d4e5f", "Release Managers"] }
 * ```
 *
 * A caller belongs to a Conveyor group when any of its claim values matches one of the group's
 * entries (object ids and names compared case-insensitively). The claim values themselves stay
 * in the identity too, so `group:<object id>` and app-role names also work in a pipeline.
 */
import { z } from 'zod';
import { ValidationError } from '../errors.js';

/** Conveyor group name -> the Entra group object ids, names or app roles that grant it. */
export type EntraGroupMap = ReadonlyMap<string, readonly string[]>;

const mapSchema = z.record(
  z.string().trim().min(1).max(200).regex(/^[^\s,]+$/, 'a Conveyor group name has no spaces or commas'),
  z.array(z.string().trim().min(1).max(256)).min(1).max(100),
);

/** Parses `CONVEYOR_ENTRA_GROUPS` (empty = no mapping). A bad value names the setting and the field. */
export function parseEntraGroupMap(raw: string | undefined): EntraGroupMap {
  if (!raw || raw.trim() === '') return new Map();
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ValidationError('invalid settings: CONVEYOR_ENTRA_GROUPS is not valid JSON', [{ path: 'CONVEYOR_ENTRA_GROUPS', message: 'must be a JSON object of Conveyor group -> list of Entra group ids or names' }]);
  }
  const result = mapSchema.safeParse(parsed);
  if (!result.success) {
    const issues = result.error.issues.map((i) => ({ path: ['CONVEYOR_ENTRA_GROUPS', ...i.path.map(String)].join('.'), message: i.message }));
    throw new ValidationError(`invalid settings: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
  }
  return new Map(Object.entries(result.data));
}

/**
 * The groups of a caller whose token carried `claimValues` (group ids/names and app roles):
 * the claim values, plus every Conveyor group one of them maps to. Sorted, without duplicates.
 */
export function callerGroups(claimValues: readonly string[], map: EntraGroupMap): string[] {
  const held = new Set(claimValues.map((v) => v.toLowerCase()));
  const out = new Set(claimValues);
  for (const [group, members] of map) if (members.some((m) => held.has(m.toLowerCase()))) out.add(group);
  return [...out].sort();
}
