// The attack suite: an app whose pushed code is hostile. Its build step, its test step
// and its deployed service each run a hunter (hunt.sh below) that looks everywhere a process can:
// every /proc/<pid>/environ and cmdline it can see, Conveyor's state folder (host keys, the SQLite
// task hub and its WAL, Azurite's files) and data folder (git mirrors, other workspaces, other
// apps' releases), $HOME and the real home folders, its inherited descriptors; it tries to write
// outside its tree and to signal Conveyor and Azurite; and it prints everything it read,
// base64-encoded, so log redaction cannot hide a find. The test decodes those dumps and asserts
// that nothing of Conveyor's is there: host keys, API tokens, every app's webhook secret, the
// git token, the sealed-secrets identity, the storage key, another app's sealed secret (opened
// in that app's build and service, running meanwhile), another app's source and workspace.
//
// Beside it, sealed secrets end to end: a value sealed with the `age` CLI to the victim app's
// recipient reaches the victim's build step (masked in its log) and its service (which proves
// it holds the value by answering its SHA-256), appears nowhere else (host output, every blob,
// every file of the state and data folders including the durable store, run records, API
// answers), and a third app that copies the ciphertext into its own pipeline fails before any
// step runs, with an error naming the reference.
//
// The host's loopback listeners: the build step and the service probe each (Functions, durable
// RPC, Azurite, the Service Bus emulator, and the Service Bus Settlement gRPC service that
// SDK-bound triggers settle their messages through). For Settlement, the attacker app reports to
// a fake GitHub that holds its first commit statuses, so the gitFeedback trigger holds that
// message's lock while the build step tries to complete, dead-letter or renew with random and
// guessed lock tokens and to enumerate; every try is NOT_FOUND (or UNIMPLEMENTED), and the held
// message is then processed normally: answered once, not redelivered, not dead-lettered.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { ServiceBusClient } from '@azure/service-bus';
import { gunzipSync } from 'node:zlib';
import { generateX25519Identity } from 'age-encryption';
import { createSampleService, findFreePorts, type SampleService } from '../support/sample-service.js';
import { azuriteAccountKey, DEV_KEY } from '../../local/storage/azurite.js';
import { emulatorKey } from '../../local/servicebus/emulator.js';
import { emulatorConnectionString, PUBLIC_EMULATOR_KEY } from '../../local/servicebus/connection-string.js';
import { REPO_ROOT } from '../e2e/conveyor-support.js';
import { alive, dumpBlobs, filesUnder, spawnConveyorHost, stopAllEnvironments, type ChildHost } from '../support/reliability-host.js';

const tag = randomBytes(6).toString('hex');
const SECRET = {
  attackerWebhook: `attacker-webhook-${tag}-A1`,
  victimWebhook: `victim-webhook-${tag}-B2`,
  thiefWebhook: `thief-webhook-${tag}-C3`,
  gitToken: `ghp_attackSuite${tag}GitToken99`,
  apiToken: `api-token-attack-suite-${tag}`,
  victimValue: `victim-db-password-${tag}-Z9`,
  victimSource: `PROPRIETARY-VICTIM-SOURCE-${tag}`,
  otherWorkspace: `OTHER-WORKSPACE-CONTENT-${tag}`,
  feedbackToken: `ghs_attackSuite${tag}FeedbackToken7`,
};
const PROBE_SCRIPT = join(REPO_ROOT, 'test', 'fixtures', 'attack', 'probe-listeners.cjs');

let root: string;
let ageIdentity: string;
let host: ChildHost;
let attacker: SampleService;
let victim: SampleService;
let thief: SampleService;
let hog: SampleService;
let hogRun: any;
const responses: string[] = [];
const dumps = new Map<string, string>();
let victimRecipient: string;
let thiefRun: any;
let victimRun: any;
let attackerRun: any;
let victimDigest: string;
let victimFileDigest: string;
/** The ports of every listener of the local host, and the probes' outcomes per phase. */
let listeners: { functions: number; rpc: number; blob: number; queue: number; table: number; servicebus: number; settlement: number };
/** The attacker's fake GitHub: commit statuses it was sent, held until released. */
let held: HeldGitHub;
/** Dead-lettered messages of the git-feedback subscription after the attack (read with the real key). */
let feedbackDeadLetters: string[] = [];

interface HeldGitHub {
  url: string;
  /** Every status POST, in arrival order, with when it was answered (and with what). */
  posts: { context: string; state: string; description?: string; answered?: number }[];
  /** When the hold was released, and by whom (the probe after its tries, or the safety timer). */
  releasedAt?: number;
  releasedBy?: 'probe' | 'timer';
  close(): Promise<void>;
}

