/**
 * Deploy targets by `spec.type`, so activities pick the implementation from the pipeline's
 * target spec without knowing the concrete classes.
 */
import type { TargetSpec } from '../domain/pipeline.js';
import { NotFoundError } from '../errors.js';
import type { DeployTarget } from './deploy-target.js';

/** The set of available deploy targets. */
export class TargetRegistry {
  private readonly targets = new Map<string, DeployTarget>();

  /** Registers each target under its `type`; a second target for the same type is an error. */
  constructor(targets: readonly DeployTarget[] = []) {
    for (const t of targets) this.register(t);
  }

  /** Adds a target; throws when its type is already taken (two implementations would be ambiguous). */
  register(target: DeployTarget): this {
    if (this.targets.has(target.type)) throw new Error(`a deploy target for type "${target.type}" is already registered`);
    this.targets.set(target.type, target);
    return this;
  }

  /** The target for a type, or undefined. */
  get(type: string): DeployTarget | undefined {
    return this.targets.get(type);
  }

  /** The target for an environment's spec; throws NotFoundError when none serves its type. */
  forSpec(spec: TargetSpec): DeployTarget {
    const target = this.targets.get(spec.type);
    if (!target) throw new NotFoundError(`no deploy target is registered for type "${spec.type}"`);
    return target;
  }

  /** The registered types, e.g. `['process']`. */
  types(): string[] {
    return [...this.targets.keys()];
  }
}
