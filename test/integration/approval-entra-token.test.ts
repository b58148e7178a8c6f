// Entra ID access tokens on approval messages, against a fake Entra ID authority on 127.0.0.1
// that serves the tenant's OpenID configuration and signing keys and signs real RS256 tokens
// (test/support/fake-entra): the real validator (jose) fetches the keys over HTTP. A valid token
// is applied as its person (upn), with its groups mapped by CONVEYOR_ENTRA_GROUPS; a token for
// another tenant, for another audience, expired, or signed by a key the tenant does not publish
// is refused with the check that failed (the approval function dead-letters it with that text);
// without the Entra ID settings such tokens are refused; the keys unreachable is transient.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { EntraTokenValidator } from '../../shared/azure/entra-token.js';
import { parseEntraGroupMap } from '../../shared/azure/entra-groups.js';
import { readSettings } from '../../shared/config/settings.js';
import type { ApprovalDecision } from '../../shared/domain/approval.js';
import { applyApprovalMessage } from '../../shared/events/index.js';
import { InMemoryRunStore } from '../support/fakes.js';
import { startFakeEntra, type FakeEntra } from '../support/fake-entra/fake-entra.js';

const TENANT = '11111111-2222-3333-4444-555555555555';
const APP_ID = '99999999-8888-7777-6666-555555555555';
const GROUP_ID = '6f9c2b3e-1a2b-4c5d-8e9f-0a1b2c3d4e5f';
let entra: FakeEntra;
let validator: EntraTokenValidator;

before(async () => {
  entra = await startFakeEntra();
  const settings = readSettings({ AzureWebJobsStorage: 'UseDevelopmentStorage=true', CONVEYOR_ENTRA_TENANT_ID: TENANT, CONVEYOR_ENTRA_CLIENT_ID: APP_ID, CONVEYOR_ENTRA_AUTHORITY: entra.authority, CONVEYOR_ENTRA_GROUPS: JSON.stringify({ 'release-managers': [GROUP_ID] }) });
  assert.deepEqual(settings.entraTokens, { tenantId: TENANT, clientId: APP_ID, authority: entra.authority });
  validator = new EntraTokenValidator(settings.entraTokens!, settings.entraGroups);
});
after(async () => {
  await entra?.close();
});

async function ports(withEntra = true) {
  const runs = new InMemoryRunStore();
  await runs.create({ app: 'shop', runId: 'shop.abc1234', status: 'Running', commit: 'abc1234', pusher: { id: 'eve@example.com' } } as never);
  await runs.update('shop', 'shop.abc1234', (r) => ({
    ...r,
    environmentOrder: ['prod'],
    environments: { prod: { status: 'Pending', approval: { waitingSince: '2026-11-30T03:00:00.000Z', until: '2099-12-01T03:00:00.000Z', approvers: ['group:release-managers'], required: 1, allowSelfApproval: false, decisions: [] } } },
  }));
  const raised: ApprovalDecision[] = [];
  return {
    raised,
    ports: {
      runs,
      identify: () => undefined,
      ...(withEntra ? { identifyEntra: (t: string) => validator.verify(t) } : {}),
      raise: async (_id: string, d: ApprovalDecision) => void raised.push(d),
      now: () => '2026-11-30T03:01:00.000Z',
    },
  };
}
const message = (entraToken: string) => ({ runId: 'shop.abc1234', environment: 'prod', decision: 'approve', credential: { entraToken } });

test('a valid token is applied as its person, with the Entra groups mapped to Conveyor groups', async () => {
  const token = await entra.token({ tenant: TENANT, audience: `api://${APP_ID}`, claims: { upn: 'rita@contoso.com', name: 'Rita', oid: 'a-oid', groups: [GROUP_ID] } });
  const { ports: p, raised } = await ports();
  const out = await applyApprovalMessage(p, message(token));
  assert.equal(out.applied, true, JSON.stringify(out));
  assert.equal(raised[0]!.by, 'rita@contoso.com');
  assert.equal(raised[0]!.name, 'Rita');
  assert.deepEqual([...(raised[0]!.groups ?? [])].sort(), [GROUP_ID, 'release-managers'].sort());
  assert.ok(entra.requests.includes(`/${TENANT}/v2.0/.well-known/openid-configuration`) && entra.requests.includes(`/${TENANT}/discovery/v2.0/keys`), 'the keys came from the tenant\'s OpenID configuration');
});