/**
 * A minimal GitHub commit-status endpoint that holds every status POST from its start until
 * released (POST /release, or 40 s after the first one came, within the message lock's minute): while it holds one, the gitFeedback trigger holds that
 * message's lock. GET /held tells the probe whether a status is held right now. It answers like
 * GitHub (201 with the status) once released.
 */
async function startHeldGitHub(token: string): Promise<HeldGitHub> {
  const waiting: (() => void)[] = [];
  const state: HeldGitHub = { url: '', posts: [], close: async () => undefined };
  let holding = true;
  const release = (by: 'probe' | 'timer') => {
    if (!holding) return;
    holding = false;
    state.releasedAt = Date.now();
    state.releasedBy = by;
    for (const answer of waiting.splice(0)) answer();
  };
  let safety: NodeJS.Timeout | undefined;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.method === 'GET' && req.url === '/held') return res.end(JSON.stringify({ holding, held: waiting.length }));
      if (req.method === 'POST' && req.url === '/release') {
        release('probe');
        return res.end('{}');
      }
      if (req.headers.authorization !== `token ${token}` && req.headers.authorization !== `Bearer ${token}`) {
        res.writeHead(401, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ message: 'Bad credentials' }));
      }
      const m = /^\/repos\/acme\/attacker\/statuses\/([0-9a-f]{40})$/.exec(req.url ?? '');
      if (req.method !== 'POST' || !m) {
        res.writeHead(404, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ message: 'Not Found' }));
      }
      const json = JSON.parse(body) as { state: string; context?: string; description?: string };
      const post: HeldGitHub['posts'][number] = { context: json.context ?? 'default', state: json.state, ...(json.description ? { description: json.description } : {}) };
      state.posts.push(post);
      const answer = () => {
        post.answered = Date.now();
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: state.posts.indexOf(post) + 1, state: post.state, context: post.context, description: post.description ?? null, target_url: null }));
      };
      safety ??= setTimeout(() => release('timer'), 40_000);
      if (holding) waiting.push(answer);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  state.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  state.close = () => {
    clearTimeout(safety);
    release('timer');
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}
const probes = new Map<string, Map<string, string>>();

function extractProbes(text: string, phase: string): void {
  const found = new Map<string, string>();
  for (const m of text.matchAll(/^probe (\S+) (\S+)$/gm)) found.set(m[1]!, m[2]!);
  if (found.size) probes.set(phase, found);
}

/** Copies the probe and rhea (with its dependencies) into `dir`/probe, as an app would vendor them. */
function vendorProbe(dir: string): void {
  const mods = join(dir, 'probe', 'node_modules');
  mkdirSync(mods, { recursive: true });
  cpSync(PROBE_SCRIPT, join(dir, 'probe', 'probe-listeners.cjs'));
  for (const m of ['rhea', 'debug', 'ms']) {
    const from = realpathSync(join(REPO_ROOT, 'node_modules', m));
    cpSync(from, join(mods, m), { recursive: true, filter: (f) => !f.includes(`${m}/node_modules`) && !/\.(ts|map|md)$/.test(f) && !f.includes('/dist/') && !f.includes('/test') && !f.includes('/examples') });
  }
}

/** Every value of Conveyor's a hostile step must not find (host keys added once the host is up). */
function conveyorSecrets(): Record<string, string> {
  return {
    ...SECRET,
    ageIdentity,
    masterKey: host.keys.master,
    functionKey: host.keys.function,
    storageKey: azuriteAccountKey(join(root, 'state', 'azurite')),
    serviceBusKey: emulatorKey(join(root, 'state', 'servicebus')),
  };
}

