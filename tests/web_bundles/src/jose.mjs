import * as jose from 'jose';

// Generates a key pair inside isopool, signs a JWT, verifies it (also through an exported and
// re-imported JWK), and checks that a tampered token is refused.
export async function roundTrip(alg) {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
  const token = await new jose.SignJWT({ sub: 'ada', scope: 'read' })
    .setProtectedHeader({ alg })
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(privateKey);
  const { payload, protectedHeader } = await jose.jwtVerify(token, publicKey);
  const again = await jose.jwtVerify(token, await jose.importJWK(await jose.exportJWK(publicKey), alg));
  const [head, body, signature] = token.split('.');
  const flipped = signature[0] === 'A' ? `B${signature.slice(1)}` : `A${signature.slice(1)}`;
  let tampered = 'accepted';
  try {
    await jose.jwtVerify(`${head}.${body}.${flipped}`, publicKey);
  } catch (error) {
    tampered = error.code;
  }
  return { sub: payload.sub, alg: protectedHeader.alg, scope: again.payload.scope, tampered };
}

// Verifies a token signed elsewhere (by Node in the test) with its public JWK.
export async function verify(token, jwk, alg) {
  const { payload } = await jose.jwtVerify(token, await jose.importJWK(jwk, alg));
  return payload;
}

export async function hmac(secret) {
  const key = new TextEncoder().encode(secret);
  const token = await new jose.SignJWT({ n: 1 }).setProtectedHeader({ alg: 'HS256' }).sign(key);
  return (await jose.jwtVerify(token, key)).payload.n;
}
