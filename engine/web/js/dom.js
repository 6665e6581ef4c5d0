// DOMException, Event, EventTarget, AbortController, AbortSignal, reportError, queueMicrotask.
(function (natives, load) {
  'use strict';
  const codes = {
    IndexSizeError: 1, HierarchyRequestError: 3, WrongDocumentError: 4, InvalidCharacterError: 5,
    NoModificationAllowedError: 7, NotFoundError: 8, NotSupportedError: 9,
    InvalidStateError: 11, SyntaxError: 12, InvalidModificationError: 13, NamespaceError: 14,
    InvalidAccessError: 15, TypeMismatchError: 17, SecurityError: 18, NetworkError: 19,
    AbortError: 20, URLMismatchError: 21, QuotaExceededError: 22, TimeoutError: 23,
    InvalidNodeTypeError: 24, DataCloneError: 25,
  };
  const constants = {
    INDEX_SIZE_ERR: 1, DOMSTRING_SIZE_ERR: 2, HIERARCHY_REQUEST_ERR: 3, WRONG_DOCUMENT_ERR: 4,
    INVALID_CHARACTER_ERR: 5, NO_DATA_ALLOWED_ERR: 6, NO_MODIFICATION_ALLOWED_ERR: 7,
    NOT_FOUND_ERR: 8, NOT_SUPPORTED_ERR: 9, INUSE_ATTRIBUTE_ERR: 10, INVALID_STATE_ERR: 11,
    SYNTAX_ERR: 12, INVALID_MODIFICATION_ERR: 13, NAMESPACE_ERR: 14, INVALID_ACCESS_ERR: 15,
    VALIDATION_ERR: 16, TYPE_MISMATCH_ERR: 17, SECURITY_ERR: 18, NETWORK_ERR: 19,
    ABORT_ERR: 20, URL_MISMATCH_ERR: 21, QUOTA_EXCEEDED_ERR: 22, TIMEOUT_ERR: 23,
    INVALID_NODE_TYPE_ERR: 24, DATA_CLONE_ERR: 25,
  };

  class DOMException extends Error {
    #name;
    constructor(message = '', options = 'Error') {
      super(`${message}`);
      if (options !== null && typeof options === 'object') {
        this.#name = 'name' in options ? `${options.name}` : 'Error';
        if ('cause' in options) {
          Object.defineProperty(this, 'cause', { value: options.cause, writable: true, configurable: true });
        }
      } else {
        this.#name = `${options}`;
      }
    }
    get name() { return this.#name; }
    get code() { return codes[this.#name] || 0; }
    get [Symbol.toStringTag]() { return 'DOMException'; }
  }
  for (const [key, value] of Object.entries(constants)) {
    Object.defineProperty(DOMException, key, { value, enumerable: true });
    Object.defineProperty(DOMException.prototype, key, { value, enumerable: true });
  }

  const kStop = Symbol('stop'), kStopImmediate = Symbol('stopImmediate');
  class Event {
    #type; #bubbles; #cancelable; #composed; #defaultPrevented = false; #timeStamp;
    #target = null; #currentTarget = null; #phase = 0; #inPassive = false;
    constructor(type, init = undefined) {
      if (arguments.length === 0) {
        throw new TypeError("Failed to construct 'Event': 1 argument required, but only 0 present.");
      }
      this.#type = `${type}`;
      this.#bubbles = Boolean(init && init.bubbles);
      this.#cancelable = Boolean(init && init.cancelable);
      this.#composed = Boolean(init && init.composed);
      this.#timeStamp = natives.now();
      this[kStop] = false;
      this[kStopImmediate] = false;
    }
    get type() { return this.#type; }
    get bubbles() { return this.#bubbles; }
    get cancelable() { return this.#cancelable; }
    get composed() { return this.#composed; }
    get defaultPrevented() { return this.#defaultPrevented; }
    get returnValue() { return !this.#defaultPrevented; }
    set returnValue(value) { if (!value) this.preventDefault(); }
    get timeStamp() { return this.#timeStamp; }
    get isTrusted() { return false; }
    get target() { return this.#target; }
    get srcElement() { return this.#target; }
    get currentTarget() { return this.#currentTarget; }
    get eventPhase() { return this.#phase; }
    get cancelBubble() { return this[kStop]; }
    set cancelBubble(value) { if (value) this[kStop] = true; }
    composedPath() { return this.#currentTarget ? [this.#currentTarget] : []; }
    preventDefault() { if (this.#cancelable && !this.#inPassive) this.#defaultPrevented = true; }
    stopPropagation() { this[kStop] = true; }
    stopImmediatePropagation() { this[kStop] = true; this[kStopImmediate] = true; }
    get [Symbol.toStringTag]() { return 'Event'; }
    static _dispatching(event, target, current, phase, passive) {
      event.#target = target;
      event.#currentTarget = current;
      event.#phase = phase;
      event.#inPassive = passive;
    }
    static _isEvent(value) { return value !== null && typeof value === 'object' && #type in value; }
  }
  const eventSetState = Event._dispatching, isEvent = Event._isEvent;
  delete Event._dispatching;
  delete Event._isEvent;
  for (const [name, value] of [['NONE', 0], ['CAPTURING_PHASE', 1], ['AT_TARGET', 2], ['BUBBLING_PHASE', 3]]) {
    Object.defineProperty(Event, name, { value, enumerable: true });
    Object.defineProperty(Event.prototype, name, { value, enumerable: true });
  }

  function reportError(error) {
    const message = error instanceof Error ? (error.stack || `${error}`) : error;
    globalThis.console.error('Uncaught', message);
  }

  function flatten(options) {
    if (typeof options === 'boolean') return { capture: options };
    if (options === null || typeof options !== 'object') return { capture: false };
    return options;
  }

  class EventTarget {
    #listeners = new Map();
    addEventListener(type, callback, options = undefined) {
      if (callback === null || callback === undefined) return;
      const { capture = false, once = false, passive = false, signal } = flatten(options);
      if (signal !== undefined && signal.aborted) return;
      const key = `${type}`;
      let list = this.#listeners.get(key);
      if (!list) this.#listeners.set(key, list = []);
      if (list.some((l) => l.callback === callback && l.capture === Boolean(capture))) return;
      const listener = { callback, capture: Boolean(capture), once: Boolean(once), passive: Boolean(passive), removed: false };
      list.push(listener);
      if (signal !== undefined) {
        signal.addEventListener('abort', () => this.removeEventListener(key, callback, { capture }));
      }
    }
    removeEventListener(type, callback, options = undefined) {
      const list = this.#listeners.get(`${type}`);
      if (!list) return;
      const capture = Boolean(flatten(options).capture);
      const index = list.findIndex((l) => l.callback === callback && l.capture === capture);
      if (index >= 0) {
        list[index].removed = true;
        list.splice(index, 1);
      }
    }
    dispatchEvent(event) {
      if (!isEvent(event)) {
        throw new TypeError("Failed to execute 'dispatchEvent' on 'EventTarget': parameter 1 is not of type 'Event'.");
      }
      const list = this.#listeners.get(event.type);
      event[kStop] = false;
      event[kStopImmediate] = false;
      if (list) {
        for (const listener of list.slice()) {
          if (listener.removed) continue;
          if (listener.once) this.removeEventListener(event.type, listener.callback, { capture: listener.capture });
          eventSetState(event, this, this, 2, listener.passive);
          try {
            const callback = listener.callback;
            if (typeof callback === 'function') callback.call(this, event);
            else if (callback && typeof callback.handleEvent === 'function') callback.handleEvent(event);
          } catch (error) {
            reportError(error);
          }
          if (event[kStopImmediate]) break;
        }
      }
      eventSetState(event, this, null, 0, false);
      return !event.defaultPrevented;
    }
    get [Symbol.toStringTag]() { return 'EventTarget'; }
  }

  const kCreate = Symbol('create');
  class AbortSignal extends EventTarget {
    #aborted = false;
    #reason = undefined;
    #onabort = null;
    constructor(token) {
      if (token !== kCreate) throw new TypeError('Illegal constructor');
      super();
    }
    get aborted() { return this.#aborted; }
    get reason() { return this.#reason; }
    get onabort() { return this.#onabort; }
    set onabort(handler) {
      if (this.#onabort) this.removeEventListener('abort', this.#onabort);
      this.#onabort = typeof handler === 'function' ? handler : null;
      if (this.#onabort) this.addEventListener('abort', this.#onabort);
    }
    throwIfAborted() { if (this.#aborted) throw this.#reason; }
    static abort(reason = undefined) {
      const signal = new AbortSignal(kCreate);
      signal.#signalAbort(reason);
      return signal;
    }
    static timeout(milliseconds) {
      const ms = Number(milliseconds);
      if (!Number.isFinite(ms) || ms < 0) {
        throw new TypeError("Failed to execute 'timeout' on 'AbortSignal': Value is outside the 'unsigned long long' value range.");
      }
      const signal = new AbortSignal(kCreate);
      load('timers').setTimeout(() => {
        signal.#signalAbort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
      }, ms);
      return signal;
    }
    static any(signals) {
      const result = new AbortSignal(kCreate);
      const list = Array.from(signals);
      for (const signal of list) {
        if (signal.aborted) { result.#signalAbort(signal.reason); return result; }
      }
      for (const signal of list) {
        signal.addEventListener('abort', () => result.#signalAbort(signal.reason), { once: true });
      }
      return result;
    }
    #signalAbort(reason) {
      if (this.#aborted) return;
      this.#aborted = true;
      this.#reason = reason === undefined ? new DOMException('This operation was aborted', 'AbortError') : reason;
      this.dispatchEvent(new Event('abort'));
    }
    static _abort(signal, reason) { signal.#signalAbort(reason); }
    get [Symbol.toStringTag]() { return 'AbortSignal'; }
  }
  const abortSignal = AbortSignal._abort;
  delete AbortSignal._abort;

  class AbortController {
    #signal = new AbortSignal(kCreate);
    get signal() { return this.#signal; }
    abort(reason = undefined) { abortSignal(this.#signal, reason); }
    get [Symbol.toStringTag]() { return 'AbortController'; }
  }

  function queueMicrotask(callback) {
    if (typeof callback !== 'function') {
      throw new TypeError("Failed to execute 'queueMicrotask': The callback provided as parameter 1 is not a function.");
    }
    Promise.resolve().then(() => {
      try { callback(); } catch (error) { reportError(error); }
    });
  }

  return {
    DOMException, Event, EventTarget, AbortSignal, AbortController, reportError, queueMicrotask,
  };
})
