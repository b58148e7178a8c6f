// infra/main.json: the ARM template that runs Conveyor in Azure (docs/azure.md). Bicep cannot
// be compiled here, so the template is ARM JSON and these tests hold it to what Azure and the
// code need: structure, api-versions the Azure SDKs declare, identity instead of keys, a role
// for every data-plane operation, anonymous paths = the app's anonymous routes, useful outputs.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROVIDER_NAMES } from '../../shared/webhooks/provider-registry.js';
import { declaredPutVersions, knowsProperty, resourceTypeOfPath } from '../support/arm-api-versions.js';
import { allStrings, appSettings, expandVariables, loadTemplate, referencedNames, resourceIdTypes, roleAssignments, type ArmTemplate } from '../support/arm-template.js';
import { hostView, indexApp, type HostFunction } from '../support/host-indexer.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const template = loadTemplate(root);

/** Which SDK package manages which resource provider namespace. */
const SDK_BY_NAMESPACE: Record<string, string> = {
  'microsoft.web': '@azure/arm-appservice',
  'microsoft.storage': '@azure/arm-storage',
  'microsoft.servicebus': '@azure/arm-servicebus',
  'microsoft.keyvault': '@azure/arm-keyvault',
  'microsoft.operationalinsights': '@azure/arm-operationalinsights',
  'microsoft.authorization': '@azure/arm-authorization',
  'microsoft.managedidentity': '@azure/arm-msi',
  'microsoft.containerservice': '@azure/arm-containerservice',
  'microsoft.containerregistry': '@azure/arm-containerregistry',
};
/** Microsoft.Insights is split over two SDKs by resource type. */
const SDK_BY_TYPE: Record<string, string> = {
  'microsoft.insights/components': '@azure/arm-appinsights',
  'microsoft.insights/diagnosticsettings': '@azure/arm-monitor',
};

function sdkFor(type: string): string | undefined {
  const lower = type.toLowerCase();
  return SDK_BY_TYPE[lower] ?? SDK_BY_NAMESPACE[lower.split('/')[0]!];
}

const versionCache = new Map<string, Map<string, Set<string>>>();
function versionsFor(type: string): Set<string> {
  const sdk = sdkFor(type);
  if (!sdk) return new Set();
  if (!versionCache.has(sdk)) versionCache.set(sdk, declaredPutVersions(sdk));
  return versionCache.get(sdk)!.get(type.toLowerCase()) ?? new Set();
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}
const appSource = ['functions', 'shared'].flatMap((d) => sourceFiles(join(root, d))).map((f) => readFileSync(f, 'utf8')).join('\n');

let indexed: HostFunction[] | undefined;
function app(): HostFunction[] {
  indexed ??= hostView(indexApp(root));
  return indexed;
}

/** `reference(<resource id expression>, '<version>')` calls: the resource type and version. */
function referenceCalls(expression: string): { type: string; version: string }[] {
  const out: { type: string; version: string }[] = [];
  for (const m of expression.matchAll(/\breference\(/g)) {
    let depth = 1;
    let i = m.index + m[0].length;
    let comma = -1;
    for (; i < expression.length && depth > 0; i++) {
      const c = expression[i];
      if (c === '(') depth++;
      else if (c === ')') depth--;
      else if (c === ',' && depth === 1 && comma < 0) comma = i;
    }
    const args = expression.slice(m.index + m[0].length, i - 1);
    const first = comma < 0 ? args : expression.slice(m.index + m[0].length, comma);
    const version = comma < 0 ? '' : (/^\s*'([^']+)'/.exec(expression.slice(comma + 1, i - 1))?.[1] ?? '');
    const type = resourceIdTypes(first)[0];
    if (type) out.push({ type, version });
  }
  return out;
}

function resourcesOfType(t: ArmTemplate, type: string) {
  return t.resources.filter((r) => r.type.toLowerCase() === type.toLowerCase());
}

