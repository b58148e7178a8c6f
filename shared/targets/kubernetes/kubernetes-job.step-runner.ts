/**
 * A {@link StepRunner} that runs each step as a Kubernetes Job (where steps belong once Conveyor
 * runs in Azure: a Functions worker is no place for a 20-minute build).
 *
 * For one step the runner:
 * 1. gets the source into the Job: for a fresh checkout of a commit (`request.source`, the build
 *    step) an init container fetches exactly that commit from git (the credential from a Secret);
 *    otherwise (the test step runs in the built workspace), or with `source: 'upload'`, it packs
 *    the workspace and stages it with {@link WorkspaceTransfer} (a read-only SAS URL for the
 *    source blob); the outputs always go back through a create/write-only SAS URL for exactly the
 *    outputs blob;
 * 2. puts `secretEnv` into a Secret (never into the Job spec) and creates a Job with
 *    `backoffLimit: 0`, `activeDeadlineSeconds` from the step's timeout, the image from the
 *    options, the step's variables as plain env and the secrets as `secretKeyRef`s; the
 *    container's script downloads and unpacks the source, runs the command with `bash -c`
 *    (after unsetting the transfer URLs), packs the requested outputs and uploads them;
 * 3. follows the pod's log into the step's log sink, redacted as it streams;
 * 4. takes the container's exit code as the step's result, downloads the outputs into the
 *    workspace, and deletes the Job (its pods with it), the Secret and the staged blobs.
 * A timeout or abort deletes the Job at once. Only a cluster that cannot run the step at all
 * (unreachable, forbidden, the Job never starts) rejects.
 */
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import { extractArtifact, packArtifact } from '../../artifacts/index.js';
import { ExternalFailureError } from '../../errors.js';
import { conveyorVarName } from '../../executor/run-step.js';
import { StreamingRedactor } from '../../secrets/redactor.js';
import { stepRedactor } from '../../steps/step-secrets.js';
import { DEFAULT_STEP_LIMITS, effectiveLimits, formatBytes, type StepIsolation, type StepLimits } from '../../steps/step-limits.js';
import { SECRET_FILES_DIR, type StepOutcome, type StepRequest, type StepRunner } from '../../steps/step-runner.js';
import type { WorkspaceTransfer } from './workspace-transfer.js';

/** Options of {@link KubernetesJobStepRunner}. */
export interface KubernetesJobStepRunnerOptions {
  kubeconfig: k8s.KubeConfig;
  /** Namespace the Jobs run in. */
  namespace: string;
  /** Image the steps run in (needs bash, curl and tar). */
  image: string;
  transfer: WorkspaceTransfer;
  /** CPU/memory requests and limits of the step container. */
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  /** The installation's step limits (each step's default and ceiling), as container requests and limits. */
  limits?: StepLimits;
  /** How long the pod may take to start before the step is refused (default 5 minutes). */
  startTimeoutMs?: number;
  /** Poll interval while waiting for the pod (default 200 ms). */
  pollMs?: number;
  /**
   * How a step whose workspace is a fresh checkout (`request.source`) gets its source: `git`
   * (default) fetches the commit inside the Job, in an init container running `git` (the step
   * image needs it) with the credential from a Secret; `upload` ships the checked-out workspace
   * through the SAS path, for clusters that cannot reach the git host.
   */
  source?: 'git' | 'upload';
  /** Credential for https git remotes (a token; sent as HTTP basic auth, from a Secret). */
  gitAuth?: { token: string; username?: string };
}

