// The settings Azure gives Conveyor (infra/main.json app settings) against what reads them: the
// settings catalogue (shared/config/settings.ts), the Functions host and platform, host.json and
// the bindings the host indexes. Every catalogued setting Azure needs is set (or has a stated
// reason not to be), and nothing is set that nothing reads.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SETTING_CATALOGUE } from '../../shared/config/settings.js';
import { appSettings, loadTemplate } from '../support/arm-template.js';
import { hostView, indexApp } from '../support/host-indexer.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const template = loadTemplate(root);
const settings = appSettings(template);
const hostJson = JSON.parse(readFileSync(join(root, 'host.json'), 'utf8')) as unknown;
const azureDoc = readFileSync(join(root, 'docs', 'azure.md'), 'utf8');

/** Catalogued settings the template leaves unset on purpose, and why. */
const NOT_SET_IN_AZURE: Record<string, string> = {
  CONVEYOR_STORAGE_CONNECTION: "Conveyor's records share the host's account: the setting falls back to AzureWebJobsStorage (identity form)",
  CONVEYOR_DATA_DIR: 'its default on App Service (WEBSITE_INSTANCE_ID set) is the temp folder, which is writable',
  CONVEYOR_GIT_TOKEN: 'only needed for private https repositories; docs/azure.md adds it as a Key Vault reference',
  CONVEYOR_GIT_USER: 'default x-access-token fits GitHub tokens; set only with CONVEYOR_GIT_TOKEN',
  WEBSITE_AUTH_ENABLED: 'set by App Service itself when authsettingsV2 turns authentication on',
  WEBSITE_INSTANCE_ID: 'set by App Service itself on every instance',
  CONVEYOR_ALLOW_UNSANDBOXED_STEPS: 'never in Azure: an unsandboxed step would run beside the managed identity; steps run as Kubernetes Jobs there (CONVEYOR_STEP_RUNNER)',
  CONVEYOR_ARM_ENDPOINT: 'the default public ARM endpoint is the one a Function App in Azure uses',
  CONVEYOR_ARM_CA: 'the public ARM endpoint has a publicly trusted certificate',
  CONVEYOR_REGISTRY_AUTH: "images in ACR are checked with the app's identity (AcrPull on the template's registry); credentials for other registries are added as a Key Vault reference (docs/kubernetes.md)",
  CONVEYOR_ARM_AUDIENCE: "public ARM's audience is the default, as CONVEYOR_ARM_ENDPOINT's endpoint is; in a sovereign cloud both are set to that cloud's ARM (docs/kubernetes.md)",
  CONVEYOR_STEP_SOURCE: 'the default git fits a cluster that reaches the git host; docs/kubernetes.md says when to set upload',
  CONVEYOR_STEP_NAMESPACE: 'the default conveyor-steps is the namespace docs/azure.md prepares',
  CONVEYOR_SANDBOX_READONLY_PATHS: 'the image adds no host tool folders for sandboxes',
  CONVEYOR_TEST_KILL_AT: 'test-only fault injection for the crash tests; refused unless the local host runs with its test flag, which Azure never sets',
  CONVEYOR_RECONCILE_SCHEDULE: 'its default (every minute) is the schedule Azure runs; set it only to change or turn off the reconcile sweep',
  kubeconfigSetting: 'one per kubernetes environment, named by the pipeline; docs/azure.md adds each as a Key Vault reference',
  'feedback.tokenSetting': "one per app that opts into Git host feedback, named by its registration (CONVEYOR_FEEDBACK_<NAME>, a Key Vault reference), or sealed into the registration instead",
};

/** Settings read by the Functions host or the platform, not by Conveyor's code. */
const HOST_SETTINGS: Record<string, string> = {
  FUNCTIONS_EXTENSION_VERSION: 'Functions runtime major version',
  FUNCTIONS_WORKER_RUNTIME: 'language worker (node)',
  WEBSITES_ENABLE_APP_SERVICE_STORAGE: 'custom container: do not mount /home from Azure Files (it would need shared keys)',
  APPLICATIONINSIGHTS_CONNECTION_STRING: 'telemetry destination',
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'telemetry with Entra ID (the component has local auth off)',
};

/** The setting apps are registered with (`webhookSecretSetting`), documented in docs/azure.md. */
const PER_APP_WEBHOOK_SETTING = 'CONVEYOR_WEBHOOK_SECRET';