const HUNT = `#!/bin/bash
# hunt.sh <phase>: what a compromised step or service could reach. Prints it all base64-encoded.
phase=$1
out=$(mktemp)
note() { printf '%s\\n' "$*" >> "$out"; }
grab() { if [ -f "$2" ] && [ -r "$2" ]; then note "== $1 $2"; head -c 4000000 "$2" >> "$out" 2>/dev/null; note ""; fi; }
note "pids: $(ls -d /proc/[0-9]* | tr '\\n' ' ')"
for p in /proc/[0-9]*; do grab environ "$p/environ"; grab cmdline "$p/cmdline"; done
for d in "$HUNT_STATE" "$HUNT_DATA" "$HUNT_DATA/workspaces" "$HUNT_DATA/git-cache" "$HUNT_DATA/targets" "$HOME" "$HUNT_HOST_HOME" /home /root; do
  if [ -e "$d" ]; then
    note "present $d"
    while IFS= read -r -d '' f; do grab file "$f"; done < <(find "$d" -type f -size -4M -print0 2>/dev/null)
  else
    note "absent $d"
  fi
done
for fd in /proc/[0-9]*/fd/*; do
  pid=\${fd#/proc/}; pid=\${pid%%/*}; n=\${fd##*/}
  target=$(readlink "$fd") || continue
  note "fd $pid $n -> $target"
  if [ "$n" -gt 2 ] && [ -f "$fd" ]; then timeout 1 cat "$fd" >> "$out" 2>/dev/null; fi
done
for t in "$HUNT_STATE/pwned-$phase" "$HUNT_DATA/pwned-$phase" "$HUNT_DATA/workspaces/pwned-$phase" "$HUNT_DATA/targets/pwned-$phase" "$HUNT_HOST_HOME/pwned-$HUNT_MARK-$phase" "/tmp/$HUNT_MARK-$phase"; do
  if (echo x > "$t") 2>/dev/null; then note "wrote $t"; else note "cannot write $t"; fi
done
for pid in "$HUNT_HOST_PID" "$HUNT_AZURITE_PID"; do
  if kill -TERM "$pid" 2>/dev/null; then note "signalled $pid"; else note "cannot signal $pid"; fi
done
echo "BEGIN-HUNT $phase"
base64 < "$out"
echo "END-HUNT $phase"
rm -f "$out"
`;

/** A service that answers /healthz, and /secret-digest with the SHA-256 of $DB_PASSWORD (never the value). */
const VICTIM_SERVER = `'use strict';
// ${SECRET.victimSource}
const http = require('node:http');
const { createHash } = require('node:crypto');
http.createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  if (req.url === '/secret-digest') return res.end(createHash('sha256').update(process.env.DB_PASSWORD || '').digest('hex'));
  if (req.url === '/secret-file-digest') return res.end(process.env.DB_FILE + ' ' + createHash('sha256').update(require('node:fs').readFileSync(process.env.DB_FILE)).digest('hex'));
  res.statusCode = 404; res.end();
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

function onePipeline(options: { port: number; build: string; test?: string; start: string; env?: Record<string, string>; secretsTop?: string; buildSecrets?: string; envSecrets?: string }): string {
  const flow = (vars: Record<string, string>) => `{ ${Object.entries(vars).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(', ')} }`;
  const env = options.env ? `  env: ${flow(options.env)}\n` : '';
  return `${options.secretsTop ?? ''}build:
  command: ${JSON.stringify(options.build)}
  artifact: [dist]
  timeout: 2m
${env}${options.buildSecrets ?? ''}${options.test ? `test:\n  command: ${JSON.stringify(options.test)}\n  timeout: 2m\n${env}` : ''}environments:
  - name: dev
    target:
      type: process
      start: ${JSON.stringify(options.start)}
      port: ${options.port}
      startTimeout: 20s
${options.env ? `      env: ${flow(options.env)}\n` : ''}    verify:
      - http: { path: /healthz, retries: 20, interval: 250ms }