const SCRIPT = `set -eu
mkdir -p conveyor-workspace && cd conveyor-workspace
if [ -n "$CONVEYOR_JOB_SOURCE_URL" ]; then curl -fsS --retry 3 "$CONVEYOR_JOB_SOURCE_URL" | tar -xzf -; fi
out_url="$CONVEYOR_JOB_OUTPUT_URL"; outputs="$CONVEYOR_JOB_OUTPUTS"; step="$CONVEYOR_JOB_COMMAND"
unset CONVEYOR_JOB_SOURCE_URL CONVEYOR_JOB_OUTPUT_URL CONVEYOR_JOB_OUTPUTS CONVEYOR_JOB_COMMAND
set +e
bash -c "$step"
code=$?
set -e
if [ -n "$outputs" ]; then
  if [ "$outputs" = "." ]; then tar -czf ../conveyor-outputs.tgz .; else printf '%s\\n' "$outputs" | tar -czf ../conveyor-outputs.tgz -T -; fi
  curl -fsS --retry 3 -X PUT -H 'x-ms-blob-type: BlockBlob' --data-binary @../conveyor-outputs.tgz "$out_url" >/dev/null
fi
exit $code
`;

/**
 * The init container's script: fetch exactly the commit (shallow) into the shared volume. The
 * URL and commit come as variables (never spliced into the script); a credential, when there
 * is one, as git configuration from the Secret (never on a command line).
 */
const FETCH_SCRIPT = `set -eu
git init -q conveyor-workspace
cd conveyor-workspace
git fetch -q --depth 1 "$CONVEYOR_GIT_URL" "$CONVEYOR_GIT_COMMIT"
git -c advice.detachedHead=false checkout -q FETCH_HEAD
rm -rf .git
echo "fetched $CONVEYOR_GIT_COMMIT"
`;

/** Runs steps as Kubernetes Jobs. */
export class KubernetesJobStepRunner implements StepRunner {
  /** Always `kubernetes-job`. */
  readonly kind = 'kubernetes-job';
  private readonly batch: k8s.BatchV1Api;
  private readonly core: k8s.CoreV1Api;
  private readonly log: k8s.Log;

  constructor(private readonly options: KubernetesJobStepRunnerOptions) {
    this.batch = options.kubeconfig.makeApiClient(k8s.BatchV1Api);
    this.core = options.kubeconfig.makeApiClient(k8s.CoreV1Api);
    this.log = new k8s.Log(options.kubeconfig);
  }

