// Entra ID groups -> Conveyor approver groups (CONVEYOR_ENTRA_GROUPS), through the same
// CallerIdentities the HTTP functions use, with principal headers shaped like App Service
// authentication's `x-ms-client-principal`.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { HttpRequest } from '@azure/functions';
import { CallerIdentities } from '../../functions/http/identity.js';
import { callerGroups, parseEntraGroupMap } from '../../shared/azure/entra-groups.js';
import { readSettings } from '../../shared/config/settings.js';

const RM = '6f9c2b3e-1a2b-4c5d-8e9f-0a1b2c3d4e5f';
const OPS = '0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0';

function principal(claims: { typ: string; val: string }[]): string {
  return Buffer.from(JSON.stringify({ auth_typ: 'aad', claims, name_typ: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name', role_typ: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role' })).toString('base64');
}

function request(headers: Record<string, string>): HttpRequest {
  // Only the headers are read; the real HttpRequest class is CommonJS-only for named imports.
  return { method: 'POST', url: 'https://conveyor.example/api/runs/x/environments/prod/approval', headers: new Headers(headers) } as unknown as HttpRequest;
}

describe('CONVEYOR_ENTRA_GROUPS', () => {
  it('maps group object ids and names (case-insensitively) to Conveyor groups and keeps the claim values', () => {
    const map = parseEntraGroupMap(JSON.stringify({ 'release-managers': [RM.toUpperCase(), 'Release Managers'], sre: [OPS] }));
    assert.deepEqual(callerGroups([RM], map), [RM, 'release-managers'].sort());
    assert.deepEqual(callerGroups(['release managers'], map), ['release managers', 'release-managers']);
    assert.deepEqual(callerGroups(['someone-else'], map), ['someone-else']);
    assert.deepEqual(callerGroups([], new Map()), []);
  });

  const bad: [string, RegExp][] = [
    ['not json', /CONVEYOR_ENTRA_GROUPS is not valid JSON/],
    ['[]', /CONVEYOR_ENTRA_GROUPS/],
    ['{"release managers":["x"]}', /CONVEYOR_ENTRA_GROUPS\.release managers: Invalid key/],
    ['{"rm":[]}', /CONVEYOR_ENTRA_GROUPS\.rm/],
  ];
  for (const [raw, message] of bad) it(`refuses ${raw} at start-up, naming the setting`, () => assert.throws(() => readSettings({ AzureWebJobsStorage: 'x', CONVEYOR_ENTRA_GROUPS: raw }), message));

  it('a signed-in person in a mapped Entra group approves as group:release-managers', () => {
    const settings = readSettings({ AzureWebJobsStorage: 'x', WEBSITE_AUTH_ENABLED: 'true', CONVEYOR_ENTRA_GROUPS: JSON.stringify({ 'release-managers': [RM] }) });
    const who = new CallerIdentities(settings).identify(request({ 'x-ms-client-principal': principal([{ typ: 'preferred_username', val: 'alice@example.com' }, { typ: 'name', val: 'Alice' }, { typ: 'groups', val: RM }]) }));
    assert.deepEqual(who, { id: 'alice@example.com', name: 'Alice', groups: [RM, 'release-managers'].sort() });
  });

  it('automation with an app-only token is identified by its application id, its app roles are groups', () => {
    const settings = readSettings({ AzureWebJobsStorage: 'x', WEBSITE_AUTH_ENABLED: 'true', CONVEYOR_ENTRA_GROUPS: JSON.stringify({ deployers: ['Conveyor.Deploy'] }) });
    const who = new CallerIdentities(settings).identify(request({ 'x-ms-client-principal': principal([{ typ: 'appid', val: 'a1b2c3' }, { typ: 'roles', val: 'Conveyor.Deploy' }]) }));
    assert.equal(who?.id, 'a1b2c3');
    assert.deepEqual(who?.groups, ['Conveyor.Deploy', 'deployers']);
  });

  it('without App Service authentication the principal header is not trusted, mapped or not', () => {
    const settings = readSettings({ AzureWebJobsStorage: 'x', CONVEYOR_ENTRA_GROUPS: JSON.stringify({ 'release-managers': [RM] }) });
    assert.equal(new CallerIdentities(settings).identify(request({ 'x-ms-client-principal': principal([{ typ: 'preferred_username', val: 'mallory@example.com' }, { typ: 'groups', val: RM }]) })), undefined);
  });
});