${options.envSecrets ?? ''}`;
}

async function api(path: string, init: Parameters<ChildHost['api']>[1] = {}): Promise<{ status: number; text: string }> {
  const res = await host.api(path, init);
  const text = await res.text();
  responses.push(`${path} -> ${res.status} ${text}`);
  return { status: res.status, text };
}

async function register(name: string, sample: SampleService, setting: string, extra: Record<string, unknown> = {}): Promise<void> {
  const put = await api(`/api/apps/${name}`, { method: 'PUT', key: 'admin', json: { repoUrl: sample.url, provider: 'github', branches: ['main'], webhookSecretSetting: setting, ...extra } });
  assert.equal(put.status, 201, put.text);
}

async function push(sample: SampleService, secret: string, commit: string): Promise<string> {
  const hook = await sample.pushWebhook({ secret, commit });
  const res = await fetch(`${host.origin}/api/webhooks/github`, { method: 'POST', headers: hook.headers, body: hook.body });
  const text = await res.text();
  assert.equal(res.status, 202, text);
  return (JSON.parse(text) as { runId: string }).runId;
}

/** The hunter's dumps in a text: phase -> decoded content. */
function extractDumps(text: string, into: Map<string, string>, prefix: string): void {
  for (const m of text.matchAll(/BEGIN-HUNT (\w+)\n([\s\S]*?)END-HUNT \1/g)) into.set(`${prefix}:${m[1]}`, Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64').toString('utf8'));
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'conveyor-attack-'));
  ageIdentity = await generateX25519Identity();
  const [attackerPort, victimPort, thiefPort, hogPort] = await findFreePorts(4);
  victim = await createSampleService();
  attacker = await createSampleService();
  thief = await createSampleService();
  hog = await createSampleService();
  held = await startHeldGitHub(SECRET.feedbackToken);
  host = await spawnConveyorHost({
    root,
    env: {
      ATTACKER_WEBHOOK: SECRET.attackerWebhook,
      VICTIM_WEBHOOK: SECRET.victimWebhook,
      THIEF_WEBHOOK: SECRET.thiefWebhook,
      HOG_WEBHOOK: `hog-webhook-${tag}`,
      CONVEYOR_GIT_TOKEN: SECRET.gitToken,
      CONVEYOR_API_TOKENS: JSON.stringify({ [SECRET.apiToken]: { id: 'approver@example.com' } }),
      CONVEYOR_AGE_IDENTITY: ageIdentity,
      CONVEYOR_FEEDBACK_GITHUB: SECRET.feedbackToken,
    },
  });
  await register('victim', victim, 'VICTIM_WEBHOOK');
  // The attacker's runs are reported to its (held) GitHub, so a feedback message is in flight while it attacks.
  await register('attacker', attacker, 'ATTACKER_WEBHOOK', { feedback: { provider: 'github', tokenSetting: 'CONVEYOR_FEEDBACK_GITHUB', baseUrl: held.url, repository: 'acme/attacker' } });
  await register('thief', thief, 'THIEF_WEBHOOK');
  await register('hog', hog, 'HOG_WEBHOOK');

  // The victim seals its database password with the age CLI to its own recipient.
  const key = await api('/api/public-key?app=victim');
  assert.equal(key.status, 200, key.text);
  victimRecipient = (JSON.parse(key.text) as { recipient: string }).recipient;
  const sealed = execFileSync('age', ['-r', victimRecipient, '-a'], { input: SECRET.victimValue }).toString();
  mkdirSync(join(victim.dir, '.conveyor', 'secrets'), { recursive: true });
  writeFileSync(join(victim.dir, '.conveyor', 'secrets', 'db.age'), sealed);
  writeFileSync(join(victim.dir, 'server.js'), VICTIM_SERVER);
  const victimCommit = await victim.commitPipeline(
    onePipeline({
      port: victimPort!,
      secretsTop: 'secrets:\n  db: { file: .conveyor/secrets/db.age }\n',
      build: 'echo "build sees DB_PASSWORD=$DB_PASSWORD (length ${#DB_PASSWORD})"; echo "build file $DB_FILE $(sha256sum < "$DB_FILE" | cut -c1-64)"; mkdir -p dist && cp server.js dist/',
      buildSecrets: '  secrets: { DB_PASSWORD: db, DB_FILE: { secret: db, as: file } }\n',
      start: 'node dist/server.js',
      envSecrets: '    secrets: { DB_PASSWORD: db, DB_FILE: { secret: db, as: file } }\n',
    }),
    'victim with a sealed secret',
  );
  victimRun = await host.waitForRun(await push(victim, SECRET.victimWebhook, victimCommit));
  responses.push(JSON.stringify(victimRun));
  victimDigest = await (await fetch(`http://127.0.0.1:${victimPort}/secret-digest`)).text();
  victimFileDigest = await (await fetch(`http://127.0.0.1:${victimPort}/secret-file-digest`)).text();

  // A workspace of another app, left on disk, for the hunter to look for.
  mkdirSync(join(root, 'data', 'workspaces', 'victim.decoy'), { recursive: true });
  writeFileSync(join(root, 'data', 'workspaces', 'victim.decoy', 'notes.txt'), SECRET.otherWorkspace);

  // The thief copies the victim's ciphertext into its own pipeline.
  mkdirSync(join(thief.dir, '.conveyor', 'secrets'), { recursive: true });
  writeFileSync(join(thief.dir, '.conveyor', 'secrets', 'stolen.age'), sealed);
  const thiefCommit = await thief.commitPipeline(
    onePipeline({
      port: thiefPort!,
      secretsTop: 'secrets:\n  stolen: { file: .conveyor/secrets/stolen.age }\n',
      build: 'echo "$DB_PASSWORD" > dist-leak; mkdir -p dist && cp server.js dist/',
      buildSecrets: '  secrets: { DB_PASSWORD: stolen }\n',
      start: 'node dist/server.js',
    }),
    'thief reusing the victim ciphertext',
  );
  const thiefRunId = await push(thief, SECRET.thiefWebhook, thiefCommit);
  thiefRun = await host.waitForRun(thiefRunId);
  responses.push(JSON.stringify(thiefRun));

  // Every listener of the host: Functions HTTP, the durable RPC listener, Azurite's three
  // services, the Service Bus emulator. The hostile steps get their ports, and only the public
  // keys anyone can know.
  const grab = (re: RegExp) => Number(host.lines.map((l) => re.exec(l)).find(Boolean)?.[1]);
  const azuritePorts = JSON.parse(readFileSync(join(root, 'azurite-ports.json'), 'utf8')) as { blob: number; queue: number; table: number };
  listeners = {
    functions: Number(new URL(host.origin).port),
    rpc: grab(/RPC on 127\.0\.0\.1:(\d+)/),
    ...azuritePorts,
    servicebus: grab(/Service Bus emulator started \(port (\d+)\)/),
    settlement: grab(/Service Bus Settlement service on 127\.0\.0\.1:(\d+)/),
  };
  assert.ok(Object.values(listeners).every((p) => Number.isInteger(p) && p > 0), JSON.stringify(listeners));
  const probe = JSON.stringify({ ...listeners, storageKey: DEV_KEY, sbKey: PUBLIC_EMULATOR_KEY, hold: held.url });
  vendorProbe(attacker.dir);

  // A build that allocates past the memory its pipeline file gives it.
  const hogCommit = await hog.commitPipeline(
    onePipeline({
      port: hogPort!,
      build: `node -e "const a = []; for (let i = 0; i < 64; i++) a.push(Buffer.alloc(16 * 1024 * 1024, 1))" && mkdir -p dist && cp server.js dist/`,
      buildSecrets: '  resources: { memory: 256Mi }\n',
      start: 'node dist/server.js',
    }),
    'a build that needs more memory than it asked for',
  );
  hogRun = await host.waitForRun(await push(hog, `hog-webhook-${tag}`, hogCommit));
  responses.push(JSON.stringify(hogRun));

  // The attacker: build, test and service all hunt.
  const env = {
    PROBE: probe,
    HUNT_STATE: join(root, 'state'),
    HUNT_DATA: join(root, 'data'),
    HUNT_HOST_HOME: process.env.HOME ?? '/root',
    HUNT_HOST_PID: String(host.pid),
    HUNT_AZURITE_PID: String(host.azurite?.pid ?? 1),
    HUNT_MARK: `attack-${tag}`,
  };
  writeFileSync(join(attacker.dir, 'hunt.sh'), HUNT);
  const attackerCommit = await attacker.commitPipeline(
    onePipeline({
      port: attackerPort!,
      // The probe first: it races the feedback message the trigger holds from the run's start.
      build: 'node probe/probe-listeners.cjs && bash hunt.sh build && mkdir -p dist && cp -r server.js hunt.sh probe dist/',
      test: 'bash hunt.sh test',
      start: 'bash dist/hunt.sh service; node dist/probe/probe-listeners.cjs; exec node dist/server.js',
      env,
    }),
    'hostile pipeline',
  );
  attackerRun = await host.waitForRun(await push(attacker, SECRET.attackerWebhook, attackerCommit), undefined, 180_000);
  responses.push(JSON.stringify(attackerRun));
  for (const step of ['build', 'test']) {
    const log = await api(`/api/runs/${attackerRun.runId}/logs/${step}`);
    extractDumps(log.text, dumps, step);
    if (step === 'build') extractProbes(log.text, 'build');
  }
  for (const f of filesUnder(join(root, 'data', 'targets', 'process', 'attacker'))) {
    if (!f.endsWith('output.log')) continue;
    extractDumps(readFileSync(f, 'utf8'), dumps, 'service');
    extractProbes(readFileSync(f, 'utf8'), 'service');
  }
  // Positive control of the probes themselves: the same script, outside the sandbox, with the
  // host's real keys, gets in everywhere a key opens.
  const control = execFileSync(process.execPath, [PROBE_SCRIPT], {
    env: { PATH: process.env.PATH, PROBE: JSON.stringify({ ...listeners, storageKey: conveyorSecrets().storageKey, sbKey: conveyorSecrets().serviceBusKey }) },
  }).toString();
  extractProbes(control, 'control');

  // Once released, the held feedback is processed: the run's final status reaches the fake GitHub.
  for (let i = 0; i < 300 && !held.posts.some((p) => p.context === 'conveyor' && p.state === 'success' && p.answered); i++) await new Promise((r) => setTimeout(r, 100));
  const sb = new ServiceBusClient(emulatorConnectionString(listeners.servicebus, conveyorSecrets().serviceBusKey));
  try {
    const dlq = sb.createReceiver('conveyor-events', 'git-feedback', { subQueueType: 'deadLetter', receiveMode: 'peekLock' });
    feedbackDeadLetters = (await dlq.peekMessages(50)).map((m) => `${String(m.messageId)}: ${m.deadLetterReason}`);
    await dlq.close();
  } finally {
    await sb.close();
  }

  for (const path of [
    `/api/runs/${victimRun.runId}`, `/api/runs/${victimRun.runId}/logs/build`, `/api/runs/${thiefRunId}`, `/api/runs/${attackerRun.runId}`,
    '/api/apps', '/api/apps/victim', '/api/apps/victim/runs', '/api/apps/victim/environments/dev/history', '/api/apps/thief/runs',
  ]) await api(path);
});

