// Connection resolution follows the Functions host's rules for a connection name: the setting
// itself is a connection string; otherwise `<name>__<property>` settings describe an
// identity-based connection.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describeConnection, resolveConnection } from '../../shared/azure/connection.js';
import { readSettings } from '../../shared/config/settings.js';

describe('connections: the host setting forms', () => {
  const cases: { name: string; env: Record<string, string>; service: 'blob' | 'serviceBus' | 'keyVault'; expect: unknown }[] = [
    { name: 'a connection string in the setting itself', env: { S: 'UseDevelopmentStorage=true' }, service: 'blob', expect: { kind: 'connectionString', name: 'S', connectionString: 'UseDevelopmentStorage=true' } },
    { name: 'the connection string wins over identity properties', env: { S: 'UseDevelopmentStorage=true', S__accountName: 'acct' }, service: 'blob', expect: { kind: 'connectionString', name: 'S', connectionString: 'UseDevelopmentStorage=true' } },
    { name: '__accountName -> the public blob endpoint, default credential', env: { S__accountName: 'acct' }, service: 'blob', expect: { kind: 'identity', name: 'S', endpoint: 'https://acct.blob.core.windows.net', identity: {} } },
    { name: '__blobServiceUri wins over __accountName (sovereign clouds, private endpoints)', env: { S__accountName: 'acct', S__blobServiceUri: 'https://acct.blob.core.chinacloudapi.cn/' }, service: 'blob', expect: { kind: 'identity', name: 'S', endpoint: 'https://acct.blob.core.chinacloudapi.cn', identity: {} } },
    { name: '__serviceUri is the blob endpoint too', env: { S__serviceUri: 'https://x.example' }, service: 'blob', expect: { kind: 'identity', name: 'S', endpoint: 'https://x.example', identity: {} } },
    { name: 'managed identity, user-assigned', env: { S__accountName: 'acct', S__credential: 'managedidentity', S__clientId: 'cid' }, service: 'blob', expect: { kind: 'identity', name: 'S', endpoint: 'https://acct.blob.core.windows.net', identity: { credential: 'managedidentity', clientId: 'cid' } } },
    { name: 'the colon separator and any letter case', env: { 's:AccountName': 'acct', 'S:CREDENTIAL': 'ManagedIdentity' }, service: 'blob', expect: { kind: 'identity', name: 'S', endpoint: 'https://acct.blob.core.windows.net', identity: { credential: 'managedidentity' } } },
    { name: 'Service Bus: __fullyQualifiedNamespace', env: { SB__fullyQualifiedNamespace: 'ns.servicebus.windows.net', SB__credential: 'managedidentity' }, service: 'serviceBus', expect: { kind: 'identity', name: 'SB', endpoint: 'ns.servicebus.windows.net', identity: { credential: 'managedidentity' } } },
    { name: 'Key Vault: __vaultUri', env: { KV__vaultUri: 'https://v.vault.azure.net/' }, service: 'keyVault', expect: { kind: 'identity', name: 'KV', endpoint: 'https://v.vault.azure.net', identity: {} } },
    { name: 'nothing set', env: { OTHER: 'x' }, service: 'blob', expect: undefined },
    { name: 'empty values are unset', env: { S: '  ', S__accountName: '' }, service: 'blob', expect: undefined },
  ];
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(resolveConnection(c.env, c.name.startsWith('Service') ? 'SB' : c.name.startsWith('Key') ? 'KV' : 'S', c.service), c.expect));
  }

  it('describes a connection without its secret', () => {
    const conn = resolveConnection({ S: 'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=c2VjcmV0' }, 'S', 'blob')!;
    assert.equal(describeConnection(conn), 'S: acct');
    assert.doesNotMatch(describeConnection(conn), /c2VjcmV0/);
  });
});

describe('settings: storage and data folder in Azure', () => {
  it('storage falls back to the identity form of AzureWebJobsStorage', () => {
    const s = readSettings({ AzureWebJobsStorage__accountName: 'acct', AzureWebJobsStorage__credential: 'managedidentity', AzureWebJobsStorage__clientId: 'cid' });
    assert.deepEqual(s.storageConnection, { kind: 'identity', name: 'AzureWebJobsStorage', endpoint: 'https://acct.blob.core.windows.net', identity: { credential: 'managedidentity', clientId: 'cid' } });
  });

  it('a connection string stays a string (local emulators)', () => {
    assert.equal(readSettings({ AzureWebJobsStorage: 'UseDevelopmentStorage=true' }).storageConnection, 'UseDevelopmentStorage=true');
  });

  it('no storage at all names every accepted form', () => {
    assert.throws(() => readSettings({}), /CONVEYOR_STORAGE_CONNECTION \(or AzureWebJobsStorage, or their __accountName \/ __blobServiceUri forms\)/);
  });

  it('the data folder defaults to the temp folder on App Service (the app folder is read-only there)', () => {
    assert.equal(readSettings({ AzureWebJobsStorage: 'x', WEBSITE_INSTANCE_ID: 'abc' }).dataDir, join(tmpdir(), 'conveyor'));
    assert.equal(readSettings({ AzureWebJobsStorage: 'x' }).dataDir, resolve('.conveyor/data'));
    assert.equal(readSettings({ AzureWebJobsStorage: 'x', WEBSITE_INSTANCE_ID: 'abc', CONVEYOR_DATA_DIR: '/mnt/data' }).dataDir, '/mnt/data');
  });
});
