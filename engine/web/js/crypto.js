// crypto: getRandomValues, randomUUID and crypto.subtle (digest; HMAC, ECDSA P-256,
// RSASSA-PKCS1-v1_5 and Ed25519 sign/verify). Bytes come from OpenSSL through natives; while
// packing, getRandomValues draws from a seeded stream so packs are byte-identical.
(function (natives, load) {
  'use strict';
  const kCreate = Symbol('create');
  const dom = () => load('dom');
  const typedArrayTag = Object.getOwnPropertyDescriptor(
    Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag).get;
  const integerArrays = new Set([
    'Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array',
    'Uint32Array', 'BigInt64Array', 'BigUint64Array',
  ]);
  const digestLengths = { 'SHA-1': 20, 'SHA-256': 32, 'SHA-384': 48, 'SHA-512': 64 };
  const toStringTag = Object.prototype.toString;

  function bufferSource(data, what) {
    if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const tag = toStringTag.call(data);
    if (tag === '[object ArrayBuffer]' || tag === '[object SharedArrayBuffer]') return new Uint8Array(data);
    throw new TypeError(`${what}: the data is not a BufferSource (ArrayBuffer or ArrayBufferView)`);
  }
  function copyOf(bytes) { return bytes.slice(); }

  function algorithmName(algorithm) {
    if (typeof algorithm === 'string') return algorithm;
    if (algorithm !== null && typeof algorithm === 'object' && algorithm.name !== undefined) return `${algorithm.name}`;
    throw new TypeError('Algorithm: name is missing');
  }
  function normalizeHash(hash) {
    const name = algorithmName(hash).toUpperCase();
    if (!(name in digestLengths)) {
      throw new (dom().DOMException)(`Unrecognized hash algorithm: ${name}`, 'NotSupportedError');
    }
    return name;
  }
  function digestSync(hash, bytes) {
    const out = new Uint8Array(digestLengths[hash]);
    natives.digest(hash, bytes, out);
    return out;
  }
  // Runs `body` now and returns its result as a promise (errors become rejections).
  function promised(body) {
    try {
      return Promise.resolve(body());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  const cryptoKeys = new WeakMap();  // CryptoKey -> its secret material (never reachable by scripts)
  class CryptoKey {
    #type; #extractable; #algorithm; #usages;
    constructor(token, type, extractable, algorithm, usages) {
      if (token !== kCreate) throw new TypeError('Illegal constructor');
      this.#type = type;
      this.#extractable = extractable;
      this.#algorithm = Object.freeze(algorithm);
      this.#usages = Object.freeze(usages.slice());
    }
    get type() { return this.#type; }
    get extractable() { return this.#extractable; }
    get algorithm() { return this.#algorithm; }
    get usages() { return this.#usages; }
    get [Symbol.toStringTag]() { return 'CryptoKey'; }
  }

  let keysModule = null;
  function keys() {
    if (keysModule === null) {
      keysModule = load('crypto_keys')({ CryptoKey, kCreate, cryptoKeys, normalizeHash, bufferSource, digestSync, algorithmName });
    }
    return keysModule;
  }

  class SubtleCrypto {
    constructor(token) { if (token !== kCreate) throw new TypeError('Illegal constructor'); }
    digest(algorithm, data) {
      return promised(() => {
        const hash = normalizeHash(algorithm);
        return digestSync(hash, copyOf(bufferSource(data, 'digest'))).buffer;
      });
    }
    importKey(format, keyData, algorithm, extractable, usages) {
      return promised(() => keys().importKey(format, keyData, algorithm, extractable, usages));
    }
    exportKey(format, key) { return promised(() => keys().exportKey(format, key)); }
    generateKey(algorithm, extractable, usages) {
      return promised(() => keys().generateKey(algorithm, extractable, usages));
    }
    sign(algorithm, key, data) {
      return promised(() => keys().sign(algorithm, key, copyOf(bufferSource(data, 'sign'))));
    }
    verify(algorithm, key, signature, data) {
      return promised(() => keys().verify(algorithm, key, copyOf(bufferSource(signature, 'verify')),
        copyOf(bufferSource(data, 'verify'))));
    }
    get [Symbol.toStringTag]() { return 'SubtleCrypto'; }
  }
  for (const name of ['encrypt', 'decrypt', 'deriveBits', 'deriveKey', 'wrapKey', 'unwrapKey']) {
    SubtleCrypto.prototype[name] = function () {
      return Promise.reject(new (dom().DOMException)(
        `crypto.subtle.${name} is not supported in isopool`, 'NotSupportedError'));
    };
  }

  const subtle = new SubtleCrypto(kCreate);
  const uuidBytes = new Uint8Array(16);
  const hex = [];
  for (let i = 0; i < 256; i++) hex.push((i + 0x100).toString(16).slice(1));

  class Crypto {
    constructor(token) { if (token !== kCreate) throw new TypeError('Illegal constructor'); }
    get subtle() { return subtle; }
    getRandomValues(array) {
      const tag = ArrayBuffer.isView(array) ? typedArrayTag.call(array) : undefined;
      if (!integerArrays.has(tag)) {
        throw new (dom().DOMException)(
          "Failed to execute 'getRandomValues' on 'Crypto': The provided ArrayBufferView is not an integer array type.",
          'TypeMismatchError');
      }
      if (array.byteLength > 65536) {
        throw new (dom().DOMException)(
          `Failed to execute 'getRandomValues' on 'Crypto': The ArrayBufferView's byte length (${array.byteLength}) exceeds the number of bytes of entropy available via this API (65536).`,
          'QuotaExceededError');
      }
      natives.randomFill(array);
      return array;
    }
    randomUUID() {
      const b = uuidBytes;
      natives.randomFill(b);
      b[6] = (b[6] & 0x0F) | 0x40;
      b[8] = (b[8] & 0x3F) | 0x80;
      return `${hex[b[0]]}${hex[b[1]]}${hex[b[2]]}${hex[b[3]]}-${hex[b[4]]}${hex[b[5]]}-` +
        `${hex[b[6]]}${hex[b[7]]}-${hex[b[8]]}${hex[b[9]]}-` +
        `${hex[b[10]]}${hex[b[11]]}${hex[b[12]]}${hex[b[13]]}${hex[b[14]]}${hex[b[15]]}`;
    }
    get [Symbol.toStringTag]() { return 'Crypto'; }
  }

  return { crypto: new Crypto(kCreate), Crypto, CryptoKey, SubtleCrypto };
})
