// The differential corpus of issue 12: the same inputs through isopool's web runtime and through
// Node 20's (its URL is WHATWG-conformant, its TextDecoder, atob, structuredClone and WebCrypto
// follow the specs). runCorpus() resolves to {case: outcome}; web_differential_test.cc compares
// the two maps case by case. Outcomes are plain JSON; an exception is reported by its name only
// (messages differ between implementations and are not part of the standards).
//
// Run in Node: node corpus.js   (prints the JSON map)
'use strict';

// Debian 12's own Node (18) keeps WebCrypto off the global object; isopool and Node 20 have it.
if (typeof crypto === 'undefined' && typeof require === 'function') {
  globalThis.crypto = require('crypto').webcrypto;
}

function attempt(body) {
  try {
    return body();
  } catch (e) {
    return { throws: e && e.name };
  }
}

function urlParts(u) {
  return [u.href, u.protocol, u.username, u.password, u.host, u.hostname, u.port, u.pathname,
    u.search, u.hash, u.origin];
}

const urlInputs = [
  // Hosts: IPv4 in every notation, IPv6, IDNA, percent-encoded and forbidden code points.
  ['http://127.0.0.1/'], ['http://0x7f.1/'], ['http://127.1/'], ['http://2130706433/'],
  ['http://0177.0.0.1/'], ['http://4294967295/'], ['http://4294967296/'], ['http://256.256.256.256/'],
  ['http://1.2.3.4.5/'], ['http://1.2.3.09/'], ['http://0x/'], ['http://09/'], ['http://1.2.3.4./'],
  ['http://[::1]/'], ['http://[1:0::]/'], ['http://[::ffff:1.2.3.4]/'], ['http://[1:2:3:4:5:6:7:8]/'],
  ['http://[0:0:0:0:0:0:13.1.68.3]/'], ['http://[::1.2.3.]/'], ['http://[1::2::3]/'], ['http://[:1]/'],
  ['http://[FEDC:BA98:7654:3210:FEDC:BA98:7654:3210]:80/index.html'],
  ['http://B\u00fccher.example/'], ['http://xn--bcher-kva.example/'], ['http://fa\u00df.de/'],
  ['http://\u2603.net/'], ['http://EXAMPLE.com/'], ['http://\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com/'],
  ['http://%41.com/'], ['http://%zz.com/'], ['http://a%2Fb.com/'], ['http://a b/'], ['http://a<b/'],
  ['http://ex\u00adample.com/'], ['http://xn--/'], ['http://xn--a.com/'], ['http://a..b/'],
  ['http://\u0661.com/'], ['http://-x.com/'], ['http://x-.com/'], ['http://ab--c.com/'],
  ['http://\u0378.com/'], ['http://a.b.c.\u0661/'], ['https://www.\u0440\u0444.ru/'],
  ['http://\u00e9.\u00e9/'], ['http://1.0x100.3.4/'], ['http://[::127.0.0.1]/'],
  // Schemes, credentials, ports.
  ['HTTP://user:pa:ss@Host:0080/'], ['https://host:443/'], ['https://host:65536/'], ['ws://h:80/'],
  ['wss://h:443/x'], ['ftp://h:21/'], ['http://@h/'], ['http://:@h/'], ['http://u@:1/'],
  ['http://us er:p@ss@h/'], ['foo://u:p@h:1/p?q#f'], ['mailto:someone@example.com'],
  ['javascript:alert(1)'], ['data:text/plain,hello world'], ['blob:https://a.b/uuid'],
  ['urn:isbn:0451450523'], ['non-spec:/.//p'], ['non-spec:/..//p'], ['sc://\u00f1.test/'],
  ['sc://%/'], ['sc://@/'], ['sc: //h/'], ['a:\t foo.com'], ['http:'], ['https://'], ['http:/h/'],
  ['http:\\\\h\\p'], ['  http://h/ \n'], ['http://h/\t p\n'], ['\u0000http://h/\u001f'],
  // File URLs.
  ['file:///C:/x'], ['file://localhost/etc'], ['file:///etc/../passwd'], ['file:c:\\foo'],
  ['file://host/share/f'], ['file:///C|/x'], ['file:/x/y'],
  // Paths and percent-encoding.
  ['http://h/a/./b/../c/%2e%2E/d'], ['http://h/a b"c<d>e`f{g}'], ['http://h/\u00e9?\u00e9#\u00e9'],
  ['http://h/%'], ['http://h/%zz'], ['http://h/?q=a b&c="d"\'e'], ['http://h/#a b"c<d>`'],
  ['http://h/\ud800'], ['http://h/p?\ud83d\ude00'], ['http://h/..'], ['http://h/a/%2e'],
  ['http://h/a/.%2E/b'], ['http://h/foo/bar//..'], ['sc:\\../'], ['sc://h/a/../../b'],
  ['http://h/?%zz'], ['http://h/#%zz'], ['http://h/;x=1'], ['http://h/\u0001\u007f'],
  // Relative resolution (RFC 3986 section 5.4 and WHATWG specials).
  ['g:h', 'http://a/b/c/d;p?q'], ['g', 'http://a/b/c/d;p?q'], ['./g', 'http://a/b/c/d;p?q'],
  ['g/', 'http://a/b/c/d;p?q'], ['/g', 'http://a/b/c/d;p?q'], ['//g', 'http://a/b/c/d;p?q'],
  ['?y', 'http://a/b/c/d;p?q'], ['g?y', 'http://a/b/c/d;p?q'], ['#s', 'http://a/b/c/d;p?q'],
  ['g#s', 'http://a/b/c/d;p?q'], [';x', 'http://a/b/c/d;p?q'], ['', 'http://a/b/c/d;p?q'],
  ['.', 'http://a/b/c/d;p?q'], ['..', 'http://a/b/c/d;p?q'], ['../..', 'http://a/b/c/d;p?q'],
  ['../../../g', 'http://a/b/c/d;p?q'], ['/./g', 'http://a/b/c/d;p?q'], ['g.', 'http://a/b/c/d;p?q'],
  ['g;x=1/../y', 'http://a/b/c/d;p?q'], ['\\\\x\\y', 'http://a/b/'], ['http:g', 'http://a/b/c'],
  ['//h:99', 'https://a/'], ['x', 'mailto:a@b'], ['#x', 'mailto:a@b'], ['x', 'sc://h/a/b'],
  ['/x', 'file:///C:/a/b'], ['..', 'file:///C:/'], ['x', 'about:blank'], ['?x', 'data:,a'],
  ['', 'about:blank#frag'], ['//', 'https://a/'], ['http://x', 'not a url'],
];

