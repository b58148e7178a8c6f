/**
 * Composition root: the one place that builds Conveyor's adapters (from the settings
 * catalogue, shared/config/settings.ts) and hands them to the functions. Nothing else reaches
 * for a global: every activity, entity and HTTP function is a factory that takes the
 * collaborators it needs and returns its handler, so a test can build it with in-memory fakes.
 *
 * The pattern, for a new function or activity:
 *
 * ```ts
 * // functions/activities/do-thing.activity.ts
 * export function doThing({ ledger }: Pick<Services, 'ledger'>) {
 *   return async (input: ActivityInput<'doThing'>): Promise<ActivityOutput<'doThing'>> => { ... };
 * }
 * // functions/index.ts
 * activities: { ..., doThing: bind(doThing) }
 * ```
 *
 * `bind` builds the services (once per process, on the first call of any handler, so loading
 * the app never touches storage or fails on settings) and then the handler (once).
 * A collaborator that does not exist yet is added to {@link Services} and built in
 * {@link createServices}.
 */
import { join } from 'node:path';
import { processSettings, type Settings } from '../shared/config/settings.js';
import { AppIndex, AppRegistry } from '../shared/apps/index.js';
import { ArtifactCache, ArtifactStore } from '../shared/artifacts/index.js';
import { GitCache } from '../shared/git/index.js';
import { DeploymentLedger, RunStore } from '../shared/ledger/index.js';
import { EnvironmentControls } from '../shared/environments/index.js';
import { BlobSyncStore } from '../shared/reconcile/index.js';
import { MetricsIndex } from '../shared/metrics/index.js';
import { MatrixSnapshots } from '../shared/use-cases/matrix-snapshot.js';
import type { ChangeFeed } from '../shared/storage/change-feed.js';
import { SealedSecrets, SecretRegistry } from '../shared/secrets/index.js';
import { CONTAINERS, containerClient } from '../shared/storage/blob-store.js';
import { ProcessTarget, TargetRegistry } from '../shared/targets/index.js';
import { KubernetesTarget, kubeconfigSecrets, settingKubeconfig } from '../shared/targets/kubernetes/index.js';
import { aksKubeconfig } from '../shared/targets/kubernetes/aks-credentials.js';
import { AcrImageBuilder } from '../shared/targets/kubernetes/acr-build.js';
import { armClientOptions } from '../shared/targets/kubernetes/arm-options.js';
import { ACR_SCOPE, OciRegistry } from '../shared/targets/kubernetes/oci-registry.js';
import { KubernetesJobStepRunner } from '../shared/targets/kubernetes/kubernetes-job.step-runner.js';
import { BlobWorkspaceTransfer } from '../shared/targets/kubernetes/workspace-transfer.js';
import { KubeConfig } from '@kubernetes/client-node';
import { DefaultAzureCredential } from '@azure/identity';
import { LocalStepRunner, type StepRunner } from '../shared/steps/index.js';
import type { ContainerClient } from '@azure/storage-blob';
import { CallerIdentities } from './http/identity.js';
import { BlobStepLogs, type StepLogReader } from '../shared/executor/index.js';
import { EntraTokenValidator } from '../shared/azure/entra-token.js';
import { EventBus, EventOutbox, PublishingEnvironmentControls, ServiceBusEventPublisher } from '../shared/events/index.js';
import { AzureDevOpsReporter, FeedbackDeadLetters, GitHubReporter, GitLabReporter, type FeedbackProvider, type GitHostReporter } from '../shared/feedback/index.js';

