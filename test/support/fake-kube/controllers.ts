// The fake API server's controllers, standing in for kube-controller-manager and the kubelet:
//
// - Deployments: each new generation starts a simulated rollout whose course the test chooses
//   (becomes available after a while; stays unavailable; exceeds its progress deadline). Status
//   follows the fields `kubectl rollout status` and Conveyor read: observedGeneration, replicas,
//   updatedReplicas, readyReplicas, availableReplicas, the Available and Progressing conditions.
// - Jobs: a pod per attempt (up to backoffLimit retries, activeDeadlineSeconds enforced), whose
//   init containers, then first container's command and args, run as real local child processes
//   (image ignored) in one folder standing for the pod's shared volume: their output is the
//   containers' logs, the main container's exit code the pod's. Environment variables resolve
//   `value`, `secretKeyRef` and `configMapKeyRef` from the fake's store.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants } from 'node:os';
import { isObject, type Json, type JsonObject } from './fields.js';
import { findResource, type ResourceDef } from './resources.js';
import type { FakeKube } from './server.js';

/** How a simulated rollout goes. */
export interface RolloutPlan {
  /**
   * - `available`: every new replica becomes available after `afterMs`;
   * - `unavailable`: the new replicas never become available (the rollout hangs);
   * - `deadline`: like `unavailable`, then after `afterMs` the Progressing condition turns
   *   False with reason ProgressDeadlineExceeded.
   */
  outcome: 'available' | 'unavailable' | 'deadline';
  /** Delay before the outcome shows (default 30 ms for `available`, 100 ms for `deadline`). */
  afterMs?: number;
}

const MANAGER = 'kube-controller-manager';

/** A pod's log: text so far, and followers. */
export class PodLog {
  private buffer = '';
  private listeners = new Set<{ onChunk: (s: string) => void; onEnd: () => void }>();
  /** True once the container exited. */
  done = false;

  /** The whole log so far. */
  text(): string {
    return this.buffer;
  }

  /** Appends output. */
  append(s: string): void {
    this.buffer += s;
    for (const l of this.listeners) l.onChunk(s);
  }

  /** Marks the end of output. */
  end(): void {
    this.done = true;
    for (const l of this.listeners) l.onEnd();
    this.listeners.clear();
  }

  /** Follows new output; returns an unsubscribe function. */
  subscribe(onChunk: (s: string) => void, onEnd: () => void): () => void {
    const l = { onChunk, onEnd };
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}

interface RunningPod {
  child?: ChildProcess;
  dir?: string;
  exited: Promise<void>;
}

interface JobState {
  failures: number;
  finished: boolean;
  deadline?: NodeJS.Timeout;
  startTime: string;
  activePod?: string;
}

/** The controllers of one fake API server. */
export class Controllers {
  private readonly deploymentTimers = new Map<string, NodeJS.Timeout[]>();
  private readonly observedGeneration = new Map<string, number>();
  private readonly jobs = new Map<string, JobState>();
  private readonly logs = new Map<string, PodLog>();
  private readonly running = new Map<string, RunningPod>();
  private readonly pending = new Set<NodeJS.Timeout>();
  private stopped = false;
  private ipCounter = 2;
  /** How rollouts go (replaceable per test). */
  rollout: (deployment: JsonObject) => RolloutPlan;

  constructor(
    private readonly api: FakeKube,
    rollout?: (deployment: JsonObject) => RolloutPlan,
  ) {
    this.rollout = rollout ?? (() => ({ outcome: 'available' }));
  }

  /** The log of a pod whose (main, or the named init) container started, or undefined. */
  podLog(namespace: string, pod: string, initContainer?: string): PodLog | undefined {
    return this.logs.get(initContainer ? `${namespace}/${pod}/${initContainer}` : `${namespace}/${pod}`);
  }

