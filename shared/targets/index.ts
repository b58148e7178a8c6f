/**
 * Deploy targets: the port (deploy-target.ts), the registry keyed by `spec.type`, and the
 * `process` target (the embedded default).
 */
export type { DeployFailure, DeployRequest, DeployResult, DeploySuccess, DeployTarget, DetailValue, StopResult, TargetState, TargetStatus } from './deploy-target.js';
export { TargetRegistry } from './target-registry.js';
export { ProcessTarget, portAcceptsConnections, type ProcessState, type ProcessTargetOptions } from './process.target.js';
