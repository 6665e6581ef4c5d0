// performance.now() and performance.timeOrigin: pinned while packing, live at run time.
(function (natives, load) {
  'use strict';
  const kCreate = Symbol('create');
  class Performance {
    constructor(token) { if (token !== kCreate) throw new TypeError('Illegal constructor'); }
    now() { return natives.now(); }
    get timeOrigin() { return natives.timeOrigin(); }
    toJSON() { return { timeOrigin: this.timeOrigin }; }
    get [Symbol.toStringTag]() { return 'Performance'; }
  }
  return { Performance, performance: new Performance(kCreate) };
})