  /** Called by the server after every stored write. */
  changed(def: ResourceDef, obj: JsonObject): void {
    if (this.stopped) return;
    const m = obj['metadata'] as JsonObject;
    const uid = String(m['uid']);
    if (def.kind === 'Deployment') {
      const generation = Number(m['generation'] ?? 1);
      if (this.observedGeneration.get(uid) === generation) return;
      this.observedGeneration.set(uid, generation);
      this.later(0, () => this.startRollout(def, String(m['namespace']), String(m['name']), generation));
    } else if (def.kind === 'Job' && !this.jobs.has(uid)) {
      const state: JobState = { failures: 0, finished: false, startTime: now() };
      this.jobs.set(uid, state);
      this.later(0, () => this.startJob(def, String(m['namespace']), String(m['name']), uid, state));
    }
  }

  /** Called by the server after an object was deleted. */
  deleted(def: ResourceDef, obj: JsonObject): void {
    const m = obj['metadata'] as JsonObject;
    const uid = String(m['uid']);
    if (def.kind === 'Deployment') {
      for (const t of this.deploymentTimers.get(uid) ?? []) clearTimeout(t);
      this.deploymentTimers.delete(uid);
      this.observedGeneration.delete(uid);
    } else if (def.kind === 'Job') {
      const state = this.jobs.get(uid);
      if (state) {
        state.finished = true;
        if (state.deadline) clearTimeout(state.deadline);
      }
    } else if (def.kind === 'Pod') {
      const k = `${String(m['namespace'])}/${String(m['name'])}`;
      this.kill(k);
      this.logs.delete(k);
    }
  }

