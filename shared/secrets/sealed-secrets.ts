/**
 * Sealed secrets: values encrypted with age (https://age-encryption.org) that live in an app's
 * repository and only this Conveyor installation can open, and only for the app they were
 * sealed for.
 *
 * Keys. The installation holds one or more X25519 identities (`AGE-SECRET-KEY-1...`, setting
 * `CONVEYOR_AGE_IDENTITY`; from Key Vault in Azure). Values are never sealed to an installation
 * identity directly: each app gets its own X25519 key, derived from the installation identity
 * with HKDF-SHA256 (salt `conveyor sealed secrets v1`, info `app:<name>`). The app's recipient
 * (`age1...`, published by `GET /api/public-key?app=<name>`) is what a developer seals to, with
 * the plain `age` CLI: `age -r <recipient> -a`. A value sealed for app A is therefore a file app
 * B's key cannot open, whatever B's pipeline file claims; nothing in the ciphertext needs to be
 * trusted.
 *
 * Rotation. The setting may hold several identities (whitespace- or comma-separated): the first
 * is current (its derived recipients are published), the others still open what was sealed to
 * their recipients until the values are re-sealed and the old identity is removed.
 *
 * Errors name the secret and the reason, never a byte of the value.
 */
import { hkdfSync } from 'node:crypto';
import { armor, Decrypter, Encrypter, identityToRecipient } from 'age-encryption';
import { ValidationError } from '../errors.js';

/** Prefix of an X25519 age identity. */
const IDENTITY_PREFIX = 'AGE-SECRET-KEY-1';
const DERIVATION_SALT = 'conveyor sealed secrets v1';

// BIP-173 bech32, the encoding of age keys (encoding only: derived identities are produced
// here, and every key that is read is handed to age-encryption, which validates it).
const BECH32_CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const BECH32_GENERATORS = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

function bech32Polymod(values: number[]): number {
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= BECH32_GENERATORS[i]!;
  }
  return chk >>> 0;
}

/** Bech32-encodes `data` under the human-readable part `hrp` (lowercase result). */
export function bech32Encode(hrp: string, data: Uint8Array): string {
  const words: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const byte of data) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      words.push((acc >>> bits) & 31);
    }
  }
  if (bits > 0) words.push((acc << (5 - bits)) & 31);
  const expanded = [...hrp].map((c) => c.charCodeAt(0) >>> 5).concat([0], [...hrp].map((c) => c.charCodeAt(0) & 31));
  const mod = bech32Polymod([...expanded, ...words, 0, 0, 0, 0, 0, 0]) ^ 1;
  const checksum = [0, 1, 2, 3, 4, 5].map((i) => (mod >>> (5 * (5 - i))) & 31);
  return `${hrp}1${[...words, ...checksum].map((w) => BECH32_CHARSET[w]).join('')}`;
}

/** The X25519 identity of one app under one installation identity (an `AGE-SECRET-KEY-1...` string). */
export function deriveAppIdentity(installationIdentity: string, app: string): string {
  const key = new Uint8Array(hkdfSync('sha256', Buffer.from(installationIdentity.trim().toUpperCase(), 'utf8'), DERIVATION_SALT, `app:${app}`, 32));
  return bech32Encode('age-secret-key-', key).toUpperCase();
}

/** Splits the identity setting: whitespace or commas between identities; `#` comment lines (as in age key files) ignored. */
export function parseIdentities(value: string | undefined): string[] {
  return (value ?? '')
    .split('\n')
    .filter((line) => !line.trim().startsWith('#'))
    .join('\n')
    .split(/[\s,]+/)
    .filter((s) => s.length > 0);
}

/** Why a sealed value did not open (safe to show: it never contains the value). */
export type UnsealFailure = 'no-identity' | 'not-for-this-app' | 'corrupt' | 'not-armored' | 'not-text' | 'missing-file' | 'too-large';

const FAILURE_TEXT: Record<UnsealFailure, string> = {
  'no-identity': 'this Conveyor has no sealed-secrets identity (set CONVEYOR_AGE_IDENTITY)',
  'not-for-this-app': "it was not sealed for this app with this Conveyor's key (sealed for another app, another installation, or with a removed key)",
  corrupt: 'it is not a valid age file (damaged or truncated)',
  'not-armored': 'it is not ASCII-armored age output (seal with `age -r <recipient> -a`)',
  'not-text': 'it opened, but the value is not UTF-8 text',
  'missing-file': 'its file does not exist at this commit',
  'too-large': 'its file is larger than 64 KiB',
};

