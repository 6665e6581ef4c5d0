// The console methods implemented over the native ones: assert, count, countReset, time,
// timeEnd, timeLog, table, dir, dirxml. State (counters, timers) lives in the context.
(function (natives, load) {
  'use strict';
  const counts = new Map();
  const timers = new Map();
  const c = () => globalThis.console;

  function assert(condition = false, ...data) {
    if (condition) return;
    if (data.length === 0) data = ['Assertion failed'];
    else if (typeof data[0] === 'string') data[0] = `Assertion failed: ${data[0]}`;
    else data.unshift('Assertion failed:');
    c().error(...data);
  }
  function count(label = 'default') {
    const key = `${label}`;
    const n = (counts.get(key) || 0) + 1;
    counts.set(key, n);
    c().info(`${key}: ${n}`);
  }
  function countReset(label = 'default') {
    const key = `${label}`;
    if (counts.has(key)) counts.set(key, 0);
    else c().warn(`Count for '${key}' does not exist`);
  }
  function elapsed(key) {
    const ms = natives.now() - timers.get(key);
    return `${key}: ${ms.toFixed(3)} ms`;
  }
  function time(label = 'default') {
    const key = `${label}`;
    if (timers.has(key)) return c().warn(`Timer '${key}' already exists`);
    timers.set(key, natives.now());
  }
  function timeLog(label = 'default', ...data) {
    const key = `${label}`;
    if (!timers.has(key)) return c().warn(`Timer '${key}' does not exist`);
    c().log(elapsed(key), ...data);
  }
  function timeEnd(label = 'default') {
    const key = `${label}`;
    if (!timers.has(key)) return c().warn(`Timer '${key}' does not exist`);
    c().info(elapsed(key));
    timers.delete(key);
  }
  function cell(value) {
    if (typeof value === 'string') return value;
    if (typeof value === 'object' && value !== null) {
      try { return JSON.stringify(value); } catch { return String(value); }
    }
    return String(value);
  }
  function table(data, properties = undefined) {
    if (data === null || typeof data !== 'object') return c().log(data);
    const rows = data instanceof Map ? [...data.entries()].map(([k, v]) => [cell(k), v])
      : Object.entries(data).map(([k, v]) => [k, v]);
    const columns = [];
    let hasValues = false;
    for (const [, value] of rows) {
      if (value !== null && typeof value === 'object') {
        for (const key of Object.keys(value)) if (!columns.includes(key)) columns.push(key);
      } else {
        hasValues = true;
      }
    }
    const shown = properties ? Array.from(properties, String) : columns;
    const header = ['(index)', ...shown, ...(hasValues && !properties ? ['Values'] : [])];
    const body = rows.map(([index, value]) => {
      const line = [index];
      for (const key of shown) {
        line.push(value !== null && typeof value === 'object' && key in value ? cell(value[key]) : '');
      }
      if (hasValues && !properties) line.push(value !== null && typeof value === 'object' ? '' : cell(value));
      return line;
    });
    const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
    const line = (cells) => `| ${cells.map((v, i) => v.padEnd(widths[i])).join(' | ')} |`;
    const rule = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`;
    c().log([line(header), rule, ...body.map(line)].join('\n'));
  }
  function dir(item) { c().log(item); }
  function dirxml(...data) { c().log(...data); }

  return { assert, count, countReset, time, timeEnd, timeLog, table, dir, dirxml };
})