  /** Stops every timer and kills every pod process. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const ts of this.deploymentTimers.values()) for (const t of ts) clearTimeout(t);
    for (const t of this.pending) clearTimeout(t);
    for (const s of this.jobs.values()) if (s.deadline) clearTimeout(s.deadline);
    const exits = [...this.running.keys()].map((k) => {
      const r = this.running.get(k)!;
      this.kill(k);
      return r.exited;
    });
    await Promise.all(exits);
  }

  private later(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.pending.delete(t);
      if (!this.stopped) fn();
    }, ms);
    this.pending.add(t);
    return t;
  }

  // ---- Deployments -------------------------------------------------------------------------

  private startRollout(def: ResourceDef, namespace: string, name: string, generation: number): void {
    const d = this.api.peek(def, namespace, name);
    if (!d) return;
    const m = d['metadata'] as JsonObject;
    const uid = String(m['uid']);
    if (Number(m['generation']) !== generation) return;
    for (const t of this.deploymentTimers.get(uid) ?? []) clearTimeout(t);
    const spec = (d['spec'] ?? {}) as JsonObject;
    const replicas = Number(spec['replicas'] ?? 1);
    const rs = `${name}-${createHash('sha256').update(JSON.stringify(spec['template'] ?? {})).digest('hex').slice(0, 10)}`;
    const prev = (d['status'] ?? {}) as JsonObject;
    const prevAvailable = Math.min(Number(prev['availableReplicas'] ?? 0), replicas);
    const plan = this.rollout(structuredClone(d));
    const stamp = now();
    const progressing = (statusValue: string, reason: string, message: string): JsonObject => ({ type: 'Progressing', status: statusValue, lastUpdateTime: stamp, lastTransitionTime: stamp, reason, message });
    const availableCond = (ok: boolean): JsonObject =>
      ok
        ? { type: 'Available', status: 'True', lastUpdateTime: stamp, lastTransitionTime: stamp, reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' }
        : { type: 'Available', status: 'False', lastUpdateTime: stamp, lastTransitionTime: stamp, reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.' };
    const done: JsonObject = {
      observedGeneration: generation,
      replicas,
      updatedReplicas: replicas,
      readyReplicas: replicas,
      availableReplicas: replicas,
      conditions: [availableCond(true), progressing('True', 'NewReplicaSetAvailable', `ReplicaSet "${rs}" has successfully progressed.`)],
    };
    if (replicas === 0 || (plan.outcome === 'available' && (plan.afterMs ?? 30) === 0)) {
      this.api.writeStatus(def, namespace, name, done, MANAGER);
      return;
    }
    // The new ReplicaSet's pods exist but are not ready; the old ones still serve.
    const inProgress: JsonObject = {
      observedGeneration: generation,
      replicas: replicas + prevAvailable,
      updatedReplicas: replicas,
      ...(prevAvailable > 0 ? { readyReplicas: prevAvailable, availableReplicas: prevAvailable } : {}),
      unavailableReplicas: replicas,
      conditions: [availableCond(prevAvailable > 0), progressing('True', 'ReplicaSetUpdated', `ReplicaSet "${rs}" is progressing.`)],
    };
    this.api.writeStatus(def, namespace, name, inProgress, MANAGER);
    const still = () => {
      const cur = this.api.peek(def, namespace, name);
      return cur !== undefined && Number((cur['metadata'] as JsonObject)['generation']) === generation;
    };
    const timers: NodeJS.Timeout[] = [];
    if (plan.outcome === 'available') {
      timers.push(this.later(plan.afterMs ?? 30, () => still() && this.api.writeStatus(def, namespace, name, done, MANAGER)));
    } else if (plan.outcome === 'deadline') {
      timers.push(
        this.later(plan.afterMs ?? 100, () => {
          if (!still()) return;
          const failed = structuredClone(inProgress);
          const stampNow = now();
          failed['conditions'] = [availableCond(prevAvailable > 0), { type: 'Progressing', status: 'False', lastUpdateTime: stampNow, lastTransitionTime: stampNow, reason: 'ProgressDeadlineExceeded', message: `ReplicaSet "${rs}" has timed out progressing.` }];
          this.api.writeStatus(def, namespace, name, failed, MANAGER);
        }),
      );
    }
    this.deploymentTimers.set(uid, timers);
  }

  // ---- Jobs and pods -----------------------------------------------------------------------

  private startJob(def: ResourceDef, namespace: string, name: string, uid: string, state: JobState): void {
    const job = this.api.peek(def, namespace, name);
    if (!job || state.finished) return;
    const spec = (job['spec'] ?? {}) as JsonObject;
    if (spec['suspend'] === true) return;
    const deadline = spec['activeDeadlineSeconds'];
    if (typeof deadline === 'number') {
      state.deadline = setTimeout(() => {
        if (state.finished) return;
        this.finishJob(def, namespace, name, state, false, 'DeadlineExceeded', 'Job was active longer than specified deadline');
        if (state.activePod) this.kill(`${namespace}/${state.activePod}`);
      }, deadline * 1000);
    }
    this.api.writeStatus(def, namespace, name, { startTime: state.startTime, active: 1, ready: 0, terminating: 0, uncountedTerminatedPods: {} }, MANAGER);
    this.createPod(def, namespace, name, uid, state);
  }

  private createPod(jobDef: ResourceDef, namespace: string, jobName: string, jobUid: string, state: JobState): void {
    const job = this.api.peek(jobDef, namespace, jobName);
    if (!job || state.finished) return;
    const template = (((job['spec'] ?? {}) as JsonObject)['template'] ?? {}) as JsonObject;
    const tm = (template['metadata'] ?? {}) as JsonObject;
    const podName = `${jobName}-${randomBytes(4).toString('hex').replace(/[^a-z0-9]/g, 'x').slice(0, 5)}`;
    const podDef = findResource('', 'v1', 'pods')!;
    const pod: JsonObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: podName,
        namespace,
        labels: structuredClone((tm['labels'] ?? {}) as Json),
        ...(tm['annotations'] ? { annotations: structuredClone(tm['annotations']) } : {}),
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: jobName, uid: jobUid, controller: true, blockOwnerDeletion: true }],
      },
      spec: { ...structuredClone((template['spec'] ?? {}) as JsonObject), nodeName: 'fake-node' },
    };
    this.api.createInternal(podDef, namespace, pod, MANAGER);
    this.api.writeStatus(podDef, namespace, podName, { phase: 'Pending', qosClass: 'BestEffort' }, 'kubelet');
    state.activePod = podName;
    void this.runPod(podDef, jobDef, namespace, podName, jobName, jobUid, state);
  }

  private async runPod(podDef: ResourceDef, jobDef: ResourceDef, namespace: string, podName: string, jobName: string, jobUid: string, state: JobState): Promise<void> {
    const k = `${namespace}/${podName}`;
    let resolveExit!: () => void;
    const running: RunningPod = { exited: new Promise<void>((r) => (resolveExit = r)) };
    this.running.set(k, running);
    const pod = this.api.peek(podDef, namespace, podName);
    const container = ((((pod?.['spec'] ?? {}) as JsonObject)['containers'] ?? []) as JsonObject[])[0] ?? {};
    const argv = [...((container['command'] ?? []) as string[]), ...((container['args'] ?? []) as string[])];
    const log = new PodLog();
    const started = now();
    const dir = await mkdtemp(join(tmpdir(), 'fake-pod-'));
    running.dir = dir;
    if (!this.api.peek(podDef, namespace, podName) || this.stopped) {
      await rm(dir, { recursive: true, force: true });
      this.running.delete(k);
      resolveExit();
      return;
    }
    const ip = `10.244.0.${this.ipCounter++}`;
    const envOf = (c: JsonObject) => {
      const env: Record<string, string> = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, HOSTNAME: podName };
      for (const e of (c['env'] ?? []) as JsonObject[]) env[String(e['name'])] = this.envValue(namespace, e);
      return env;
    };
    // Init containers run one after the other, to completion, in the same folder (the pod's
    // shared emptyDir volume); the pod stays Pending meanwhile. One that fails fails the pod
    // (restartPolicy Never), and the main container never starts.
    const initStatuses: JsonObject[] = [];
    for (const ic of (((pod?.['spec'] ?? {}) as JsonObject)['initContainers'] ?? []) as JsonObject[]) {
      const icLog = new PodLog();
      this.logs.set(`${k}/${String(ic['name'])}`, icLog);
      const icArgv = [...((ic['command'] ?? []) as string[]), ...((ic['args'] ?? []) as string[])];
      const icStarted = now();
      const exitCode = icArgv.length === 0 ? 128 : await new Promise<number>((resolve) => {
        const c = spawn(icArgv[0]!, icArgv.slice(1), { cwd: dir, env: envOf(ic), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
        running.child = c;
        c.stdout.setEncoding('utf8').on('data', (t: string) => icLog.append(t));
        c.stderr.setEncoding('utf8').on('data', (t: string) => icLog.append(t));
        c.on('error', (err) => {
          icLog.append(`error: ${err.message}\n`);
          resolve(128);
        });
        c.on('close', (code, signal) => resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 9) : 9)));
      });
      icLog.end();
      initStatuses.push({ name: String(ic['name'] ?? ''), image: String(ic['image'] ?? ''), imageID: '', ready: exitCode === 0, restartCount: 0, state: { terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt: icStarted, finishedAt: now() } } });
      if (exitCode !== 0 || !this.api.peek(podDef, namespace, podName) || this.stopped) break;
      this.api.writeStatus(podDef, namespace, podName, { phase: 'Pending', qosClass: 'BestEffort', initContainerStatuses: initStatuses }, 'kubelet');
    }
    const initFailed = initStatuses.some((st) => ((st['state'] as JsonObject)['terminated'] as JsonObject)['exitCode'] !== 0);
    this.logs.set(k, log);
    const env = envOf(container);
    const containerStatus = (state: JsonObject, ready: boolean): JsonObject => ({ name: String(container['name'] ?? ''), image: String(container['image'] ?? ''), imageID: '', ready, started: ready, restartCount: 0, state });
    const finish = (exitCode: number) => {
      log.end();
      this.running.delete(k);
      void rm(dir, { recursive: true, force: true }).finally(resolveExit);
      const terminated = { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt: started, finishedAt: now() };
      if (this.api.peek(podDef, namespace, podName)) {
        this.api.writeStatus(
          podDef,
          namespace,
          podName,
          { phase: exitCode === 0 ? 'Succeeded' : 'Failed', podIP: ip, startTime: started, ...(initStatuses.length > 0 ? { initContainerStatuses: initStatuses } : {}), containerStatuses: [initFailed ? containerStatus({ waiting: { reason: 'PodInitializing' } }, false) : containerStatus({ terminated }, false)] },
          'kubelet',
        );
      }
      if (state.finished) return;
      if (exitCode === 0) {
        this.finishJob(jobDef, namespace, jobName, state, true, 'Completed', '');
        return;
      }
      state.failures += 1;
      const job = this.api.peek(jobDef, namespace, jobName);
      const backoffLimit = Number(((job?.['spec'] ?? {}) as JsonObject)['backoffLimit'] ?? 6);
      if (state.failures > backoffLimit) {
        this.finishJob(jobDef, namespace, jobName, state, false, 'BackoffLimitExceeded', 'Job has reached the specified backoff limit');
        return;
      }
      this.api.writeStatus(jobDef, namespace, jobName, { startTime: state.startTime, active: 1, failed: state.failures, ready: 0, terminating: 0, uncountedTerminatedPods: {} }, MANAGER);
      // The real controller backs off 10 s, 20 s, …; the fake scales that to milliseconds.
      this.later(10 * 2 ** (state.failures - 1), () => this.createPod(jobDef, namespace, jobName, jobUid, state));
    };
    if (initFailed) {
      finish(((initStatuses.at(-1)!['state'] as JsonObject)['terminated'] as JsonObject)['exitCode'] as number);
      return;
    }
    if (argv.length === 0) {
      log.append('error: the fake runs a container\'s command and args; this container has neither\n');
      finish(128);
      return;
    }
    const child = spawn(argv[0]!, argv.slice(1), { cwd: dir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    running.child = child;
    child.stdout.setEncoding('utf8').on('data', (s: string) => log.append(s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => log.append(s));
    let spawnFailed = false;
    child.on('error', (err) => {
      spawnFailed = true;
      log.append(`error: ${err.message}\n`);
      finish(128);
    });
    child.on('spawn', () => {
      this.api.writeStatus(podDef, namespace, podName, { phase: 'Running', podIP: ip, startTime: started, ...(initStatuses.length > 0 ? { initContainerStatuses: initStatuses } : {}), containerStatuses: [containerStatus({ running: { startedAt: started } }, true)] }, 'kubelet');
      this.api.writeStatus(jobDef, namespace, jobName, { startTime: state.startTime, active: 1, ready: 1, ...(state.failures ? { failed: state.failures } : {}), terminating: 0, uncountedTerminatedPods: {} }, MANAGER);
    });
    child.on('close', (code, signal) => {
      if (spawnFailed) return;
      finish(code ?? 128 + (signal ? (constants.signals[signal] ?? 9) : 9));
    });
  }

  private envValue(namespace: string, e: JsonObject): string {
    if (typeof e['value'] === 'string') return e['value'];
    const from = e['valueFrom'];
    if (!isObject(from)) return '';
    const ref = (isObject(from['secretKeyRef']) ? from['secretKeyRef'] : isObject(from['configMapKeyRef']) ? from['configMapKeyRef'] : undefined) as JsonObject | undefined;
    if (!ref) return '';
    const isSecret = isObject(from['secretKeyRef']);
    const def = findResource('', 'v1', isSecret ? 'secrets' : 'configmaps')!;
    const source = this.api.peek(def, namespace, String(ref['name']));
    const data = (source?.['data'] ?? {}) as JsonObject;
    const raw = data[String(ref['key'])];
    if (typeof raw !== 'string') return '';
    return isSecret ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  }

  private finishJob(def: ResourceDef, namespace: string, name: string, state: JobState, ok: boolean, reason: string, message: string): void {
    state.finished = true;
    if (state.deadline) clearTimeout(state.deadline);
    const stamp = now();
    const condition: JsonObject = ok
      ? { type: 'Complete', status: 'True', lastProbeTime: stamp, lastTransitionTime: stamp }
      : { type: 'Failed', status: 'True', lastProbeTime: stamp, lastTransitionTime: stamp, reason, message };
    this.api.writeStatus(
      def,
      namespace,
      name,
      { startTime: state.startTime, ...(ok ? { completionTime: stamp, succeeded: 1 } : { failed: Math.max(1, state.failures) }), ready: 0, terminating: 0, uncountedTerminatedPods: {}, conditions: [condition] },
      MANAGER,
    );
  }

  private kill(k: string): void {
    const r = this.running.get(k);
    if (r?.child?.pid && r.child.exitCode === null && r.child.signalCode === null) {
      try {
        process.kill(-r.child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}