after(async () => {
  await host?.stop().catch(() => undefined);
  if (root) await stopAllEnvironments(root).catch(() => undefined);
  for (const s of [attacker, victim, thief, hog]) await s?.dispose();
  await held?.close();
  if (root) rmSync(root, { recursive: true, force: true });
  for (const phase of ['build', 'test', 'service']) rmSync(`/tmp/attack-${tag}-${phase}`, { force: true });
});

/** Names of the values of `secrets` that occur in `data` (as text, or in base64 at any alignment). */
function leaks(data: Buffer, secrets: Record<string, string>): string[] {
  const found: string[] = [];
  for (const [name, value] of Object.entries(secrets)) {
    if (data.includes(Buffer.from(value))) found.push(name);
    else if ([0, 1, 2].some((shift) => data.includes(Buffer.from(Buffer.from(`${'x'.repeat(shift)}${value}`).toString('base64').slice(4 * Math.ceil(shift / 3) + 4, -4))))) found.push(`${name} (base64)`);
  }
  return found;
}

describe('a hostile build step, test step and deployed service', () => {
  test('all three hunted (each dump decoded), inside the sandbox', () => {
    assert.equal(attackerRun.status, 'Succeeded', JSON.stringify(attackerRun).slice(0, 2000));
    assert.deepEqual([...dumps.keys()].sort(), ['build:build', 'service:service', 'test:test']);
    for (const [phase, dump] of dumps) {
      // Positive control: the hunter read environments (its own is there, with its app name).
      assert.match(dump, /CONVEYOR_APP=attacker/, `${phase} read /proc environments`);
      // It sees only its own sandbox: PID 1 is the sandbox's init, a handful of processes.
      const pids = /pids: (.*)/.exec(dump)![1]!.trim().split(' ');
      assert.ok(pids.includes('/proc/1') && pids.length < 10, `${phase} sees ${pids.length} processes`);
    }
  });

  test("finds nothing of Conveyor's: host keys, API and git tokens, webhook secrets, the age identity, the storage key, another app's secret, source or workspace", () => {
    assert.equal(dumps.size, 3, 'three dumps to search');
    const found = [...dumps].map(([phase, dump]) => [phase, leaks(Buffer.from(dump), conveyorSecrets())] as const).filter(([, l]) => l.length > 0);
    assert.deepEqual(found, []);
  });

  test("Conveyor's state and data folders, and the real home folder, are not there at all", () => {
    for (const [phase, dump] of dumps) {
      assert.match(dump, /absent .*\/state\n/, `${phase}: state folder`);
      assert.match(dump, /absent .*\/data\/git-cache\n/, `${phase}: git mirrors`);
      // A step's workspace and a service's release folder are mounted at their own paths, so
      // their parents exist inside as empty folders: nothing of another app is in them.
      if (phase !== 'service:service') assert.match(dump, /absent .*\/data\/targets\n/, `${phase}: releases`);
      assert.ok(!dump.includes('/process/victim'), `${phase}: another app's release`);
      assert.ok(!dump.includes('/process/thief'), `${phase}: another app's release`);
      assert.match(dump, new RegExp(`absent ${process.env.HOME ?? '/root'}\\n`), `${phase}: the host's HOME`);
      assert.ok(!dump.includes('victim.decoy'), `${phase}: another workspace`);
    }
  });

  test("no process of the sandbox holds a descriptor of Conveyor's (only its own pipes, files and tree)", () => {
    for (const [phase, dump] of dumps) {
      const fds = [...dump.matchAll(/^fd (\d+) (\d+) -> (.*)$/gm)].map((m) => ({ pid: Number(m[1]), fd: Number(m[2]), target: m[3]! }));
      assert.ok(fds.length >= 3, `${phase} listed descriptors`);
      const own = (t: string) =>
        /^(\/dev\/null|pipe:\[\d+\]|socket:\[\d+\]|anon_inode:.*|\/proc\/.*|\/tmp\/tmp\.\w+|.*\/hunt\.sh)$/.test(t) ||
        t.includes('/data/workspaces/attacker.') ||
        t.includes('/data/targets/process/attacker/');
      assert.deepEqual(fds.filter((f) => !own(f.target)), [], `${phase}: ${JSON.stringify(fds)}`);
    }
  });

  test('nothing was written outside its own tree, and Conveyor and Azurite were not signalled', () => {
    for (const phase of ['build', 'test', 'service']) {
      for (const path of [join(root, 'state', `pwned-${phase}`), join(root, 'data', `pwned-${phase}`), join(root, 'data', 'workspaces', `pwned-${phase}`), join(root, 'data', 'targets', `pwned-${phase}`), join(process.env.HOME ?? '/root', `pwned-attack-${tag}-${phase}`), `/tmp/attack-${tag}-${phase}`]) {
        assert.equal(existsSync(path), false, `${path} was written`);
      }
      assert.match(dumps.get(`${phase}:${phase}`)!, new RegExp(`cannot signal ${host.pid}\\n`));
    }
    assert.ok(alive(host.pid), 'Conveyor is alive');
    if (host.azurite) assert.ok(alive(host.azurite.pid), 'Azurite is alive');
  });
});

