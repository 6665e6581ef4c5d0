// Headers (WHATWG Fetch): case-insensitive names, combined values, sorted iteration,
// getSetCookie. There is no fetch: this is for code that builds or parses header lists.
(function (natives, load) {
  'use strict';
  const token = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
  const whitespace = /^[\t\n\r ]+|[\t\n\r ]+$/g;
  function normalizeName(name) {
    const text = `${name}`;
    if (!token.test(text)) throw new TypeError(`Headers: '${text}' is not a valid header name.`);
    return text.toLowerCase();
  }
  function normalizeValue(value) {
    const text = `${value}`.replace(whitespace, '');
    if (/[\0\r\n]/.test(text)) throw new TypeError(`Headers: '${text}' is not a valid header value.`);
    return text;
  }

  class Headers {
    #list = new Map();  // lower-case name -> values (in order)
    constructor(init = undefined) {
      if (init === undefined || init === null) return;
      if (init instanceof Headers) {
        for (const [name, value] of init.#pairs(true)) this.append(name, value);
      } else if (typeof init === 'object' && typeof init[Symbol.iterator] === 'function') {
        for (const pair of init) {
          const entry = Array.from(pair);
          if (entry.length !== 2) throw new TypeError('Headers: each header must be a [name, value] pair.');
          this.append(entry[0], entry[1]);
        }
      } else if (typeof init === 'object') {
        for (const name of Object.keys(init)) this.append(name, init[name]);
      } else {
        throw new TypeError("Failed to construct 'Headers': The provided value is not of type 'HeadersInit'.");
      }
    }
    append(name, value) {
      const key = normalizeName(name);
      const text = normalizeValue(value);
      const values = this.#list.get(key);
      if (values) values.push(text);
      else this.#list.set(key, [text]);
    }
    delete(name) { this.#list.delete(normalizeName(name)); }
    get(name) {
      const values = this.#list.get(normalizeName(name));
      return values ? values.join(', ') : null;
    }
    getSetCookie() { return [...(this.#list.get('set-cookie') || [])]; }
    has(name) { return this.#list.has(normalizeName(name)); }
    set(name, value) { this.#list.set(normalizeName(name), [normalizeValue(value)]); }
    #pairs(raw = false) {
      const out = [];
      for (const name of [...this.#list.keys()].sort()) {
        const values = this.#list.get(name);
        if (name === 'set-cookie' || raw) for (const value of values) out.push([name, value]);
        else out.push([name, values.join(', ')]);
      }
      return out;
    }
    forEach(callback, thisArg = undefined) {
      for (const [name, value] of this.#pairs()) callback.call(thisArg, value, name, this);
    }
    *entries() { yield* this.#pairs(); }
    *keys() { for (const [name] of this.#pairs()) yield name; }
    *values() { for (const [, value] of this.#pairs()) yield value; }
    [Symbol.iterator]() { return this.entries(); }
    get [Symbol.toStringTag]() { return 'Headers'; }
  }
  return { Headers };
})
