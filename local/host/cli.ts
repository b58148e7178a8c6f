#!/usr/bin/env node
/**
 * `conveyor-host`: runs a Functions v4 Node app on the local host.
 *
 *   conveyor-host --app-dir DIR [--port 7071] [--state-dir DIR] [--no-storage] [--no-servicebus] [--grace-ms N] [--test-clock]
 *
 * Prints the functions with their URLs, the keys, and finally `Host ready at <origin>`.
 * SIGINT/SIGTERM stop it gracefully (exit 0); a second signal forces exit 1.
 */
import { parseArgs } from 'node:util';
import { startHost, type RunningHost } from './host.js';
import { parseLogLevel } from './logger.js';

const usage = `usage: conveyor-host --app-dir DIR [options]

  --app-dir DIR     folder with the app's package.json (default: .)
  --port N          port on 127.0.0.1 (0 = free port; default: local.settings.json Host.LocalHttpPort or 7071)
  --state-dir DIR   local state folder (default: $CONVEYOR_STATE_DIR or ./.conveyor)
  --no-storage      do not start Azurite
  --no-servicebus   do not start the local Service Bus emulator
  --grace-ms N      shutdown grace period for in-flight invocations (default 10000)
  --log-level L     trace|debug|info|warn|error|none (default: $CONVEYOR_LOG_LEVEL, host.json, info)
  --test-clock      enable the extensions' test-only controls
  -h, --help        this text`;

function fail(message: string): never {
  process.stderr.write(`conveyor-host: ${message}\n${usage}\n`);
  process.exit(2);
}

function intOption(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) fail(`--${name} must be a non-negative integer`);
  return n;
}

async function main(): Promise<void> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      options: {
        'app-dir': { type: 'string' },
        port: { type: 'string' },
        'state-dir': { type: 'string' },
        'no-storage': { type: 'boolean' },
        'no-servicebus': { type: 'boolean' },
        'grace-ms': { type: 'string' },
        'log-level': { type: 'string' },
        'test-clock': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    fail((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(usage + '\n');
    return;
  }
  const logLevel = values['log-level'] === undefined ? undefined : parseLogLevel(values['log-level']);
  if (values['log-level'] !== undefined && !logLevel) fail(`unknown log level '${String(values['log-level'])}'`);

  const running: { host?: RunningHost } = {};
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      process.stderr.write(`conveyor-host: second ${signal}, exiting now\n`);
      process.exit(1);
    }
    // Still starting: nothing to drain (Azurite, if already spawned, exits with us: parent-watch).
    if (!running.host) process.exit(0);
    running.host.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`conveyor-host: shutdown failed: ${String((err as Error)?.stack ?? err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const host = await startHost({
    appDir: String(values['app-dir'] ?? '.'),
    port: intOption('port', values.port as string | undefined),
    stateDir: values['state-dir'] as string | undefined,
    startStorage: values['no-storage'] !== true,
    startServiceBus: values['no-servicebus'] !== true,
    graceMs: intOption('grace-ms', values['grace-ms'] as string | undefined),
    testClock: values['test-clock'] === true,
    logLevel,
  });
  running.host = host;

  const out: string[] = ['', 'Functions:'];
  for (const f of host.functions) {
    if (f.unsupported) out.push(`  ${f.name}: ${f.triggerType} (not run: ${f.unsupported})`);
    else if (f.triggerType.toLowerCase() === 'httptrigger') {
      out.push(`  ${f.name}: [${(f.methods?.length ? f.methods : ['ANY']).join(',')}] ${f.detail} (authLevel ${f.authLevel})`);
    } else out.push(`  ${f.name}: ${f.triggerType} (${f.detail})`);
  }
  if (host.functions.length === 0) out.push('  (none registered)');
  out.push('', `Master key:   ${host.keys.master}`, `Function key: ${host.keys.function} (default)`, `State folder: ${host.stateDir}`);
  if (host.storage) out.push(`Storage:      Azurite pid ${host.storage.pid}, blob http://127.0.0.1:${host.storage.blobPort}`);
  out.push('', `Host ready at ${host.origin}`, '');
  process.stdout.write(out.join('\n'));
}

main().catch((err: unknown) => {
  process.stderr.write(`conveyor-host: failed to start: ${String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