const setterCases = [
  ['https://h/p?q#f', 'protocol', 'http'], ['https://h/p', 'protocol', 'foo'],
  ['foo://h/p', 'protocol', 'https'], ['http://h/', 'protocol', 'https:x'],
  ['http://h/', 'host', 'x.y:8080'], ['http://h/', 'host', 'x y'], ['http://h:1/', 'hostname', 'z'],
  ['http://h/', 'hostname', '[::1]'], ['http://h/', 'port', '99'], ['http://h/', 'port', '80'],
  ['http://h/', 'port', '99999'], ['http://h/', 'port', '12ab'], ['http://h:5/', 'port', ''],
  ['http://h/', 'pathname', 'a b/../c'], ['http://h/', 'pathname', ''], ['sc:opaque', 'pathname', 'x'],
  ['http://h/', 'search', 'a=1 2'], ['http://h/?x', 'search', ''], ['http://h/', 'search', '??a'],
  ['http://h/', 'hash', 'a b'], ['http://h/#x', 'hash', ''], ['http://h/', 'username', 'u s@r'],
  ['http://h/', 'password', 'p:w'], ['file:///x', 'username', 'u'], ['http://h/', 'href', 'https://x/'],
  ['mailto:a', 'host', 'x'], ['http://h/', 'host', ''], ['file://h/x', 'host', ''],
];

