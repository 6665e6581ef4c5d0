// Signs a JWT with Node's own WebCrypto (through jose), for web_bundles_test.sh to verify in
// isopool: prints {"token": ..., "jwk": <the public JWK>} for the algorithm in argv[2].
import * as jose from 'jose';
import { webcrypto } from 'node:crypto';

// Debian 12's own Node (18) keeps WebCrypto off the global object, where jose looks for it.
globalThis.crypto ??= webcrypto;

const alg = process.argv[2];
const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
const token = await new jose.SignJWT({ sub: 'from-node' }).setProtectedHeader({ alg }).sign(privateKey);
process.stdout.write(JSON.stringify({ token, jwk: await jose.exportJWK(publicKey) }));
