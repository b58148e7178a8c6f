/** Merging run-record patches (pure): later values win, stage and environment entries merge by field. */
import type { RunPatch } from '../shared/contracts/activities.js';

function mergeEntries<T extends object>(a: Record<string, T> | undefined, b: Record<string, T> | undefined): Record<string, T> | undefined {
  if (!a) return b;
  if (!b) return a;
  const out: Record<string, T> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = { ...out[k], ...v } as T;
  return out;
}

/** `b` applied on top of `a`. */
export function mergeRunPatch(a: RunPatch | undefined, b: RunPatch): RunPatch {
  if (!a) return b;
  const stages = mergeEntries(a.stages, b.stages);
  const environments = mergeEntries(a.environments, b.environments);
  return { ...a, ...b, ...(stages ? { stages } : {}), ...(environments ? { environments } : {}) };
}