const searchParamsCases = [
  () => [...new URLSearchParams('a=1&b=2&a=3&c&=d&e=')],
  () => new URLSearchParams('q=a+b%20c%zz&%E2%82%AC=%E2%82%AC').get('q'),
  () => new URLSearchParams('%E2%82%AC=%FF').toString(),
  () => new URLSearchParams({ 'a b': 'c&d', '\u20ac': '=+' }).toString(),
  () => new URLSearchParams([['x', '1'], ['y', '\ud800']]).toString(),
  () => { const p = new URLSearchParams('z=1&a=2&z=0&b=3'); p.sort(); return p.toString(); },
  () => { const p = new URLSearchParams('a=1&a=2&b=3'); p.delete('a'); p.append('c', '*-._~!'); return p.toString(); },
  () => { const p = new URLSearchParams('a=1&a=2'); p.set('a', '3'); return [p.toString(), p.has('a'), p.size]; },
  () => { const u = new URL('http://h/?a=1'); u.searchParams.append('b', ' '); return u.href; },
  () => { const u = new URL('http://h/?a=1'); u.search = '?x=y'; return [...u.searchParams]; },
  () => new URLSearchParams('?a=b').toString(),
  () => attempt(() => new URLSearchParams([['a']])),
];

function bytes(b) { return Array.from(new Uint8Array(b)); }

const encodeInputs = ['', 'abc', '\u00e9\u20ac\ud83d\ude00', '\ud800', '\udc00x', 'a\ud800\udc00b',
  '\ud83d', 'x\ud83d', '\u0000', '\uffff', '\ufeffbom'];

const decodeInputs = [
  [0x61], [0xEF, 0xBB, 0xBF, 0x61], [0xEF, 0xBB, 0xBF], [0xEF, 0xBB], [0xFF], [0xC0, 0x80],
  [0xC1, 0xBF], [0xC2], [0xC2, 0x41], [0xE0, 0x80, 0x80], [0xE0, 0xA0], [0xED, 0xA0, 0x80],
  [0xED, 0x9F, 0xBF], [0xF0, 0x8F, 0xBF, 0xBF], [0xF4, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF],
  [0xF5, 0x80], [0xF0, 0x9F, 0x98], [0xF0, 0x9F, 0x98, 0x80], [0x80, 0x80], [0xFE, 0xFF],
  [0xE2, 0x82, 0xAC, 0xE2, 0x82], [0x61, 0xF0, 0x9F, 0x41, 0x42], [0xEF, 0xBF, 0xBE],
];

const streamChunks = [
  [[0xE2], [0x82], [0xAC]], [[0xEF, 0xBB], [0xBF, 0x61]], [[0xF0, 0x9F, 0x98], [0x80, 0x21]],
  [[0xE0], [0x80]], [[0xC2], []], [[0x61, 0xF0], [0x90, 0x80], [0x80]],
];

const base64Cases = ['', 'YQ==', 'YQ=', 'YQ', 'YWI=', 'YWJj', ' Y W J j ', 'YWJj\n', 'Y\tW\fJ\rj',
  'YQ===', '=YQ', 'Y=Q', 'YQ==YQ==', 'YR==', 'a', 'ab', 'abc', 'abcd', '\u00ff', '////', '++++',
  '-_', 'YWJj=', 'Y', '====', 'AAAA', 'ZGF0YQ=='];
const btoaCases = ['', 'a', 'ab', 'abc', '\u0000\u00ff', '\u00e9t\u00e9', '\u0100', '\u20ac',
  String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i))];