/** Everything the functions need. */
export interface Services {
  settings: Settings;
  apps: AppRegistry;
  ledger: DeploymentLedger;
  runs: RunStore;
  artifacts: ArtifactStore;
  /** Verified archives on local disk, by digest (deployments extract from here). */
  artifactCache: ArtifactCache;
  git: GitCache;
  targets: TargetRegistry;
  logs: ContainerClient;
  /** Step logs as the API reads them (over {@link Services.logs}). */
  stepLogs: StepLogReader;
  /** Values that must never reach a log, a status or a blob. */
  secrets: SecretRegistry;
  /** The installation's sealed-secrets keys (opens an app's sealed values, publishes its recipient). */
  sealed: SealedSecrets;
  /** Folder for per-run workspaces. */
  workspaces: string;
  /** Runs build and test steps. */
  /** The installation's default step runner (`CONVEYOR_STEP_RUNNER`). */
  steps: StepRunner;
  /** Every step runner a pipeline may choose with `runner:` (kubernetes only when configured). */
  stepRunners: { local: StepRunner; kubernetes?: StepRunner };
  /** Container images built from a run's source by Azure Container Registry (`build.image`). */
  images: AcrImageBuilder;
  /** Apps by repository, cached for webhook deliveries. */
  appIndex: AppIndex;
  /** Who a caller is (API tokens, App Service authentication). */
  identities: CallerIdentities;
  /** Entra ID access tokens on approval messages (undefined unless CONVEYOR_ENTRA_TENANT_ID / _CLIENT_ID are set). */
  entraTokens?: EntraTokenValidator;
  /** Per-environment index of the ledger for DORA metrics. */
  metrics: MetricsIndex;
  /** Freezes and quarantined digests per environment. */
  controls: EnvironmentControls;
  /** Drift (sync) states written by the reconcile sweep. */
  syncStates: BlobSyncStore;
  /** Per-app matrix snapshots for the apps overview, kept current by the stores above (shared/use-cases/matrix-snapshot.ts). */
  matrix: MatrixSnapshots;
  /** Deployment events: outbox in blob storage, published to the Service Bus topic (docs/events.md). */
  events: EventBus;
  /** Git host feedback (shared/feedback): a reporter per host, and where refused updates are dead-lettered. */
  gitFeedback: { reporters: Readonly<Record<FeedbackProvider, GitHostReporter>>; deadLetters: FeedbackDeadLetters };
}

/** Builds the services from validated settings. */
export function createServices(settings: Settings): Services {
  const state = containerClient(settings.storageConnection, CONTAINERS.state);
  const secrets = new SecretRegistry();
  if (settings.gitToken) secrets.add(settings.gitToken);
  for (const identity of settings.ageIdentities) secrets.add(identity);
  // API tokens are registered up front: a build step may print one before any request used it.
  if (settings.apiTokens.ok) for (const token of settings.apiTokens.table.keys()) secrets.add(token);
  // Cluster credentials (tokens, client keys, passwords) of every kubeconfig setting, likewise.
  const addSecrets = (values: readonly string[]) => {
    for (const v of values) secrets.add(v);
  };
  for (const text of [...settings.kubeconfigs(), ...(settings.kubernetesSteps?.kubeconfig ? [settings.kubernetesSteps.kubeconfig] : [])]) {
    const kc = new KubeConfig();
    try {
      kc.loadFromString(text);
      addSecrets(kubeconfigSecrets(kc));
    } catch {
      // Not a kubeconfig: the target that reads it reports that; the raw value is masked meanwhile.
      secrets.add(text);
    }
  }
  // Every store the apps overview shows announces its changes to the matrix snapshots, which
  // read those same stores to rebuild a row.
  const matrix = new MatrixSnapshots(state);
  const changes: ChangeFeed = matrix;
  const apps = new AppRegistry(state, { changes });
  const artifacts = new ArtifactStore(containerClient(settings.storageConnection, CONTAINERS.artifacts));
  // Steps and services see nothing of Conveyor: its working folder (the default home of the
  // local host's state) and data folder stay hidden even if they sit inside a system folder.
  const sandbox = {
    allowUnsandboxed: settings.allowUnsandboxedSteps,
    hidden: [process.cwd(), settings.dataDir],
    readOnly: settings.sandboxReadOnlyPaths,
  };
  const runners = stepRunners(settings, sandbox);
  const sealed = new SealedSecrets(settings.ageIdentities);
  const ledger = new DeploymentLedger(state, { changes });
  const runs = new RunStore(state, { changes });
  // One identity and one ARM client configuration for AKS and ACR.
  const azureCredential = new DefaultAzureCredential();
  const armOptions = armClientOptions(settings.arm);
  // Image digests are checked against their registry before a Kubernetes deployment applies them.
  addSecrets([...settings.registryAuth.values()].flatMap((c) => [c.password, Buffer.from(`${c.username}:${c.password}`).toString('base64')]));
  const registry = new OciRegistry({ credentials: settings.registryAuth, azure: { credential: azureCredential, scope: ACR_SCOPE } });
  const git = new GitCache({
    cacheDir: join(settings.dataDir, 'git-cache'),
    credentials: settings.gitToken ? { token: settings.gitToken, username: settings.gitUser } : undefined,
  });
  const events = new EventBus({
    outbox: new EventOutbox(state),
    publisher: settings.serviceBus ? new ServiceBusEventPublisher(settings.serviceBus, settings.eventsTopic) : undefined,
    log: (message) => console.warn(message),
  });
  // Every freeze, unfreeze and quarantine is published (docs/events.md), whoever makes it.
  const controls = new PublishingEnvironmentControls(state, changes, events);
  const syncStates = new BlobSyncStore(state, changes);
  const logs = containerClient(settings.storageConnection, CONTAINERS.logs);
  matrix.readFrom({ apps, ledger, runs, controls, syncStates });
  return {
    settings,
    apps,
    // Every app's webhook secret joins the redaction list as soon as the apps are known, so a
    // step resumed after a restart cannot print one before its app's next webhook.
    appIndex: new AppIndex(apps, (all) => {
      for (const app of all) for (const value of settings.webhookSecrets(app.webhookSecretSetting)) secrets.add(value);
    }),
    ledger,
    runs,
    metrics: new MetricsIndex(state, ledger, runs),
    artifacts,
    artifactCache: new ArtifactCache(join(settings.dataDir, 'artifact-cache'), artifacts),
    git,
    targets: new TargetRegistry([
      new ProcessTarget({ root: join(settings.dataDir, 'targets', 'process'), sandbox }),
      new KubernetesTarget({ kubeconfig: settingKubeconfig((name) => settings.kubeconfig(name), undefined, addSecrets, (app, text, reference) => sealed.open(app, text, reference)), imageExists: (name, digest) => registry.check(name, digest) }),
      // AKS: Conveyor's own identity (managed identity in Azure) asks ARM for the cluster.
      new KubernetesTarget({ type: 'aks', kubeconfig: aksKubeconfig({ credential: azureCredential, clientOptions: armOptions, onSecrets: addSecrets }), imageExists: (name, digest) => registry.check(name, digest) }),
    ]),
    logs,
    stepLogs: new BlobStepLogs(logs),
    secrets,
    sealed,
    workspaces: join(settings.dataDir, 'workspaces'),
    stepRunners: runners,
    steps: settings.stepRunner.kind === 'kubernetes' && runners.kubernetes ? runners.kubernetes : runners.local,
    images: new AcrImageBuilder({ credential: azureCredential, clientOptions: armOptions, source: (repoUrl, commit, folder) => git.archiveAtCommit(repoUrl, commit, folder) }),
    identities: new CallerIdentities(settings),
    ...(settings.entraTokens ? { entraTokens: new EntraTokenValidator(settings.entraTokens, settings.entraGroups) } : {}),
    controls,
    syncStates,
    matrix,
    events,
    gitFeedback: {
      reporters: { github: new GitHubReporter(), gitlab: new GitLabReporter(), 'azure-devops': new AzureDevOpsReporter() },
      deadLetters: new FeedbackDeadLetters(state),
    },
  };
}