  /** See {@link StepRunner.run}. */
  async run(request: StepRequest): Promise<StepOutcome> {
    const started = Date.now();
    const ns = this.options.namespace;
    const id = `conveyor-${request.name.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 20)}-${randomBytes(4).toString('hex')}`;
    const work = await mkdtemp(join(tmpdir(), 'conveyor-job-'));
    const redactor = new StreamingRedactor(stepRedactor(request));
    let tail = '';
    const emit = (text: string) => {
      if (!text) return;
      request.log.write(text);
      tail = (tail + text).slice(-4000);
    };
    let staged: Awaited<ReturnType<WorkspaceTransfer['stage']>> | undefined;
    let jobCreated = false;
    let secretCreated = false;
    try {
      // The source: fetched from git inside the Job (a fresh checkout's commit), or the
      // workspace as it is here, packed and handed over by a read-only SAS URL.
      const fromGit = request.source !== undefined && (this.options.source ?? 'git') === 'git';
      let sourceArchive = Buffer.alloc(0);
      if (!fromGit) {
        const archive = join(work, 'source.tar.gz');
        const entries = await readdir(request.workspace.dir);
        await packArtifact(request.workspace.dir, entries.length > 0 ? entries : [], archive);
        sourceArchive = await readFile(archive);
      }
      staged = await this.options.transfer.stage(id, sourceArchive, request.timeoutMs + (this.options.startTimeoutMs ?? 300_000));
      const outputs = request.workspace.outputs === undefined ? '.' : request.workspace.outputs.join('\n');
      const env: k8s.V1EnvVar[] = [
        { name: 'CONVEYOR_JOB_SOURCE_URL', value: fromGit ? '' : staged.sourceUrl },
        { name: 'CONVEYOR_JOB_OUTPUT_URL', value: staged.outputUrl },
        { name: 'CONVEYOR_JOB_OUTPUTS', value: outputs },
        { name: 'CONVEYOR_JOB_COMMAND', value: request.command },
        ...Object.entries(request.env).map(([name, value]) => ({ name, value })),
        ...Object.entries(request.conveyorVars)
          .filter((e): e is [string, string] => e[1] !== undefined)
          .map(([k, value]) => ({ name: conveyorVarName(k), value })),
      ];
      const secretEnv = request.secretEnv ?? {};
      // Secret files: the same Secret, mounted read-only (a memory-backed volume) at /run/secrets.
      const secretFiles = request.secretFiles ?? {};
      // The git credential of an init container's fetch, when there is one, goes in the same Secret.
      const git = fromGit ? gitFetch(request.source!, this.options.gitAuth) : undefined;
      if (Object.keys(secretEnv).length > 0 || Object.keys(secretFiles).length > 0 || Object.keys(git?.secret ?? {}).length > 0) {
        const data = { ...secretEnv, ...secretFiles, ...(git?.secret ?? {}) };
        await this.core.createNamespacedSecret({
          namespace: ns,
          body: { metadata: { name: id, labels: { 'app.kubernetes.io/managed-by': 'conveyor' } }, type: 'Opaque', data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) },
        });
        secretCreated = true;
        for (const name of Object.keys(secretEnv)) env.push({ name, valueFrom: { secretKeyRef: { name: id, key: name } } });
        for (const name of Object.keys(secretFiles)) env.push({ name, value: `${SECRET_FILES_DIR}/${name}` });
      }
      const fileNames = Object.keys(secretFiles);
      const { limits, notes } = effectiveLimits(request.resources, this.options.limits ?? DEFAULT_STEP_LIMITS);
      const quantity = { cpu: String(limits.cpu), memory: String(limits.memoryBytes), 'ephemeral-storage': String(limits.diskBytes) };
      const resources = { requests: { ...quantity, ...this.options.resources?.requests }, limits: { ...quantity, ...this.options.resources?.limits } };
      const isolation: StepIsolation = {
        runner: this.kind,
        sandbox: true,
        // The pod's network is the cluster's: a NetworkPolicy, not this runner, would cut it.
        network: 'on',
        limits: { cpu: limits.cpu, memory: formatBytes(limits.memoryBytes), disk: formatBytes(limits.diskBytes) },
        enforcement: [
          'cpu, memory, ephemeral-storage: the container\'s requests and limits (kubelet)',
          ...(request.network === 'none' ? ['network: none asked, not enforced by the Kubernetes Jobs runner (the namespace\'s NetworkPolicy decides)'] : []),
        ],
        ...(notes.length ? { notes } : {}),
      };
      const image = request.image ?? this.options.image;
      await this.batch.createNamespacedJob({
        namespace: ns,
        body: {
          metadata: { name: id, labels: { 'app.kubernetes.io/managed-by': 'conveyor', 'conveyor.dev/step': request.name.slice(0, 63) } },
          spec: {
            backoffLimit: 0,
            activeDeadlineSeconds: Math.max(1, Math.ceil(request.timeoutMs / 1000)),
            ttlSecondsAfterFinished: 600,
            template: {
              metadata: { labels: { 'app.kubernetes.io/managed-by': 'conveyor' } },
              spec: {
                restartPolicy: 'Never',
                automountServiceAccountToken: false,
                volumes: [
                  { name: 'work', emptyDir: {} },
                  ...(fileNames.length ? [{ name: 'secrets', secret: { secretName: id, defaultMode: 0o400, items: fileNames.map((key) => ({ key, path: key })) } }] : []),
                ],
                ...(git
                  ? {
                      initContainers: [
                        {
                          name: 'source',
                          image,
                          command: ['sh', '-c', FETCH_SCRIPT],
                          workingDir: '/work',
                          volumeMounts: [{ name: 'work', mountPath: '/work' }],
                          env: [...git.env, ...Object.keys(git.secret).map((name) => ({ name, valueFrom: { secretKeyRef: { name: id, key: name } } }))],
                        },
                      ],
                    }
                  : {}),
                containers: [
                  {
                    name: 'step',
                    image,
                    command: ['bash', '-c', SCRIPT],
                    workingDir: '/work',
                    volumeMounts: [{ name: 'work', mountPath: '/work' }, ...(fileNames.length ? [{ name: 'secrets', mountPath: SECRET_FILES_DIR, readOnly: true }] : [])],
                    env,
                    resources,
                  },
                ],
              },
            },
          },
        },
      });
      jobCreated = true;
      // Conveyor's own note: in the log, not in the step's output tail.
      request.log.write(fromGit ? `[conveyor] Job ${id}: the source is commit ${request.source!.commit}, fetched from git inside the Job\n` : `[conveyor] Job ${id}: the workspace is handed over by a read-only SAS URL\n`);
      const ended = await this.follow(request, id, emit, redactor);
      emit(redactor.end());
      if (ended.kind === 'timeout' || ended.kind === 'aborted') {
        return { exitCode: null, signal: 'SIGKILL', durationMs: Date.now() - started, timedOut: ended.kind === 'timeout', outputTail: lastLines(tail), isolation };
      }
      const out = await staged.outputs();
      if (out && request.workspace.outputs?.length !== 0) {
        const file = join(work, 'outputs.tar.gz');
        const into = join(work, 'outputs');
        await writeFile(file, out);
        await extractArtifact(file, into);
        await cp(into, request.workspace.dir, { recursive: true, force: true });
      }
      return { exitCode: ended.exitCode, signal: null, durationMs: Date.now() - started, timedOut: false, outputTail: lastLines(tail), isolation };
    } catch (err) {
      if (err instanceof k8s.ApiException) {
        throw new ExternalFailureError(`the cluster refused to run step ${request.name} (${err.code}): ${describe(err)}`, { cause: err });
      }
      throw err;
    } finally {
      await request.log.flush().catch(() => undefined);
      if (jobCreated) await this.batch.deleteNamespacedJob({ name: id, namespace: ns, propagationPolicy: 'Background' }).catch(() => undefined);
      if (secretCreated) await this.core.deleteNamespacedSecret({ name: id, namespace: ns }).catch(() => undefined);
      await staged?.dispose().catch(() => undefined);
      await rm(work, { recursive: true, force: true });
    }
  }

  /** Waits for the Job's pod, streams its log, and returns how the container ended. */
  private async follow(request: StepRequest, job: string, emit: (s: string) => void, redactor: StreamingRedactor): Promise<{ kind: 'exited'; exitCode: number } | { kind: 'timeout' } | { kind: 'aborted' }> {
    const ns = this.options.namespace;
    const poll = this.options.pollMs ?? 200;
    const deadline = Date.now() + request.timeoutMs;
    const startBy = Date.now() + (this.options.startTimeoutMs ?? 300_000);
    const stopped = (): 'timeout' | 'aborted' | undefined => (request.signal?.aborted ? 'aborted' : Date.now() > deadline ? 'timeout' : undefined);
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    // The pod: created by the Job controller, then started by the kubelet.
    let pod: k8s.V1Pod | undefined;
    for (;;) {
      const s = stopped();
      if (s) return { kind: s };
      const pods = await this.core.listNamespacedPod({ namespace: ns, labelSelector: `job-name=${job}` });
      pod = pods.items[0];
      const phase = pod?.status?.phase;
      if (pod && phase && phase !== 'Pending') break;
      const waiting = pod?.status?.containerStatuses?.[0]?.state?.waiting;
      if (waiting && ['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'CreateContainerConfigError'].includes(waiting.reason ?? '')) {
        throw new ExternalFailureError(`step ${request.name} could not start: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`);
      }
      if (Date.now() > startBy) throw new ExternalFailureError(`step ${request.name}: the Job's pod did not start within ${Math.round((this.options.startTimeoutMs ?? 300_000) / 1000)}s`);
      await sleep(poll);
    }
    const podName = pod.metadata!.name!;
    // The source fetch (init container) failed: the step never started; its log says why.
    const init = pod.status?.initContainerStatuses?.find((c) => c.state?.terminated && c.state.terminated.exitCode !== 0);
    if (init) {
      const text = await this.core.readNamespacedPodLog({ name: podName, namespace: ns, container: init.name }).catch(() => '');
      emit(redactor.push(`fetching the source in the Job failed:\n${String(text)}`));
      return { kind: 'exited', exitCode: init.state!.terminated!.exitCode };
    }
    // Follow the log until the container ends (the stream closes), or the step is stopped.
    const stream = new PassThrough();
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => emit(redactor.push(chunk)));
    let release!: () => void;
    const streamed = new Promise<void>((resolve) => {
      release = resolve;
      stream.on('end', () => resolve());
      stream.on('close', () => resolve());
    });
    const abort = await this.log.log(ns, podName, 'step', stream, { follow: true });
    // Stopping aborts the log request; an aborted request need not end the stream, so stop waiting too.
    const stop = () => {
      abort.abort();
      release();
    };
    const stopWatch = setInterval(() => {
      if (stopped()) stop();
    }, poll);
    const onAbort = stop;
    request.signal?.addEventListener('abort', onAbort);
    await streamed;
    clearInterval(stopWatch);
    request.signal?.removeEventListener('abort', onAbort);
    // The exit code, once the kubelet reported it.
    for (;;) {
      const s = stopped();
      if (s) return { kind: s };
      const p = await this.core.readNamespacedPod({ name: podName, namespace: ns });
      const terminated = p.status?.containerStatuses?.[0]?.state?.terminated;
      if (terminated) return { kind: 'exited', exitCode: terminated.exitCode };
      await sleep(poll);
    }
  }
}