function describe(value, seen = new Map()) {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'bigint') return { bigint: String(value) };
    if (typeof value === 'number' && !Number.isFinite(value)) return { number: String(value) };
    if (value === undefined) return { undefined: true };
    return value;
  }
  if (seen.has(value)) return { ref: seen.get(value) };
  seen.set(value, seen.size);
  const tag = Object.prototype.toString.call(value);
  if (value instanceof Map) return { tag, entries: [...value].map(([k, v]) => [describe(k, seen), describe(v, seen)]) };
  if (value instanceof Set) return { tag, values: [...value].map((v) => describe(v, seen)) };
  if (value instanceof Date) return { tag, time: value.getTime() };
  if (value instanceof RegExp) return { tag, source: value.source, flags: value.flags, lastIndex: value.lastIndex };
  if (value instanceof Error) return { tag, name: value.name, message: value.message, proto: Object.getPrototypeOf(value).constructor.name };
  if (ArrayBuffer.isView(value)) return { tag, bytes: bytes(value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength)), length: value.length === undefined ? value.byteLength : value.length };
  if (value instanceof ArrayBuffer) return { tag, bytes: bytes(value) };
  if (Array.isArray(value)) return { tag, length: value.length, items: Object.keys(value).map((k) => [k, describe(value[k], seen)]) };
  return { tag, proto: Object.getPrototypeOf(value) === Object.prototype ? 'Object' : String(Object.getPrototypeOf(value)), fields: Object.keys(value).map((k) => [k, describe(value[k], seen)]) };
}

const cloneCases = [
  () => { const m = new Map([[1, 'a'], [{ k: 1 }, new Set([1, 2])]]); return m; },
  () => new Set(['x', 1, null, undefined]),
  () => [new Date(0), new Date(8.64e15), new Date(NaN)],
  () => [/a+b/gimsuy, /x/],
  () => { const r = /x/g; r.lastIndex = 3; return r; },
  () => [new Uint8Array([1, 2, 3]), new Int16Array([-1, 2]), new Float64Array([0.5, -0]),
    new BigInt64Array([-5n]), new DataView(new Uint8Array([9, 8, 7]).buffer, 1, 2)],
  () => { const b = new Uint8Array([1, 2, 3, 4]).buffer; return [new Uint8Array(b, 1, 2), new Uint16Array(b, 2, 1)]; },
  () => { const o = { a: 1 }; o.self = o; o.list = [o, o]; return o; },
  () => { const a = [1]; a[5] = 2; a.extra = 'x'; return a; },
  () => [new Error('e1'), new TypeError('t'), new RangeError('r'), new SyntaxError('s'),
    new ReferenceError('f'), new EvalError('v'), new URIError('u')],
  () => { const e = new Error('x'); e.name = 'Custom'; return e; },
  () => [10n ** 30n, -0, NaN, Infinity, 'str', true, null, undefined],
  () => [new Number(3), new String('s'), new Boolean(false), Object(10n)],
  () => ({ nested: { deep: [{ x: [1, { y: 2 }] }] } }),
  () => Object.create(null),
  () => { class K { constructor() { this.v = 1; } } return new K(); },
  () => { const o = {}; Object.defineProperty(o, 'hidden', { value: 1, enumerable: false }); o.shown = 2; return o; },
  () => ({ [Symbol('s')]: 1, k: 2 }),
];
const uncloneable = [() => () => 1, () => Symbol('x'), () => ({ f() {} }), () => new WeakMap(),
  () => Promise.resolve(), () => [new WeakSet()]];

const digestInputs = ['', 'abc', 'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq',
  'a'.repeat(1000), '\u00e9\ud83d\ude00'];