/** Settings read by libraries the code uses, allowed only while the code uses them. */
const LIBRARY_SETTINGS: Record<string, { reader: string; used: RegExp }> = {
  // DefaultAzureCredential picks the user-assigned managed identity by this client id.
  AZURE_CLIENT_ID: { reader: '@azure/identity DefaultAzureCredential (AKS credentials, Service Bus)', used: /new DefaultAzureCredential\(/ },
};
const appSource = ['functions', 'shared'].flatMap((d) => sourceFiles(join(root, d))).map((f) => readFileSync(f, 'utf8')).join('\n');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const catalogued = new Map(SETTING_CATALOGUE.filter((e) => e.kind === 'fixed').map((e) => [e.name, e]));
const bindingConnections = new Set(hostView(indexApp(root)).flatMap((f) => f.connections));

/** `X__accountName` -> X (the identity form of connection X). */
function connectionOf(setting: string): string | undefined {
  const m = /^(.+?)(?:__|:)(accountName|blobServiceUri|queueServiceUri|tableServiceUri|serviceUri|fullyQualifiedNamespace|vaultUri|credential|clientId)$/i.exec(setting);
  return m?.[1];
}

describe('infra/main.json app settings vs the settings catalogue', () => {
  for (const entry of SETTING_CATALOGUE) {
    it(`${entry.name}: set in Azure, or unset for a stated reason`, () => {
      if (entry.kind === 'per-app' && entry.name === 'webhookSecretSetting') {
        assert.ok(settings.has(PER_APP_WEBHOOK_SETTING), `no per-app webhook secret setting (${PER_APP_WEBHOOK_SETTING})`);
        assert.match(azureDoc, new RegExp(`webhookSecretSetting[^\\n]*${PER_APP_WEBHOOK_SETTING}`), 'docs/azure.md must tell users to register apps with this setting');
        return;
      }
      const set = settings.has(entry.name) || [...settings.keys()].some((k) => connectionOf(k) === entry.name);
      const reason = NOT_SET_IN_AZURE[entry.name];
      assert.ok(set !== Boolean(reason), set ? `${entry.name} is set in infra/main.json but also listed as unset (${reason})` : `${entry.name} is catalogued but infra/main.json neither sets it nor has a reason not to: add it to the Function App's appSettings (a Key Vault reference if secret), or to NOT_SET_IN_AZURE with the reason`);
    });
  }

  it('every reason for leaving a setting unset names a catalogued setting', () => {
    for (const name of Object.keys(NOT_SET_IN_AZURE)) assert.ok(SETTING_CATALOGUE.some((e) => e.name === name), `${name} is not in the catalogue any more`);
  });

  it('nothing is set that nothing reads', () => {
    for (const name of settings.keys()) {
      const readers = [
        catalogued.has(name) && 'the settings catalogue',
        connectionOf(name) && catalogued.has(connectionOf(name)!) && `identity form of ${connectionOf(name)}`,
        connectionOf(name) && bindingConnections.has(connectionOf(name)!) && `a binding's connection ${connectionOf(name)}`,
        HOST_SETTINGS[name] && `the host: ${HOST_SETTINGS[name]}`,
        LIBRARY_SETTINGS[name] && LIBRARY_SETTINGS[name].used.test(appSource) && LIBRARY_SETTINGS[name].reader,
        name === PER_APP_WEBHOOK_SETTING && 'apps registered with this webhookSecretSetting',
        JSON.stringify(hostJson).includes(`%${name}%`) && 'host.json',
      ].filter(Boolean);
      assert.ok(readers.length > 0, `${name} is set in infra/main.json but nothing reads it`);
    }
  });

  it('secrets are Key Vault references, never literal values', () => {
    for (const [name, value] of settings) {
      const secret = catalogued.get(name)?.secret || name === PER_APP_WEBHOOK_SETTING;
      if (secret) assert.match(value, /@Microsoft\.KeyVault\(/, `${name} is a secret: make it a Key Vault reference`);
    }
  });

  it('every %setting% host.json uses is set', () => {
    const refs = [...JSON.stringify(hostJson).matchAll(/%([^%\s"]+)%/g)].map((m) => m[1]!);
    assert.ok(refs.length > 0);
    for (const r of refs) assert.ok(settings.has(r), `host.json uses %${r}% but infra/main.json does not set ${r}`);
  });

  it('every connection a binding names is configured (connection string or identity form)', () => {
    for (const c of bindingConnections) assert.ok(settings.has(c) || [...settings.keys()].some((k) => connectionOf(k) === c), `binding connection ${c} is not configured`);
  });

  it('the identity-form recogniser is strict (so "nothing reads it" can fail)', () => {
    assert.equal(connectionOf('AzureWebJobsStorage__accountName'), 'AzureWebJobsStorage');
    assert.equal(connectionOf('CONVEYOR_SERVICEBUS__fullyQualifiedNamespace'), 'CONVEYOR_SERVICEBUS');
    assert.equal(connectionOf('SOMETHING_ELSE'), undefined);
  });
});
