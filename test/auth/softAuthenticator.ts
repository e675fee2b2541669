/**
 * A software WebAuthn authenticator for tests: an EC P-256 key pair from node:crypto, and
 * attestation ('none') and assertion responses built by hand, byte for byte as the WebAuthn spec
 * lays them out (authenticator data, COSE key, CBOR attestation object, client data JSON) — the
 * way @simplewebauthn's own tests do it.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";

type Cbor = number | string | Uint8Array | Map<Cbor, Cbor> | { [key: string]: Cbor };

function head(major: number, length: number): Buffer {
  if (length < 24) return Buffer.from([(major << 5) | length]);
  if (length < 256) return Buffer.from([(major << 5) | 24, length]);
  if (length < 65536) return Buffer.from([(major << 5) | 25, length >> 8, length & 0xff]);
  throw new Error("too long for this encoder");
}

/** The CBOR subset WebAuthn needs: small integers, byte and text strings, maps. */
export function cbor(value: Cbor): Buffer {
  if (typeof value === "number") {
    return value >= 0 ? head(0, value) : head(1, -1 - value);
  }
  if (typeof value === "string") {
    const bytes = Buffer.from(value, "utf8");
    return Buffer.concat([head(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), value]);
  const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
  return Buffer.concat([
    head(5, entries.length),
    ...entries.flatMap(([k, v]) => [cbor(k), cbor(v)]),
  ]);
}

const sha256 = (data: Buffer | string): Buffer => createHash("sha256").update(data).digest();
const b64url = (data: Buffer): string => data.toString("base64url");

export interface CeremonyOptions {
  challenge: string;
  rpId?: string;
  rp?: { id: string };
}

export interface SoftAuthenticatorOptions {
  rpId?: string;
  origin?: string;
}

export class SoftAuthenticator {
  readonly credentialId = randomBytes(16);
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;
  counter = 0;
  private readonly defaults: { rpId: string; origin: string };

  constructor(defaults: { rpId: string; origin: string }) {
    this.defaults = defaults;
    const pair = generateKeyPairSync("ec", { namedCurve: "P-256" });
    this.privateKey = pair.privateKey;
    this.publicKey = pair.publicKey;
  }

  get id(): string {
    return b64url(this.credentialId);
  }

  private coseKey(): Buffer {
    const jwk = this.publicKey.export({ format: "jwk" });
    return cbor(
      new Map<Cbor, Cbor>([
        [1, 2], // kty: EC2
        [3, -7], // alg: ES256
        [-1, 1], // crv: P-256
        [-2, Buffer.from(jwk.x!, "base64url")],
        [-3, Buffer.from(jwk.y!, "base64url")],
      ]),
    );
  }

  private authenticatorData(rpId: string, attested: boolean): Buffer {
    const flags = 0x01 | 0x04 | (attested ? 0x40 : 0); // user present, verified, attested data
    const count = Buffer.alloc(4);
    count.writeUInt32BE(this.counter);
    const parts = [sha256(rpId), Buffer.from([flags]), count];
    if (attested) {
      const idLength = Buffer.alloc(2);
      idLength.writeUInt16BE(this.credentialId.length);
      parts.push(Buffer.alloc(16), idLength, this.credentialId, this.coseKey());
    }
    return Buffer.concat(parts);
  }

  private clientData(type: string, challenge: string, origin: string): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }), "utf8");
  }

  /** navigator.credentials.create(): an attestation of format 'none'. */
  register(options: CeremonyOptions, override: Partial<SoftAuthenticatorOptions> = {}) {
    const rpId = override.rpId ?? options.rp?.id ?? this.defaults.rpId;
    const origin = override.origin ?? this.defaults.origin;
    const attestationObject = cbor({
      fmt: "none",
      attStmt: {},
      authData: this.authenticatorData(rpId, true),
    });
    return {
      id: this.id,
      rawId: this.id,
      type: "public-key",
      response: {
        clientDataJSON: b64url(this.clientData("webauthn.create", options.challenge, origin)),
        attestationObject: b64url(attestationObject),
        transports: ["internal"],
      },
      clientExtensionResults: {},
    };
  }

  /**
   * navigator.credentials.get(): signs authenticator data and the client data's hash. The counter
   * goes up by one unless `counter` says what to report.
   */
  assert(
    options: CeremonyOptions,
    override: Partial<SoftAuthenticatorOptions> & { counter?: number; tamper?: boolean } = {},
  ) {
    const rpId = override.rpId ?? options.rpId ?? this.defaults.rpId;
    const origin = override.origin ?? this.defaults.origin;
    this.counter = override.counter ?? this.counter + 1;
    const authenticatorData = this.authenticatorData(rpId, false);
    const clientDataJSON = this.clientData("webauthn.get", options.challenge, origin);
    const signature = sign(
      "sha256",
      Buffer.concat([authenticatorData, sha256(clientDataJSON)]),
      this.privateKey,
    );
    if (override.tamper) {
      const last = signature.length - 1;
      signature.writeUInt8(signature.readUInt8(last) ^ 0x01, last);
    }
    return {
      id: this.id,
      rawId: this.id,
      type: "public-key",
      response: {
        clientDataJSON: b64url(clientDataJSON),
        authenticatorData: b64url(authenticatorData),
        signature: b64url(signature),
      },
      clientExtensionResults: {},
    };
  }
}
