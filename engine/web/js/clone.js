// structuredClone: V8's ValueSerializer (native), with ArrayBuffer transfer.
(function (natives, load) {
  'use strict';
  function structuredClone(value, options = undefined) {
    if (arguments.length === 0) {
      throw new TypeError("Failed to execute 'structuredClone': 1 argument required, but only 0 present.");
    }
    let transfer = [];
    if (options !== undefined && options !== null) {
      if (typeof options !== 'object') {
        throw new TypeError("Failed to execute 'structuredClone': The provided value is not of type 'StructuredSerializeOptions'.");
      }
      if (options.transfer !== undefined) transfer = Array.from(options.transfer);
    }
    return natives.clone(value, transfer);
  }
  return { structuredClone };
})