/** The step runners the settings provide: the local (sandboxed) one, and Kubernetes Jobs when configured. */
function stepRunners(settings: Settings, sandbox: ConstructorParameters<typeof LocalStepRunner>[0]): Services['stepRunners'] {
  const local = new LocalStepRunner({ ...sandbox, killGraceMs: 2000, limits: settings.stepLimits });
  const k = settings.kubernetesSteps;
  if (!k) return { local };
  const kubeconfig = new KubeConfig();
  if (k.kubeconfig) kubeconfig.loadFromString(k.kubeconfig);
  else kubeconfig.loadFromCluster();
  const kubernetes = new KubernetesJobStepRunner({
    kubeconfig,
    namespace: k.namespace,
    image: k.image,
    source: k.source,
    limits: settings.stepLimits,
    ...(settings.gitToken ? { gitAuth: { token: settings.gitToken, ...(settings.gitUser ? { username: settings.gitUser } : {}) } } : {}),
    transfer: new BlobWorkspaceTransfer(containerClient(settings.storageConnection, 'conveyor-steps')),
  });
  return { local, kubernetes };
}

let built: Services | undefined;

/** This process's services, built from its settings on first use. Only {@link bind} calls it. */
function processServices(): Services {
  built ??= createServices(processSettings());
  return built;
}

/**
 * Binds a handler factory to this process's services: the returned handler builds the services
 * (once per process) and the handler (once) on its first call, then delegates.
 */
export function bind<A extends unknown[], R>(factory: (services: Services) => (...args: A) => R): (...args: A) => R {
  let handler: ((...args: A) => R) | undefined;
  return (...args: A): R => {
    handler ??= factory(processServices());
    return handler(...args);
  };
}
