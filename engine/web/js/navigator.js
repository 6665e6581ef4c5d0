// self and navigator.
(function (natives, load) {
  'use strict';
  const kCreate = Symbol('create');
  class Navigator {
    constructor(token) { if (token !== kCreate) throw new TypeError('Illegal constructor'); }
    get userAgent() { return 'isopool'; }
    get [Symbol.toStringTag]() { return 'Navigator'; }
  }
  return { self: globalThis, Navigator, navigator: new Navigator(kCreate) };
})