/** Thrown when a sealed value does not open; the message names the reference and the reason only. */
export class UnsealError extends ValidationError {
  /** Why it failed. */
  readonly reason: UnsealFailure;
  /** The reference as the pipeline file names it, e.g. `secrets.db-password (environments[2].target.secrets.DB_PASSWORD)`. */
  readonly reference: string;
  constructor(reference: string, reason: UnsealFailure) {
    const message = `sealed secret ${reference} does not open: ${FAILURE_TEXT[reason]}`;
    super(message, [{ path: reference, message: FAILURE_TEXT[reason] }]);
    this.reason = reason;
    this.reference = reference;
  }
}

/** The installation's sealed-secrets keys. */
export class SealedSecrets {
  private readonly identities: readonly string[];
  private readonly decrypters = new Map<string, Decrypter>();

  /**
   * Creates the keyring from installation identities (first = current). Malformed identities
   * are reported by name of the setting, never by value.
   */
  constructor(identities: readonly string[]) {
    identities.forEach((identity, i) => {
      if (!identity.toUpperCase().startsWith(IDENTITY_PREFIX)) {
        throw new ValidationError(`CONVEYOR_AGE_IDENTITY: entry ${i + 1} is not an age X25519 identity (AGE-SECRET-KEY-1...)`, [
          { path: 'CONVEYOR_AGE_IDENTITY', message: `entry ${i + 1} must start with ${IDENTITY_PREFIX}` },
        ]);
      }
    });
    this.identities = identities.map((id) => id.trim().toUpperCase());
  }

  /** Whether any identity is configured. */
  get configured(): boolean {
    return this.identities.length > 0;
  }

  /** The recipient developers seal `app`'s values to (current identity); undefined without one. */
  async recipientFor(app: string): Promise<string | undefined> {
    const current = this.identities[0];
    return current === undefined ? undefined : identityToRecipient(deriveAppIdentity(current, app));
  }

  /** Seals `value` for `app` (armored), as `age -r <recipientFor(app)> -a` would. */
  async seal(app: string, value: string): Promise<string> {
    const recipient = await this.recipientFor(app);
    if (!recipient) throw new UnsealError(`for app ${app}`, 'no-identity');
    const encrypter = new Encrypter();
    encrypter.addRecipient(recipient);
    return armor.encode(await encrypter.encrypt(value));
  }

  /**
   * Opens one armored value sealed for `app`. `reference` names it in errors (which never hold
   * any of the value). Throws {@link UnsealError}.
   */
  async open(app: string, sealed: string, reference: string): Promise<string> {
    if (!this.configured) throw new UnsealError(reference, 'no-identity');
    if (!sealed.trimStart().startsWith('-----BEGIN AGE ENCRYPTED FILE-----')) throw new UnsealError(reference, 'not-armored');
    let file: Uint8Array;
    try {
      file = armor.decode(sealed);
    } catch {
      throw new UnsealError(reference, 'corrupt');
    }
    let plain: Uint8Array;
    try {
      plain = await this.decrypter(app).decrypt(file);
    } catch (err) {
      const text = err instanceof Error ? err.message : '';
      throw new UnsealError(reference, /no identity matched/i.test(text) ? 'not-for-this-app' : 'corrupt');
    }
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(plain);
    } catch {
      throw new UnsealError(reference, 'not-text');
    }
  }

  /** Opens every value of `refs` (name -> sealed) for `app`; the first failure throws. */
  async openAll(app: string, refs: Readonly<Record<string, SealedReference>>): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const [variable, ref] of Object.entries(refs)) out[variable] = await this.open(app, ref.sealed, ref.reference);
    return out;
  }

  private decrypter(app: string): Decrypter {
    let decrypter = this.decrypters.get(app);
    if (!decrypter) {
      decrypter = new Decrypter();
      for (const identity of this.identities) decrypter.addIdentity(deriveAppIdentity(identity, app));
      this.decrypters.set(app, decrypter);
    }
    return decrypter;
  }
}

/** A sealed value ready to open: the armored text and how the pipeline file names it. */
export interface SealedReference {
  sealed: string;
  reference: string;
}