test('the bare app id is an accepted audience too; an app-only token is its application id', async () => {
  const token = await entra.token({ tenant: TENANT, audience: APP_ID, claims: { azp: 'cab-bot-app-id', oid: 'sp-oid', roles: [GROUP_ID] } });
  const verdict = await validator.verify(token);
  assert.deepEqual(verdict.ok && verdict.identity.id, 'cab-bot-app-id');
});

const refusals: [string, () => Promise<string>, RegExp][] = [
  ['a token of another tenant', () => entra.token({ tenant: '00000000-0000-0000-0000-000000000bad', audience: APP_ID, claims: { upn: 'x@evil.com' } }), /^unauthenticated: the Entra ID token's issuer is not the configured tenant$/],
  ['a token for another audience', () => entra.token({ tenant: TENANT, audience: 'api://some-other-api', claims: { upn: 'rita@contoso.com' } }), /^unauthenticated: the Entra ID token's audience is not Conveyor's app id$/],
  ['an expired token', () => entra.token({ tenant: TENANT, audience: APP_ID, expiresIn: -3600, claims: { upn: 'rita@contoso.com' } }), /^unauthenticated: the Entra ID token has expired$/],
  ['a token signed by a key the tenant does not publish', () => entra.token({ tenant: TENANT, audience: APP_ID, forged: true, claims: { upn: 'rita@contoso.com', groups: [GROUP_ID] } }), /^unauthenticated: the Entra ID token's signature does not verify against the tenant's keys$/],
  ['something that is not a JWT', async () => 'not-a-jwt-but-long-enough', /^unauthenticated: the Entra ID token is not a signed JWT$/],
];
for (const [name, make, reason] of refusals) {
  test(`refused with the reason: ${name}`, async () => {
    const { ports: p, raised } = await ports();
    const out = await applyApprovalMessage(p, message(await make()));
    assert.equal(out.applied, false);
    assert.ok(!out.applied && out.code === 'unauthenticated');
    assert.match(!out.applied ? out.reason : '', reason);
    assert.equal(raised.length, 0);
  });
}

test('without the Entra ID settings an Entra ID token is refused, naming them', async () => {
  const { ports: p } = await ports(false);
  const out = await applyApprovalMessage(p, message(await entra.token({ tenant: TENANT, audience: APP_ID, claims: { upn: 'rita@contoso.com' } })));
  assert.match(!out.applied ? out.reason : '', /CONVEYOR_ENTRA_TENANT_ID and CONVEYOR_ENTRA_CLIENT_ID are not set/);
});

test('the tenant\'s configuration unreachable is a transient fault: it throws (the message is retried)', async () => {
  const offline = new EntraTokenValidator({ tenantId: TENANT, clientId: APP_ID, authority: 'http://127.0.0.1:9' }, parseEntraGroupMap(undefined));
  const { ports: p } = await ports();
  await assert.rejects(applyApprovalMessage({ ...p, identifyEntra: (t) => offline.verify(t) }, message(await entra.token({ tenant: TENANT, audience: APP_ID, claims: { upn: 'rita@contoso.com' } }))));
});

test('half of the Entra ID settings is a configuration error naming the missing one', () => {
  assert.throws(() => readSettings({ AzureWebJobsStorage: 'UseDevelopmentStorage=true', CONVEYOR_ENTRA_TENANT_ID: TENANT }), /CONVEYOR_ENTRA_CLIENT_ID must be set/);
});