describe('infra/main.json: structure', () => {
  it('is a resource-group deployment template', () => {
    assert.match(template.$schema, /deploymentTemplate\.json#$/);
    assert.match(template.$schema, /2019-04-01/);
    assert.equal(template.contentVersion, '1.0.0.0');
  });

  it('every resource has a type, apiVersion and name, and bracket expressions are balanced', () => {
    for (const r of template.resources) {
      assert.ok(r.type && r.apiVersion && r.name, JSON.stringify(r).slice(0, 120));
    }
    for (const s of allStrings(template)) {
      if (!s.startsWith('[')) continue;
      assert.ok(s.endsWith(']'), s);
      let depth = 0;
      let quoted = false;
      for (const c of s.slice(1, -1)) {
        if (c === "'") quoted = !quoted;
        else if (!quoted && c === '(') depth++;
        else if (!quoted && c === ')') depth--;
        assert.ok(depth >= 0, `unbalanced parentheses in ${s}`);
      }
      assert.equal(depth, 0, `unbalanced parentheses in ${s}`);
      assert.equal(quoted, false, `unbalanced quotes in ${s}`);
    }
  });

  it('every parameter and variable referenced is declared, and every parameter is used', () => {
    const params = referencedNames(template, 'parameters');
    const vars = referencedNames(template, 'variables');
    for (const p of params) assert.ok(p in template.parameters, `parameters('${p}') is not declared`);
    for (const v of vars) assert.ok(v in template.variables, `variables('${v}') is not declared`);
    for (const p of Object.keys(template.parameters)) assert.ok(params.has(p), `parameter ${p} is never used`);
    for (const [name, p] of Object.entries(template.parameters)) assert.ok(p.metadata?.description, `parameter ${name} has no description`);
  });

  it('dependsOn names only resources the template declares', () => {
    const declared = new Set(template.resources.map((r) => r.type.toLowerCase()));
    for (const r of template.resources) {
      for (const dep of r.dependsOn ?? []) {
        const types = resourceIdTypes(expandVariables(template, dep));
        assert.ok(types.length > 0, `cannot resolve dependsOn ${dep}`);
        assert.ok(declared.has(types.at(-1)!.toLowerCase()), `${r.type} depends on ${types.at(-1)}, which the template does not declare`);
      }
    }
  });

  it('the expression reader understands the forms the template uses (so the checks above can fail)', () => {
    assert.deepEqual(resourceIdTypes(expandVariables(template, "[variables('storageId')]")), ['Microsoft.Storage/storageAccounts']);
    assert.deepEqual(resourceIdTypes("[extensionResourceId(variables('vaultId'), 'Microsoft.Authorization/roleAssignments', guid(x))]"), ['Microsoft.Authorization/roleAssignments']);
    const broken = { ...template, parameters: {} } as ArmTemplate;
    assert.ok([...referencedNames(broken, 'parameters')].some((p) => !(p in broken.parameters)));
  });
});

describe('infra/main.json: api-versions are ones the Azure SDKs declare', () => {
  it('reads declared versions from the SDK packages (AutoRest and TypeSpec builds)', () => {
    assert.equal(resourceTypeOfPath('/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Web/sites/{name}/config/authsettingsV2'), 'Microsoft.Web/sites/config');
    assert.ok(versionsFor('Microsoft.Web/sites').size > 0);
    assert.ok(versionsFor('Microsoft.ServiceBus/namespaces/topics').size > 0);
    assert.ok(!versionsFor('Microsoft.Web/sites').has('2099-01-01'));
  });

  for (const r of template.resources) {
    it(`${r.type} ${r.apiVersion}`, () => {
      const sdk = sdkFor(r.type);
      assert.ok(sdk, `no SDK is mapped for ${r.type}`);
      const declared = versionsFor(r.type);
      assert.ok(declared.has(r.apiVersion), `${sdk} declares ${[...declared].join(', ') || 'no PUT'} for ${r.type}, not ${r.apiVersion}`);
    });
  }

  it('every property name the template sets is one the SDK knows (catches typos the service would ignore)', () => {
    const unknown: string[] = [];
    const walk = (sdk: string, value: unknown, path: string) => {
      if (Array.isArray(value)) value.forEach((v, i) => walk(sdk, v, `${path}[${i}]`));
      else if (value && typeof value === 'object') {
        for (const [k, v] of Object.entries(value)) {
          if (k.startsWith('[')) continue; // a key computed by an expression (resource ids)
          if (!knowsProperty(sdk, k)) unknown.push(`${path}.${k}`);
          walk(sdk, v, `${path}.${k}`);
        }
      }
    };
    for (const r of template.resources) {
      const sdk = sdkFor(r.type)!;
      for (const key of ['properties', 'sku', 'identity']) if (r[key] !== undefined) walk(sdk, r[key], `${r.type}.${key}`);
    }
    assert.deepEqual(unknown, []);
    assert.ok(!knowsProperty('@azure/arm-storage', 'allowSharedKeyAcess'), 'the look-up must not accept a misspelling');
  });

  it("every reference(x, 'version') uses a version the SDK declares for x's type", () => {
    const uses = allStrings(template).flatMap((s) => referenceCalls(expandVariables(template, s)));
    assert.ok(uses.length >= 3);
    for (const u of uses) assert.ok(versionsFor(u.type).has(u.version), `reference to ${u.type} with ${u.version}`);
  });
});

describe('infra/main.json: identity instead of keys', () => {
  const settings = appSettings(template);

  it('storage accepts no shared keys; Service Bus no SAS; Key Vault uses Azure RBAC', () => {
    const storage = resourcesOfType(template, 'Microsoft.Storage/storageAccounts')[0]!;
    assert.equal(storage.properties?.allowSharedKeyAccess, false);
    assert.equal(storage.properties?.allowBlobPublicAccess, false);
    assert.equal(resourcesOfType(template, 'Microsoft.ServiceBus/namespaces')[0]!.properties?.disableLocalAuth, true);
    assert.equal(resourcesOfType(template, 'Microsoft.KeyVault/vaults')[0]!.properties?.enableRbacAuthorization, true);
  });

  it('no setting holds a key or connection string: storage by account name with the managed identity', () => {
    for (const [name, value] of settings) {
      assert.doesNotMatch(value, /AccountKey=|SharedAccessKey|listKeys\(/i, name);
    }
    assert.ok(settings.has('AzureWebJobsStorage__accountName'));
    assert.equal(settings.get('AzureWebJobsStorage__credential'), 'managedidentity');
    assert.ok(settings.has('AzureWebJobsStorage__clientId'));
    assert.ok(!settings.has('AzureWebJobsStorage'), 'AzureWebJobsStorage as a connection string would need shared keys');
  });

  it('the events topic detects duplicates and the approvals queue exists', () => {
    const topics = resourcesOfType(template, 'Microsoft.ServiceBus/namespaces/topics');
    assert.equal(topics.length, 1);
    assert.equal(topics[0]!.properties?.requiresDuplicateDetection, true);
    assert.equal(resourcesOfType(template, 'Microsoft.ServiceBus/namespaces/queues').length, 1);
  });

  it('the app runs a custom container (git is in the image) on an Elastic Premium Linux plan', () => {
    const site = resourcesOfType(template, 'Microsoft.Web/sites')[0]!;
    assert.match(String(site.kind), /functionapp/);
    assert.match(String(site.kind), /container/);
    assert.match(String(site.properties?.siteConfig?.linuxFxVersion), /DOCKER\|/);
    assert.equal(site.properties?.siteConfig?.acrUseManagedIdentityCreds, true);
    const plan = resourcesOfType(template, 'Microsoft.Web/serverfarms')[0]!;
    assert.equal((plan as { sku?: { tier?: string } }).sku?.tier, 'ElasticPremium');
    assert.equal(plan.properties?.reserved, true);
  });

  it('secrets reach the app as Key Vault references', () => {
    assert.match(settings.get('CONVEYOR_WEBHOOK_SECRET') ?? '', /^\[format\('@Microsoft\.KeyVault\(VaultName=\{0\};SecretName=conveyor-webhook-secret\)'/);
    const site = resourcesOfType(template, 'Microsoft.Web/sites')[0]!;
    assert.ok(site.properties?.keyVaultReferenceIdentity, 'Key Vault references must resolve with the user-assigned identity');
  });
});

/**
 * The built-in roles the template grants: id, and (for registry roles) ARM actions from the role's
 * definition that matter here — a subset of each role's list — as Microsoft's built-in role
 * reference lists them (learn.microsoft.com, role-based-access-control/
 * built-in-roles/containers: "Container Registry Tasks Contributor", fb382eab-…, lists
 * scheduleRun, listBuildSourceUploadUrl, runs/read, runs/listLogSasUrl among its actions).
 */
const BUILT_IN_ROLES: Record<string, { id: string; name: string; actions?: string[] }> = {
  storageBlobDataOwner: { id: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b', name: 'Storage Blob Data Owner' },
  storageQueueDataContributor: { id: '974c5e8b-45b9-4653-ba55-5f855dd0fb88', name: 'Storage Queue Data Contributor' },
  storageTableDataContributor: { id: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3', name: 'Storage Table Data Contributor' },
  serviceBusDataSender: { id: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39', name: 'Azure Service Bus Data Sender' },
  serviceBusDataReceiver: { id: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0', name: 'Azure Service Bus Data Receiver' },
  keyVaultSecretsUser: { id: '4633458b-17de-408a-b874-0445c86b69e6', name: 'Key Vault Secrets User' },
  monitoringMetricsPublisher: { id: '3913510d-42f4-4e42-8a64-420c390055eb', name: 'Monitoring Metrics Publisher' },
  acrPull: { id: '7f951dda-4ed3-4680-a7ca-43fe172d538d', name: 'AcrPull', actions: ['Microsoft.ContainerRegistry/registries/pull/read'] },
  acrPush: { id: '8311e382-0749-4cb8-b61a-304f252e45ec', name: 'AcrPush', actions: ['Microsoft.ContainerRegistry/registries/pull/read', 'Microsoft.ContainerRegistry/registries/push/write'] },
  acrTasksContributor: {
    id: 'fb382eab-e894-4461-af04-94435c366c3f',
    name: 'Container Registry Tasks Contributor',
    actions: [
      'Microsoft.ContainerRegistry/registries/read',
      'Microsoft.ContainerRegistry/registries/scheduleRun/action',
      'Microsoft.ContainerRegistry/registries/listBuildSourceUploadUrl/action',
      'Microsoft.ContainerRegistry/registries/runs/read',
      'Microsoft.ContainerRegistry/registries/runs/write',
      'Microsoft.ContainerRegistry/registries/runs/listLogSasUrl/action',
      'Microsoft.ContainerRegistry/registries/runs/cancel/action',
      'Microsoft.ContainerRegistry/registries/tasks/read',
      'Microsoft.ContainerRegistry/registries/tasks/write',
      'Microsoft.ContainerRegistry/registries/taskruns/read',
      'Microsoft.ContainerRegistry/registries/agentpools/read',
    ],
  },
  aksClusterUser: { id: '4abbcc35-e782-43d8-92c5-2d3f1bd2253f', name: 'Azure Kubernetes Service Cluster User Role' },
  aksRbacWriter: { id: 'a7ffa36f-339b-4b5c-8bdf-e2c188b2c0eb', name: 'Azure Kubernetes Service RBAC Writer' },
};

/** The template's role keys whose built-in role includes `action`. */
function rolesWith(action: string): string[] {
  return Object.entries(BUILT_IN_ROLES)
    .filter(([, r]) => r.actions?.includes(action))
    .map(([k]) => k);
}

describe('infra/main.json: every data-plane operation has its role assignment', () => {
  const assignments = roleAssignments(template);
  const settings = appSettings(template);
  const has = (roleKeys: string[], scopeType: string) => assignments.some((a) => a.roleKey && roleKeys.includes(a.roleKey) && a.scopeType.toLowerCase().startsWith(scopeType.toLowerCase()) && /identityId/.test(a.principal));

  const operations: { what: string; uses: () => boolean; roles: string[]; scope: string }[] = [
    { what: 'blob reads/writes (@azure/storage-blob: ledger, runs, artifacts, logs)', uses: () => /from '@azure\/storage-blob'/.test(appSource), roles: ['storageBlobDataOwner', 'storageBlobDataContributor'], scope: 'Microsoft.Storage/storageAccounts' },
    { what: 'user delegation SAS for step Jobs (getUserDelegationKey)', uses: () => /getUserDelegationKey\(/.test(appSource), roles: ['storageBlobDataOwner', 'storageBlobDataContributor'], scope: 'Microsoft.Storage/storageAccounts' },
    { what: 'Functions host storage by identity (keys, leases: blob owner)', uses: () => settings.has('AzureWebJobsStorage__accountName'), roles: ['storageBlobDataOwner'], scope: 'Microsoft.Storage/storageAccounts' },
    { what: 'Durable Task (Azure Storage provider): control and work-item queues', uses: () => app().some((f) => f.bindings.some((b) => /^(orchestrationTrigger|activityTrigger|entityTrigger|durableClient)$/i.test(b.type))), roles: ['storageQueueDataContributor'], scope: 'Microsoft.Storage/storageAccounts' },
    { what: 'Durable Task (Azure Storage provider): history and instances tables', uses: () => app().some((f) => f.bindings.some((b) => /^(orchestrationTrigger|durableClient)$/i.test(b.type))), roles: ['storageTableDataContributor'], scope: 'Microsoft.Storage/storageAccounts' },
    { what: 'Service Bus trigger (receive)', uses: () => app().some((f) => /^serviceBusTrigger$/i.test(f.trigger?.type ?? '')), roles: ['serviceBusDataReceiver'], scope: 'Microsoft.ServiceBus/namespaces' },
    { what: 'Service Bus send (output binding or sender)', uses: () => app().some((f) => f.bindings.some((b) => /^serviceBus$/i.test(b.type))) || /\.createSender\(/.test(appSource), roles: ['serviceBusDataSender'], scope: 'Microsoft.ServiceBus/namespaces' },
    { what: 'Key Vault references in app settings', uses: () => [...settings.values()].some((v) => v.includes('@Microsoft.KeyVault(')), roles: ['keyVaultSecretsUser'], scope: 'Microsoft.KeyVault/vaults' },
    { what: 'Key Vault secrets read by code (@azure/keyvault-secrets)', uses: () => /from '@azure\/keyvault-secrets'/.test(appSource), roles: ['keyVaultSecretsUser'], scope: 'Microsoft.KeyVault/vaults' },
    { what: 'telemetry with Entra ID authentication', uses: () => /AAD/.test(settings.get('APPLICATIONINSIGHTS_AUTHENTICATION_STRING') ?? ''), roles: ['monitoringMetricsPublisher'], scope: 'Microsoft.Insights/components' },
    { what: 'image pull with the managed identity', uses: () => resourcesOfType(template, 'Microsoft.Web/sites').some((s) => s.properties?.siteConfig?.acrUseManagedIdentityCreds === true), roles: ['acrPull'], scope: 'Microsoft.ContainerRegistry/registries' },
    { what: 'AKS user credentials (listClusterUserCredentials)', uses: () => /listClusterUserCredentials\(/.test(appSource), roles: ['aksClusterUser'], scope: 'Microsoft.ContainerService/managedClusters' },
    { what: 'AKS admin credentials (listClusterAdminCredentials)', uses: () => /listClusterAdminCredentials\(/.test(appSource), roles: ['aksClusterAdmin'], scope: 'Microsoft.ContainerService/managedClusters' },
    // ACR Tasks image builds (shared/targets/kubernetes/acr-build.ts), each with the action ARM checks.
    { what: 'ACR Tasks: source upload URL (listBuildSourceUploadUrl)', uses: () => /\.getBuildSourceUploadUrl\(/.test(appSource), roles: rolesWith('Microsoft.ContainerRegistry/registries/listBuildSourceUploadUrl/action'), scope: 'Microsoft.ContainerRegistry/registries' },
    { what: 'ACR Tasks: schedule a build (scheduleRun)', uses: () => /\.beginScheduleRun(AndWait)?\(/.test(appSource), roles: rolesWith('Microsoft.ContainerRegistry/registries/scheduleRun/action'), scope: 'Microsoft.ContainerRegistry/registries' },
    { what: 'ACR Tasks: read a run (runs get)', uses: () => /\.runs\.get\(/.test(appSource), roles: rolesWith('Microsoft.ContainerRegistry/registries/runs/read'), scope: 'Microsoft.ContainerRegistry/registries' },
    { what: 'ACR pull token for the image digest check (oauth2/exchange with the identity)', uses: () => /\/oauth2\/exchange/.test(appSource), roles: ['acrPull'], scope: 'Microsoft.ContainerRegistry/registries' },
    { what: 'ACR Tasks: a run\'s log link (listLogSasUrl)', uses: () => /\.runs\.getLogSasUrl\(/.test(appSource), roles: rolesWith('Microsoft.ContainerRegistry/registries/runs/listLogSasUrl/action'), scope: 'Microsoft.ContainerRegistry/registries' },
  ];

  for (const op of operations) {
    it(`${op.what} -> ${op.roles.join(' or ')} on ${op.scope}`, () => {
      if (!op.uses()) return; // the code does not do this (yet): no role needed
      assert.ok(has(op.roles, op.scope), `no ${op.roles.join('/')} assignment on ${op.scope} for the app identity`);
    });
  }

  it('the operations above are found in the code as it is (the detectors are live)', () => {
    for (const what of ['blob reads/writes', 'Durable Task (Azure Storage provider): control', 'Key Vault references', 'AKS user credentials', 'ACR Tasks: source', 'ACR Tasks: schedule', 'ACR Tasks: read', 'ACR Tasks: a run', 'ACR pull token']) {
      assert.ok(operations.find((o) => o.what.startsWith(what))!.uses(), what);
    }
  });

  it('every role assignment grants a role the template names, to the app identity, with a reason', () => {
    const known = new Set(Object.values(template.variables.roles as Record<string, string>));
    for (const a of assignments) {
      assert.ok(known.has(a.roleId), `unknown role ${a.roleId}`);
      assert.match(a.principal, /identityId/);
      assert.ok(a.description.length > 0);
    }
  });

  it('AKS and ACR roles are parameters (conditional on a cluster name / push flag / build registry)', () => {
    for (const a of assignments.filter((x) => /managedClusters/.test(x.scopeType))) assert.ok(a.conditional);
    assert.ok(assignments.filter((x) => x.roleKey === 'acrPush').every((x) => x.conditional));
    const tasks = resourcesOfType(template, 'Microsoft.Authorization/roleAssignments').filter((r) => String(r.properties?.roleDefinitionId).includes('acrTasksContributor'));
    assert.equal(tasks.length, 1);
    assert.equal(tasks[0]!.condition, "[not(empty(parameters('buildRegistryName')))]");
    assert.match(String(tasks[0]!.scope), /parameters\('buildRegistryName'\)/);
    assert.equal((template.parameters['buildRegistryName'] as { defaultValue?: unknown }).defaultValue, '', 'no ACR build registry unless one is named');
    // The digest check pulls a token for the build registry too; the same registry as registryName is covered once.
    const pulls = resourcesOfType(template, 'Microsoft.Authorization/roleAssignments').filter((r) => String(r.properties?.roleDefinitionId).includes('acrPull'));
    assert.ok(pulls.some((r) => /parameters\('buildRegistryName'\)/.test(String(r.scope)) && /not\(equals\(parameters\('buildRegistryName'\), parameters\('registryName'\)\)\)/.test(String(r.condition))));
  });

  it('each role id is the built-in role of that name, and ACR builds get the narrowest role with the Tasks actions', () => {
    assert.deepEqual(template.variables.roles, Object.fromEntries(Object.entries(BUILT_IN_ROLES).map(([k, r]) => [k, r.id])));
    // Narrowest: no other built-in registry role named here covers the Tasks actions, and the
    // one granted is not Contributor (which would also let the identity change or delete the registry).
    assert.deepEqual(rolesWith('Microsoft.ContainerRegistry/registries/scheduleRun/action'), ['acrTasksContributor']);
  });
});

describe('infra/main.json: App Service authentication and outputs', () => {
  const auth = resourcesOfType(template, 'Microsoft.Web/sites/config').find((r) => /authsettingsV2/.test(r.name))!;

  it('requires Entra ID sign-in for everything else', () => {
    assert.ok(auth);
    assert.equal(auth.properties?.platform?.enabled, true);
    assert.equal(auth.properties?.globalValidation?.requireAuthentication, true);
    assert.equal(auth.properties?.globalValidation?.unauthenticatedClientAction, 'Return401');
    assert.equal(auth.properties?.identityProviders?.azureActiveDirectory?.enabled, true);
  });

  it('leaves exactly the anonymous routes of the app open (webhooks per provider, health)', () => {
    const excluded = new Set(template.variables.anonymousPaths as string[]);
    assert.match(String(auth.properties?.globalValidation?.excludedPaths), /anonymousPaths/);
    // Anonymous to the Functions host but behind Entra ID sign-in in Azure, on purpose.
    const signInRequired: Record<string, string> = { 'dashboard/{*path}': 'the dashboard is for people: they sign in with Entra ID (docs/azure.md)' };
    const anonymous = app()
      .filter((f) => f.http?.authLevel === 'anonymous' && !(f.http.route in signInRequired))
      .flatMap((f) => {
        const route = `/api/${f.http!.route.replace(/^\/+/, '')}`;
        return route.includes('{provider}') ? PROVIDER_NAMES.map((p) => route.replace('{provider}', p)) : [route];
      });
    assert.ok(anonymous.length >= 2);
    for (const route of Object.keys(signInRequired)) assert.ok(app().some((f) => f.http?.authLevel === 'anonymous' && f.http.route === route), `${route} is no longer an anonymous route`);
    for (const route of anonymous) {
      assert.doesNotMatch(route, /\{/, `anonymous route ${route} has a parameter the auth exclusion cannot express`);
      assert.ok(excluded.has(route), `${route} is anonymous in the app but App Service authentication would demand sign-in`);
    }
    for (const path of excluded) assert.ok(anonymous.includes(path), `${path} is excluded from sign-in but is not an anonymous route`);
  });

  it('outputs the API base URL and a webhook URL per provider', () => {
    assert.match(template.outputs.apiBaseUrl!.value, /https:\/\/\{0\}\/api'/);
    const webhookOutputs = Object.values(template.outputs).map((o) => o.value).filter((v) => /\/api\/webhooks\//.test(v));
    for (const p of PROVIDER_NAMES) assert.ok(webhookOutputs.some((v) => v.includes(`/api/webhooks/${p}'`)), `no webhook URL output for ${p}`);
  });
});

describe('docs/azure.md follows the template', () => {
  const doc = readFileSync(join(root, 'docs', 'azure.md'), 'utf8');

  it('the deploy command gives every parameter that has no default', () => {
    const command = /az deployment group create[^`]*?(?=\n```)/.exec(doc)?.[0] ?? '';
    assert.ok(command.length > 0, 'no az deployment group create command in docs/azure.md');
    const given = new Set([...command.matchAll(/(?:^|\s)([A-Za-z]+)=/g)].map((m) => m[1]!));
    for (const [name, p] of Object.entries(template.parameters)) {
      if (p.defaultValue === undefined) assert.ok(given.has(name), `the deploy command in docs/azure.md does not give ${name}`);
    }
    for (const name of given) assert.ok(name in template.parameters, `docs/azure.md passes ${name}, which the template does not declare`);
  });

  it('every output the page reads exists', () => {
    const used = new Set([...doc.matchAll(/outputs\.(\w+)/g), ...doc.matchAll(/\$\(OUT (\w+)\)/g)].map((m) => m[1]!));
    assert.ok(used.size >= 3);
    for (const name of used) assert.ok(name in template.outputs, `docs/azure.md reads output ${name}, which the template does not have`);
  });
});