describe('limits', () => {
  test('a build that allocates past its memory limit fails, and the run record says so', () => {
    assert.equal(hogRun.status, 'Failed', JSON.stringify(hogRun).slice(0, 2000));
    assert.match(hogRun.stages.build.reason, /^build hit its memory limit: it ran out of memory \(limit 256Mi per process\)/);
    assert.equal(hogRun.stages.build.isolation.limits.memory, '256Mi');
  });
});

describe("the host's loopback listeners", () => {
  const refused: Record<string, RegExp> = {
    'functions-apps-no-key': /^401$/,
    'functions-register-no-key': /^401$/,
    'functions-durable-no-key': /^401$/,
    'durable-rpc-list': /^401$/,
    'durable-rpc-guess': /^401$/,
    'blob-list': /^403$/,
    'blob-anonymous': /^40[13]$/,
    'queue-list': /^403$/,
    'table-list': /^40[13]$/,
    'servicebus-send': /^cbs-401$/,
  };

  test('the probes work: with the real keys, from outside, Azurite and the Service Bus emulator let them in', () => {
    const control = probes.get('control');
    assert.ok(control, 'the control ran');
    assert.deepEqual(
      { blob: control.get('blob-list'), queue: control.get('queue-list'), table: control.get('table-list'), servicebus: control.get('servicebus-send') },
      { blob: '200', queue: '200', table: '200', servicebus: 'sent' },
    );
  });

  test('a build step and a deployed service reach every listener (network on) and each refuses them: Functions, durable RPC, Azurite blob/queue/table, Service Bus', () => {
    for (const phase of ['build', 'service']) {
      const seen = probes.get(phase);
      assert.ok(seen, `${phase} probed`);
      const wrong = Object.entries(refused).filter(([name, want]) => !want.test(seen.get(name) ?? 'missing')).map(([name]) => `${name}=${seen.get(name)}`);
      assert.deepEqual(wrong, [], `${phase}: ${JSON.stringify([...seen])}`);
    }
  });

  test('the Service Bus Settlement gRPC service: a build step racing a message the gitFeedback trigger holds, and a service, settle nothing (NOT_FOUND, nothing to enumerate)', () => {
    const want = {
      'settlement-complete-random': 'grpc-5',
      'settlement-deadletter-random': 'grpc-5',
      'settlement-renew-random': 'grpc-5',
      // 123 guesses: the empty and nil tokens, counters, random tokens in both cases.
      'settlement-guesses': 'grpc-5x123',
      // No list call, no server reflection, no sessions to name.
      'settlement-reflection': 'grpc-12',
      'settlement-reflection-v1': 'grpc-12',
      'settlement-session-state': 'grpc-12',
    };
    for (const phase of ['build', 'service', 'control']) {
      const seen = probes.get(phase)!;
      assert.deepEqual(Object.fromEntries(Object.keys(want).map((k) => [k, seen.get(k)])), want, `${phase}: ${JSON.stringify([...seen])}`);
      // The answer came from the Settlement handler itself, not from a transport error.
      assert.match(decodeURIComponent(seen.get('settlement-complete-random-said') ?? ''), /^no message with lock token <token> is being processed by a trigger/);
    }
    // The build step's tries ran while a real message was held, before it was let go.
    assert.equal(probes.get('build')!.get('settlement-during-held-message'), 'yes', 'the build probed while the trigger held a feedback message');
    assert.equal(held.releasedBy, 'probe', 'still held when the build step had finished its tries (the probe let it go)');
    assert.ok(held.posts.length > 0 && held.posts[0]!.answered! >= held.releasedAt!, 'a status was held until then');
  });

  test('the message the trigger held while the build step attacked is then processed normally: answered once, not redelivered, not dead-lettered', () => {
    const first = held.posts[0]!;
    assert.deepEqual([first.context, first.state], ['conveyor', 'pending'], JSON.stringify(held.posts));
    assert.ok(first.answered !== undefined && first.answered >= held.releasedAt!, 'answered only after the release');
    const same = held.posts.filter((p) => p.context === first.context && p.state === first.state && p.description === first.description);
    assert.equal(same.length, 1, `posted once (a redelivery would post it again): ${JSON.stringify(held.posts)}`);
    const final = held.posts.filter((p) => p.context === 'conveyor').at(-1)!;
    assert.deepEqual([final.state, final.answered !== undefined], ['success', true], 'the run was reported to the end');
    assert.deepEqual(feedbackDeadLetters, []);
  });
});