/**
 * The init container's plain variables and Secret entries for fetching `source`: the URL (local
 * paths as file:// URLs, so a shallow fetch works) and commit as variables, and for https remotes
 * with a credential an `http.<origin>.extraHeader` as git configuration from the Secret.
 */
function gitFetch(source: { repoUrl: string; commit: string }, auth: { token: string; username?: string } | undefined): { env: k8s.V1EnvVar[]; secret: Record<string, string> } {
  const url = source.repoUrl.startsWith('/') ? `file://${source.repoUrl}` : source.repoUrl;
  const env: k8s.V1EnvVar[] = [
    { name: 'CONVEYOR_GIT_URL', value: url },
    { name: 'CONVEYOR_GIT_COMMIT', value: source.commit },
    { name: 'GIT_TERMINAL_PROMPT', value: '0' },
  ];
  const secret: Record<string, string> = {};
  if (auth && /^https?:\/\//.test(url)) {
    const origin = new URL(url).origin;
    env.push({ name: 'GIT_CONFIG_COUNT', value: '1' }, { name: 'GIT_CONFIG_KEY_0', value: `http.${origin}/.extraHeader` });
    secret['GIT_CONFIG_VALUE_0'] = `Authorization: Basic ${Buffer.from(`${auth.username ?? 'x-access-token'}:${auth.token}`).toString('base64')}`;
  }
  return { env, secret };
}

function lastLines(text: string, n = 20): string {
  return text.split('\n').filter((l, i, all) => l.length > 0 || i < all.length - 1).slice(-n).join('\n');
}

function describe(err: k8s.ApiException<unknown>): string {
  try {
    const body = (typeof err.body === 'string' ? JSON.parse(err.body) : err.body) as { message?: string };
    return body.message ?? err.message;
  } catch {
    return String(err.body);
  }
}
