// crypto.subtle key operations: importKey, exportKey, generateKey, sign and verify for HMAC,
// ECDSA (P-256, P-384, P-521), RSASSA-PKCS1-v1_5, RSA-PSS and Ed25519. Loaded by the crypto
// module on first use. Keys are kept as DER (SPKI / PKCS #8) or raw HMAC bytes in a WeakMap that
// scripts cannot reach; OpenSSL does the mathematics (engine/internal/web_crypto.cc). JWK and
// raw formats are converted to and from DER here.
(function (natives, load) {
  'use strict';
  return function keys(shared) {
    const { CryptoKey, kCreate, cryptoKeys, normalizeHash, bufferSource, algorithmName } = shared;
    const DOMException = load('dom').DOMException;
    const fail = (message, name) => new DOMException(message, name);

    // ---- bytes, base64url, DER ----
    function concat(parts) {
      const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) { out.set(p, at); at += p.length; }
      return out;
    }
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    function toBase64url(bytes) {
      let out = '';
      for (let i = 0; i < bytes.length; i += 3) {
        const n = (bytes[i] << 16) | ((bytes[i + 1] || 0) << 8) | (bytes[i + 2] || 0);
        out += alphabet[(n >> 18) & 63] + alphabet[(n >> 12) & 63];
        if (i + 1 < bytes.length) out += alphabet[(n >> 6) & 63];
        if (i + 2 < bytes.length) out += alphabet[n & 63];
      }
      return out;
    }
    function fromBase64url(text, what) {
      if (typeof text !== 'string' || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) {
        throw fail(`JWK member ${what} is not base64url`, 'DataError');
      }
      const out = new Uint8Array((text.length * 3) >> 2);
      let buffer = 0, bits = 0, o = 0;
      for (let i = 0; i < text.length; i++) {
        buffer = (buffer << 6) | alphabet.indexOf(text[i]);
        bits += 6;
        if (bits >= 8) { bits -= 8; out[o++] = (buffer >> bits) & 0xFF; }
      }
      return out.subarray(0, o);
    }
    function derLength(n) {
      if (n < 0x80) return [n];
      const bytes = [];
      while (n > 0) { bytes.unshift(n & 0xFF); n = Math.floor(n / 256); }
      return [0x80 | bytes.length, ...bytes];
    }
    const der = (tag, body) => concat([Uint8Array.of(tag, ...derLength(body.length)), body]);
    const seq = (...parts) => der(0x30, concat(parts));
    const octets = (body) => der(0x04, body);
    const bits = (body) => der(0x03, concat([Uint8Array.of(0), body]));
    const oid = (...b) => der(0x06, Uint8Array.from(b));
    const asn1Null = Uint8Array.of(0x05, 0x00);
    function integer(bytes) {
      let i = 0;
      while (i < bytes.length - 1 && bytes[i] === 0) i++;
      const body = bytes.subarray(i);
      return der(0x02, body[0] & 0x80 ? concat([Uint8Array.of(0), body]) : body);
    }
    const small = (n) => der(0x02, Uint8Array.of(n));
    // A TLV at `at`: {tag, start, end} (start of the contents, end of the element).
    function tlv(bytes, at) {
      if (at + 2 > bytes.length) throw fail('malformed DER', 'DataError');
      const tag = bytes[at];
      let length = bytes[at + 1], start = at + 2;
      if (length & 0x80) {
        const count = length & 0x7F;
        length = 0;
        for (let i = 0; i < count; i++) length = length * 256 + bytes[start + i];
        start += count;
      }
      if (start + length > bytes.length) throw fail('malformed DER', 'DataError');
      return { tag, start, end: start + length };
    }
    function children(bytes, node) {
      const out = [];
      for (let at = node.start; at < node.end;) {
        const child = tlv(bytes, at);
        out.push(child);
        at = child.end;
      }
      return out;
    }
    const contents = (bytes, node) => bytes.subarray(node.start, node.end);
    function unsigned(bytes, node) {
      let b = contents(bytes, node);
      while (b.length > 1 && b[0] === 0) b = b.subarray(1);
      return b;
    }
    function padTo(bytes, length) {
      if (bytes.length >= length) return bytes.subarray(bytes.length - length);
      return concat([new Uint8Array(length - bytes.length), bytes]);
    }

    // ---- algorithms ----
    const curves = {
      'P-256': { bytes: 32, oid: oid(0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07) },
      'P-384': { bytes: 48, oid: oid(0x2b, 0x81, 0x04, 0x00, 0x22) },
      'P-521': { bytes: 66, oid: oid(0x2b, 0x81, 0x04, 0x00, 0x23) },
    };
    const ecOid = oid(0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01);
    const rsaOid = oid(0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01);
    const edOid = oid(0x2b, 0x65, 0x70);
    const names = { hmac: 'HMAC', ecdsa: 'ECDSA', 'rsassa-pkcs1-v1_5': 'RSASSA-PKCS1-v1_5', 'rsa-pss': 'RSA-PSS', ed25519: 'Ed25519' };
    function canonicalName(algorithm) {
      const name = names[algorithmName(algorithm).toLowerCase()];
      if (name === undefined) {
        throw fail(`Unrecognized or unsupported algorithm: ${algorithmName(algorithm)}`, 'NotSupportedError');
      }
      return name;
    }
    const blockBits = { 'SHA-1': 512, 'SHA-256': 512, 'SHA-384': 1024, 'SHA-512': 1024 };
    const jwsHash = { 'SHA-1': '1', 'SHA-256': '256', 'SHA-384': '384', 'SHA-512': '512' };

    function checkUsages(usages, allowed, type) {
      const list = Array.from(usages, String);
      for (const usage of list) {
        if (!allowed.includes(usage)) throw fail(`Cannot create a ${type} key with usage '${usage}'`, 'SyntaxError');
      }
      return [...new Set(list)];
    }
    function makeKey(type, extractable, algorithm, usages, material) {
      if ((type === 'secret' || type === 'private') && usages.length === 0) {
        throw fail(`Usages cannot be empty when creating a ${type} key.`, 'SyntaxError');
      }
      const key = new CryptoKey(kCreate, type, Boolean(extractable), algorithm, usages);
      cryptoKeys.set(key, material);
      return key;
    }

    // The OpenSSL view of an asymmetric key: its type and SPKI (derived for a private key).
    function inspect(derBytes, isPrivate) {
      const spki = new Uint8Array(derBytes.length + 1024);
      const result = natives.checkKey(derBytes, isPrivate, spki);
      if (result === null) throw fail('The key data is not a valid key', 'DataError');
      return { type: result[0], spki: spki.slice(0, result[1]) };
    }
    function expectType(actual, name, curve) {
      const want = name === 'ECDSA' ? `EC:${curve}` : name === 'Ed25519' ? 'ED25519' : 'RSA';
      if (actual !== want) throw fail(`The key is ${actual}, not ${want}`, 'DataError');
    }
    function rsaInfo(spki) {
      const top = children(spki, tlv(spki, 0));
      const inner = spki.subarray(top[1].start + 1, top[1].end);
      const [n, e] = children(inner, tlv(inner, 0));
      const modulus = unsigned(inner, n);
      return { n: modulus, e: unsigned(inner, e), modulusLength: modulus.length * 8 - Math.clz32(modulus[0]) + 24 };
    }
    function publicPoint(spki) {
      const top = children(spki, tlv(spki, 0));
      return spki.subarray(top[1].start + 1, top[1].end);
    }

    function keyAlgorithm(name, algorithm, info) {
      if (name === 'ECDSA') return { name, namedCurve: info.curve };
      if (name === 'Ed25519') return { name };
      return {
        name, modulusLength: info.rsa.modulusLength, publicExponent: Uint8Array.from(info.rsa.e),
        hash: { name: normalizeHash(algorithm.hash) },
      };
    }
    function normalizeCurve(algorithm) {
      const curve = `${algorithm.namedCurve}`;
      if (!(curve in curves)) throw fail(`Unsupported namedCurve: ${curve}`, 'NotSupportedError');
      return curve;
    }

    function importAsymmetric(name, algorithm, derBytes, isPrivate, extractable, usages) {
      const curve = name === 'ECDSA' ? normalizeCurve(algorithm) : undefined;
      const { type, spki } = inspect(derBytes, isPrivate);
      expectType(type, name, curve);
      const info = { curve, rsa: name.startsWith('RSA') ? rsaInfo(spki) : undefined };
      const allowed = isPrivate ? ['sign'] : ['verify'];
      return makeKey(isPrivate ? 'private' : 'public', extractable,
        keyAlgorithm(name, algorithm, info), checkUsages(usages, allowed, isPrivate ? 'private' : 'public'),
        { der: derBytes.slice(), spki, curve });
    }

    function jwkToDer(name, jwk, curve) {
      if (name === 'ECDSA') {
        if (jwk.kty !== 'EC' || jwk.crv !== curve) throw fail('JWK kty/crv does not match', 'DataError');
        const size = curves[curve].bytes;
        const point = concat([Uint8Array.of(4), padTo(fromBase64url(jwk.x, 'x'), size), padTo(fromBase64url(jwk.y, 'y'), size)]);
        const algorithmId = seq(ecOid, curves[curve].oid);
        if (jwk.d === undefined) return { der: seq(algorithmId, bits(point)), isPrivate: false };
        const ecPrivate = seq(small(1), octets(padTo(fromBase64url(jwk.d, 'd'), size)), der(0xA1, bits(point)));
        return { der: seq(small(0), algorithmId, octets(ecPrivate)), isPrivate: true };
      }
      if (name === 'Ed25519') {
        if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519') throw fail('JWK kty/crv does not match', 'DataError');
        if (jwk.d === undefined) return { der: seq(seq(edOid), bits(fromBase64url(jwk.x, 'x'))), isPrivate: false };
        return { der: seq(small(0), seq(edOid), octets(octets(fromBase64url(jwk.d, 'd')))), isPrivate: true };
      }
      if (jwk.kty !== 'RSA') throw fail('JWK kty does not match', 'DataError');
      const n = fromBase64url(jwk.n, 'n'), e = fromBase64url(jwk.e, 'e');
      const algorithmId = seq(rsaOid, asn1Null);
      if (jwk.d === undefined) return { der: seq(algorithmId, bits(seq(integer(n), integer(e)))), isPrivate: false };
      const parts = ['d', 'p', 'q', 'dp', 'dq', 'qi'].map((k) => integer(fromBase64url(jwk[k], k)));
      return { der: seq(small(0), algorithmId, octets(seq(small(0), integer(n), integer(e), ...parts))), isPrivate: true };
    }

    function importKey(format, keyData, algorithm, extractable, usages) {
      const name = canonicalName(algorithm);
      format = `${format}`;
      if (name === 'HMAC') {
        const hash = normalizeHash(algorithm.hash);
        let raw;
        if (format === 'raw') raw = bufferSource(keyData, 'importKey').slice();
        else if (format === 'jwk') {
          if (keyData.kty !== 'oct') throw fail('JWK kty must be oct for HMAC', 'DataError');
          raw = fromBase64url(keyData.k, 'k');
        } else throw fail(`HMAC keys cannot be imported as ${format}`, 'NotSupportedError');
        if (raw.length === 0) throw fail('HMAC key data must not be empty', 'DataError');
        const length = algorithm.length === undefined ? raw.length * 8 : Number(algorithm.length);
        return makeKey('secret', extractable, { name, hash: { name: hash }, length },
          checkUsages(usages, ['sign', 'verify'], 'secret'), { raw });
      }
      if (format === 'spki' || format === 'pkcs8') {
        return importAsymmetric(name, algorithm, bufferSource(keyData, 'importKey'), format === 'pkcs8', extractable, usages);
      }
      if (format === 'jwk') {
        if (keyData === null || typeof keyData !== 'object') throw new TypeError('JWK must be an object');
        if (keyData.ext === false && extractable) throw fail('JWK is not extractable', 'DataError');
        const curve = name === 'ECDSA' ? normalizeCurve(algorithm) : undefined;
        const { der: derBytes, isPrivate } = jwkToDer(name, keyData, curve);
        return importAsymmetric(name, algorithm, derBytes, isPrivate, extractable, usages);
      }
      if (format === 'raw' && (name === 'ECDSA' || name === 'Ed25519')) {
        const raw = bufferSource(keyData, 'importKey');
        const spki = name === 'ECDSA' ? seq(seq(ecOid, curves[normalizeCurve(algorithm)].oid), bits(raw)) : seq(seq(edOid), bits(raw));
        return importAsymmetric(name, algorithm, spki, false, extractable, usages);
      }
      throw fail(`${name} keys cannot be imported as ${format}`, 'NotSupportedError');
    }

    function materialOf(key) {
      const material = cryptoKeys.get(key);
      if (material === undefined) throw new TypeError('not a CryptoKey');
      return material;
    }

    function exportKey(format, key) {
      const material = materialOf(key);
      if (!key.extractable) throw fail('key is not extractable', 'InvalidAccessError');
      const name = key.algorithm.name;
      format = `${format}`;
      if (key.type === 'secret') {
        if (format === 'raw') return material.raw.slice().buffer;
        if (format === 'jwk') {
          return { kty: 'oct', k: toBase64url(material.raw), alg: `HS${jwsHash[key.algorithm.hash.name]}`, key_ops: [...key.usages], ext: true };
        }
        throw fail(`HMAC keys cannot be exported as ${format}`, 'NotSupportedError');
      }
      if (format === 'spki' && key.type === 'public') return material.der.slice().buffer;
      if (format === 'pkcs8' && key.type === 'private') return material.der.slice().buffer;
      if (format === 'raw' && key.type === 'public' && name !== 'RSASSA-PKCS1-v1_5' && name !== 'RSA-PSS') {
        return publicPoint(material.spki).slice().buffer;
      }
      if (format !== 'jwk') throw fail(`${key.type} ${name} keys cannot be exported as ${format}`, 'InvalidAccessError');
      const jwk = {};
      if (name === 'ECDSA') {
        const size = curves[material.curve].bytes;
        const point = publicPoint(material.spki);
        Object.assign(jwk, { kty: 'EC', crv: material.curve, x: toBase64url(point.subarray(1, 1 + size)), y: toBase64url(point.subarray(1 + size)) });
        if (key.type === 'private') {
          const top = children(material.der, tlv(material.der, 0));
          const inner = contents(material.der, top[2]);
          const fields = children(inner, tlv(inner, 0));
          jwk.d = toBase64url(padTo(contents(inner, fields[1]), size));
        }
      } else if (name === 'Ed25519') {
        Object.assign(jwk, { kty: 'OKP', crv: 'Ed25519', x: toBase64url(publicPoint(material.spki)) });
        if (key.type === 'private') {
          const top = children(material.der, tlv(material.der, 0));
          const inner = contents(material.der, top[2]);
          jwk.d = toBase64url(contents(inner, tlv(inner, 0)));
        }
      } else {
        const rsa = rsaInfo(material.spki);
        Object.assign(jwk, { kty: 'RSA', n: toBase64url(rsa.n), e: toBase64url(rsa.e) });
        if (key.type === 'private') {
          const top = children(material.der, tlv(material.der, 0));
          const inner = contents(material.der, top[2]);
          const fields = children(inner, tlv(inner, 0));
          ['d', 'p', 'q', 'dp', 'dq', 'qi'].forEach((k, i) => { jwk[k] = toBase64url(unsigned(inner, fields[3 + i])); });
        }
        jwk.alg = `${name === 'RSA-PSS' ? 'PS' : 'RS'}${jwsHash[key.algorithm.hash.name]}`;
      }
      jwk.key_ops = [...key.usages];
      jwk.ext = true;
      return jwk;
    }

    function generateKey(algorithm, extractable, usages) {
      const name = canonicalName(algorithm);
      if (name === 'HMAC') {
        const hash = normalizeHash(algorithm.hash);
        const length = algorithm.length === undefined ? blockBits[hash] : Number(algorithm.length);
        if (!(length > 0) || length % 8 !== 0) throw fail('HMAC length must be a positive multiple of 8', 'OperationError');
        const raw = new Uint8Array(length / 8);
        natives.randomFill(raw);
        return makeKey('secret', extractable, { name, hash: { name: hash }, length },
          checkUsages(usages, ['sign', 'verify'], 'secret'), { raw });
      }
      const list = Array.from(usages, String);
      checkUsages(list, ['sign', 'verify'], 'key pair');
      const pkcs8 = new Uint8Array(16384), spki = new Uint8Array(4096);
      let param;
      let exponent = new Uint8Array(0);
      if (name === 'ECDSA') param = normalizeCurve(algorithm);
      else if (name === 'RSASSA-PKCS1-v1_5' || name === 'RSA-PSS') {
        normalizeHash(algorithm.hash);
        param = Number(algorithm.modulusLength);
        exponent = bufferSource(algorithm.publicExponent, 'generateKey');
      }
      const [pkcs8Length, spkiLength] = natives.generateKeyPair(name, param, pkcs8, spki, exponent);
      const privateKey = importAsymmetric(name, algorithm, pkcs8.subarray(0, pkcs8Length), true, extractable,
        list.filter((u) => u === 'sign'));
      const publicKey = importAsymmetric(name, algorithm, spki.subarray(0, spkiLength), false, true,
        list.filter((u) => u === 'verify'));
      return { privateKey, publicKey };
    }

    function useKey(algorithm, key, usage) {
      const name = canonicalName(algorithm);
      const material = materialOf(key);
      if (key.algorithm.name !== name) throw fail(`The key is for ${key.algorithm.name}, not ${name}`, 'InvalidAccessError');
      if (!key.usages.includes(usage)) throw fail(`The key does not allow '${usage}'`, 'InvalidAccessError');
      const hash = name === 'ECDSA' ? normalizeHash(algorithm.hash)
        : name === 'Ed25519' ? '' : key.algorithm.hash.name;
      const curveBytes = name === 'ECDSA' ? curves[material.curve].bytes : 0;
      const salt = name === 'RSA-PSS' ? Number(algorithm.saltLength) : 0;
      if (name === 'RSA-PSS' && !(salt >= 0)) throw new TypeError('RSA-PSS needs saltLength');
      return { name, material, hash, curveBytes, salt };
    }

    function sign(algorithm, key, data) {
      const { name, material, hash, curveBytes, salt } = useKey(algorithm, key, 'sign');
      const out = new Uint8Array(2048);
      const length = name === 'HMAC' ? natives.hmac(hash, material.raw, data, out)
        : natives.sign(name, hash, material.der, data, out, salt, curveBytes);
      return out.slice(0, length).buffer;
    }

    function verify(algorithm, key, signature, data) {
      const { name, material, hash, curveBytes, salt } = useKey(algorithm, key, 'verify');
      if (name === 'HMAC') {
        const out = new Uint8Array(64);
        const length = natives.hmac(hash, material.raw, data, out);
        if (signature.length !== length) return false;
        let diff = 0;
        for (let i = 0; i < length; i++) diff |= out[i] ^ signature[i];
        return diff === 0;
      }
      return natives.verify(name, hash, material.der, signature, data, salt, curveBytes);
    }

    return { importKey, exportKey, generateKey, sign, verify };
  };
})