describe('sealed secrets', () => {
  test('the victim build step and service got the value sealed with the age CLI; the log shows it masked', async () => {
    assert.equal(victimRun.status, 'Succeeded', JSON.stringify(victimRun).slice(0, 2000));
    assert.equal(victimDigest, createHash('sha256').update(SECRET.victimValue).digest('hex'), 'the service holds exactly the value');
    const log = await api(`/api/runs/${victimRun.runId}/logs/build`);
    assert.match(log.text, new RegExp(`build sees DB_PASSWORD=\\*\\*\\* \\(length ${SECRET.victimValue.length}\\)`));
  });

  test('delivered as a file, the value is a read-only file in memory at /run/secrets/<VARIABLE> for the build step and the service', async () => {
    const sha = createHash('sha256').update(SECRET.victimValue).digest('hex');
    assert.equal(victimFileDigest, `/run/secrets/DB_FILE ${sha}`);
    const log = await api(`/api/runs/${victimRun.runId}/logs/build`);
    assert.match(log.text, new RegExp(`build file /run/secrets/DB_FILE ${sha}`));
  });

  test('the run record says how the build step and the service were isolated (runner, sandbox, network, limits)', () => {
    const build = victimRun.stages.build.isolation;
    assert.equal(build.runner, 'bubblewrap');
    assert.equal(build.sandbox, true);
    assert.equal(build.network, 'on');
    assert.deepEqual(Object.keys(build.limits).sort(), ['cpu', 'disk', 'memory']);
    assert.ok(build.enforcement.some((e: string) => e.startsWith('memory: RLIMIT_DATA')));
    assert.deepEqual(victimRun.environments.dev.isolation, { runner: 'bubblewrap', sandbox: true, network: 'on', enforcement: ['no CPU, memory or disk limits on services (steps only)'] });
  });

  test("another app cannot use the victim's value: its run fails before any step, naming the reference and the reason", async () => {
    assert.equal(thiefRun.status, 'Failed');
    const text = JSON.stringify(thiefRun);
    assert.match(text, /sealed secret secrets\.stolen \(build\.secrets\.DB_PASSWORD\) does not open: it was not sealed for this app/);
    assert.equal((await api(`/api/runs/${thiefRun.runId}/logs/build`)).status, 404, 'no build step ran');
  });

  test('the value is in no API answer, no line of the host, no blob, no file of the state and data folders (durable store, Azurite, releases)', async () => {
    const value = { victimValue: SECRET.victimValue };
    const found: string[] = [];
    for (const r of responses) if (leaks(Buffer.from(r), value).length) found.push(`response ${r.slice(0, 80)}`);
    if (leaks(Buffer.from(host.lines.join('\n')), value).length) found.push('host output');
    const blobs = await dumpBlobs(host.connectionString, true);
    assert.ok(blobs.size > 5);
    for (const [name, { content }] of blobs) {
      let l = leaks(content!, value);
      if (!l.length && name.endsWith('.tar.gz')) l = leaks(gunzipSync(content!), value);
      if (l.length) found.push(`blob ${name}`);
    }
    const files = [...filesUnder(join(root, 'state')), ...filesUnder(join(root, 'data'))];
    assert.ok(files.some((f) => f.includes('durable')), 'the durable store is among them');
    for (const f of files) {
      let data: Buffer;
      try {
        data = readFileSync(f);
      } catch {
        continue;
      }
      if (leaks(data, value).length || (f.endsWith('.gz') && leaks(gunzipSync(data), value).length)) found.push(`file ${f.slice(root.length)}`);
    }
    assert.deepEqual(found, []);
  });
});
