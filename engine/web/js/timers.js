// setTimeout, setInterval, clearTimeout, clearInterval. The event loop that fires them is C++
// (internal::RunEventLoop), which reaches `__loop` through the context's module cache: a timer
// fires only while a call (or a pack) is waiting for its result, and every timer is dropped when
// the call ends.
(function (natives, load) {
  'use strict';
  const timers = new Map();
  let nextId = 1;
  let sequence = 0;
  const now = natives.now;

  function add(handler, timeout, args, repeat) {
    let callback = handler;
    if (typeof callback !== 'function') {
      const code = `${handler}`;
      callback = () => (0, eval)(code);
    }
    let ms = Number(timeout) | 0;  // WebIDL long, like browsers
    if (ms < 0) ms = 0;
    const id = nextId++;
    if (timers.size === 0) natives.timersPending();  // tells the call's event loop to look
    timers.set(id, { callback, args, ms, repeat, due: now() + ms, order: sequence++ });
    return id;
  }

  function setTimeout(handler, timeout = 0, ...args) { return add(handler, timeout, args, false); }
  function setInterval(handler, timeout = 0, ...args) { return add(handler, timeout, args, true); }
  function clearTimeout(id = 0) { timers.delete(Number(id)); }
  const clearInterval = clearTimeout;

  function earliest() {
    let best = null, bestId = 0;
    for (const [id, timer] of timers) {
      if (best === null || timer.due < best.due || (timer.due === best.due && timer.order < best.order)) {
        best = timer;
        bestId = id;
      }
    }
    return [bestId, best];
  }

  const __loop = {
    next() {
      const [, timer] = earliest();
      return timer === null ? -1 : timer.due;
    },
    fire() {
      const [id, timer] = earliest();
      if (timer === null) return;
      if (timer.repeat) {
        timer.due = Math.max(timer.due + Math.max(timer.ms, 1), now());
        timer.order = sequence++;
      } else {
        timers.delete(id);
      }
      try {
        Reflect.apply(timer.callback, globalThis, timer.args);
      } catch (error) {
        load('dom').reportError(error);
      }
    },
    clear() { timers.clear(); },
  };

  return { setTimeout, setInterval, clearTimeout, clearInterval, __loop };
})
