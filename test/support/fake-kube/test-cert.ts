// A throwaway certificate authority and a server certificate for 127.0.0.1, made with the
// openssl CLI (node:crypto can make keys but not X.509 certificates). The fakes serve HTTPS with
// the server certificate; clients trust the CA, exactly as they would trust a cluster's CA from
// a kubeconfig, so TLS verification stays on end to end.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** PEM-encoded material for one HTTPS fake. */
export interface TestCertificate {
  /** The CA certificate clients trust. */
  caPem: string;
  /** The server certificate (signed by the CA; SAN IP:127.0.0.1, DNS:localhost). */
  certPem: string;
  /** The server's private key. */
  keyPem: string;
}

let cached: Promise<TestCertificate> | undefined;

/** A CA plus a server certificate for 127.0.0.1; made once per process and reused. */
export function testCertificate(): Promise<TestCertificate> {
  cached ??= makeCertificate();
  return cached;
}

async function makeCertificate(): Promise<TestCertificate> {
  const dir = await mkdtemp(join(tmpdir(), 'conveyor-cert-'));
  try {
    const p = (name: string) => join(dir, name);
    const run = (args: string[]) => execFileAsync('openssl', args, { cwd: dir });
    await run(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', p('ca.key')]);
    await run(['req', '-x509', '-new', '-key', p('ca.key'), '-sha256', '-days', '2', '-subj', '/CN=conveyor-test-ca', '-out', p('ca.crt')]);
    await run(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', p('server.key')]);
    await run(['req', '-new', '-key', p('server.key'), '-subj', '/CN=127.0.0.1', '-out', p('server.csr')]);
    await writeFile(p('ext.cnf'), 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
    await run(['x509', '-req', '-in', p('server.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial', '-days', '2', '-sha256', '-extfile', p('ext.cnf'), '-out', p('server.crt')]);
    const [caPem, certPem, keyPem] = await Promise.all([readFile(p('ca.crt'), 'utf8'), readFile(p('server.crt'), 'utf8'), readFile(p('server.key'), 'utf8')]);
    return { caPem, certPem, keyPem };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
