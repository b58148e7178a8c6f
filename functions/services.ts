/**
 * Composition root: builds Conveyor's adapters once per process from the settings. Activities
 * and HTTP functions get their collaborators from here, so neither knows which host runs them.
 */
import { join } from 'node:path';
import { readSettings, type Settings } from '../shared/config/settings.js';
import { AppRegistry } from '../shared/apps/index.js';
import { ArtifactStore } from '../shared/artifacts/index.js';
import { GitCache } from '../shared/git/index.js';
import { DeploymentLedger, RunStore } from '../shared/ledger/index.js';
import { SecretRegistry } from '../shared/secrets/index.js';
import { CONTAINERS, containerClient } from '../shared/storage/blob-store.js';
import { ProcessTarget, TargetRegistry } from '../shared/targets/index.js';
import { UnsandboxedStepRunner, type StepRunner } from '../shared/steps/index.js';
import type { ContainerClient } from '@azure/storage-blob';
import { AppIndex } from './app-index.js';

/** Everything the functions need. */
export interface Services {
  settings: Settings;
  apps: AppRegistry;
  ledger: DeploymentLedger;
  runs: RunStore;
  artifacts: ArtifactStore;
  git: GitCache;
  targets: TargetRegistry;
  logs: ContainerClient;
  /** Values that must never reach a log, a status or a blob. */
  secrets: SecretRegistry;
  /** Folder for per-run workspaces. */
  workspaces: string;
  /** Runs build and test steps. */
  steps: StepRunner;
  /** Apps by repository, cached for webhook deliveries. */
  appIndex: AppIndex;
}

let cached: Services | undefined;

/** The process-wide services (created on first use from the environment). */
export function services(): Services {
  if (!cached) cached = createServices(process.env);
  return cached;
}

/** Builds services from an environment (exported for tests). */
export function createServices(env: Readonly<Record<string, string | undefined>>): Services {
  const settings = readSettings(env);
  const state = containerClient(settings.storageConnection, CONTAINERS.state);
  const secrets = new SecretRegistry();
  if (settings.gitToken) secrets.add(settings.gitToken);
  // API tokens are registered up front: a build step may print one before any request has
  // made identity.ts parse the table. A malformed table is reported there, on use.
  try {
    const tokens: unknown = JSON.parse(env.CONVEYOR_API_TOKENS || '{}');
    if (tokens && typeof tokens === 'object') for (const token of Object.keys(tokens)) secrets.add(token);
  } catch {
    // reported by identity.ts
  }
  const apps = new AppRegistry(state);
  return {
    settings,
    apps,
    // Every app's webhook secret joins the redaction list as soon as the apps are known, so a
    // step resumed after a restart cannot print one before its app's next webhook.
    appIndex: new AppIndex(apps, (all) => {
      for (const app of all) for (const value of (env[app.webhookSecretSetting] ?? '').split(',')) secrets.add(value.trim());
    }),
    ledger: new DeploymentLedger(state),
    runs: new RunStore(state),
    artifacts: new ArtifactStore(containerClient(settings.storageConnection, CONTAINERS.artifacts)),
    git: new GitCache({
      cacheDir: join(settings.dataDir, 'git-cache'),
      credentials: settings.gitToken ? { token: settings.gitToken, username: settings.gitUser } : undefined,
    }),
    targets: new TargetRegistry([new ProcessTarget({ root: join(settings.dataDir, 'targets', 'process') })]),
    logs: containerClient(settings.storageConnection, CONTAINERS.logs),
    secrets,
    workspaces: join(settings.dataDir, 'workspaces'),
    steps: new UnsandboxedStepRunner(),
  };
}