async function runCorpus() {
  const out = {};
  urlInputs.forEach(([input, base], i) => {
    out[`url ${i} ${JSON.stringify([input, base])}`] =
      attempt(() => urlParts(base === undefined ? new URL(input) : new URL(input, base)));
    out[`url.canParse ${i} ${JSON.stringify([input, base])}`] = URL.canParse(input, base);
  });
  setterCases.forEach(([href, key, value], i) => {
    out[`setter ${i} ${JSON.stringify([href, key, value])}`] = attempt(() => {
      const u = new URL(href);
      u[key] = value;
      return urlParts(u);
    });
  });
  searchParamsCases.forEach((body, i) => { out[`searchParams ${i}`] = attempt(body); });
  encodeInputs.forEach((s, i) => {
    out[`encode ${i}`] = bytes(new TextEncoder().encode(s));
    for (const size of [0, 1, 2, 3, 4, 8]) {
      const dest = new Uint8Array(size);
      const r = new TextEncoder().encodeInto(s, dest);
      out[`encodeInto ${i} ${size}`] = [r.read, r.written, bytes(dest)];
    }
  });
  decodeInputs.forEach((input, i) => {
    for (const fatal of [false, true]) {
      for (const ignoreBOM of [false, true]) {
        out[`decode ${i} ${JSON.stringify(input)} fatal=${fatal} ignoreBOM=${ignoreBOM}`] = attempt(
          () => new TextDecoder('utf-8', { fatal, ignoreBOM }).decode(new Uint8Array(input)));
      }
    }
  });
  streamChunks.forEach((chunks, i) => {
    for (const fatal of [false, true]) {
      out[`stream ${i} fatal=${fatal}`] = attempt(() => {
        const d = new TextDecoder('utf-8', { fatal });
        const parts = chunks.map((c) => d.decode(new Uint8Array(c), { stream: true }));
        parts.push(d.decode());
        return parts;
      });
    }
  });
  out['decoder labels'] = ['utf8', ' UTF-8 ', 'unicode-1-1-utf-8', 'UTF8', 'utf-8\u00a0'].map(
    (l) => attempt(() => new TextDecoder(l).encoding));
  out['decoder label utf-16'] = attempt(() => new TextDecoder('utf-16').encoding);
  out['decode DataView and ArrayBuffer'] = [
    new TextDecoder().decode(new DataView(new Uint8Array([0x41, 0x42, 0x43]).buffer, 1)),
    new TextDecoder().decode(new Uint8Array([0x44]).buffer)];
  base64Cases.forEach((s, i) => { out[`atob ${i} ${JSON.stringify(s)}`] = attempt(() => atob(s)); });
  btoaCases.forEach((s, i) => { out[`btoa ${i}`] = attempt(() => btoa(s)); });
  out['atob coercion'] = [attempt(() => atob(undefined)), attempt(() => atob(null)), attempt(() => btoa(12))];
  cloneCases.forEach((make, i) => { out[`clone ${i}`] = attempt(() => describe(structuredClone(make()))); });
  uncloneable.forEach((make, i) => { out[`unclone ${i}`] = attempt(() => structuredClone(make())); });
  for (const algorithm of ['SHA-1', 'SHA-256', 'SHA-384', 'SHA-512', 'sha-256', { name: 'SHA-512' }]) {
    for (const [i, s] of digestInputs.entries()) {
      const d = await crypto.subtle.digest(algorithm, new TextEncoder().encode(s));
      out[`digest ${JSON.stringify(algorithm)} ${i}`] = bytes(d);
    }
  }
  out['digest errors'] = await Promise.all([
    crypto.subtle.digest('MD5', new Uint8Array(1)).then(() => 'ok', (e) => e.name),
    crypto.subtle.digest('SHA-256', 'text').then(() => 'ok', (e) => e.name),
  ]);
  out['getRandomValues errors'] = [
    attempt(() => crypto.getRandomValues(new Float32Array(1))),
    attempt(() => crypto.getRandomValues(new Uint8Array(65537))),
    attempt(() => crypto.getRandomValues(new Uint8Array(65536)).length),
    attempt(() => crypto.getRandomValues(new DataView(new ArrayBuffer(1)))),
  ];
  out['domexception'] = (() => {
    const e = new DOMException('m', 'NotFoundError');
    return [e.name, e.message, e.code, e instanceof Error, String(e), DOMException.ABORT_ERR,
      new DOMException().name, new DOMException('x', 'Unknown').code];
  })();
  return out;
}

if (typeof process === 'object' && process.versions && process.versions.node) {
  runCorpus().then((out) => process.stdout.write(JSON.stringify(out)));
}
