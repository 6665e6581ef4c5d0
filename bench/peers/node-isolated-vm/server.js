#!/usr/bin/env node
// The benchmark peer for isopool: the same isopool.v1.Isopool/Execute request shape, served by
// Node.js with @grpc/grpc-js and a pool of isolated-vm isolates. See README.md.
//
//   node server.js --port 0 --context reuse            # prints "LISTENING <port>"
//   node server.js --port 50061 --context new --bundle bundle.js --snapshot bundle
//
// It listens on 127.0.0.1 only. It serves Execute (inline `source`, or a `function` of the
// preloaded bundle) and grpc.health.v1.Health/Check. Everything else is UNIMPLEMENTED.
'use strict';

const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const ivm = require('isolated-vm');

const USAGE = `usage: node server.js [flags]
  --port N             port on 127.0.0.1 (0 = any free port; default 0). Prints "LISTENING <port>".
  --context MODE       reuse: one context per isolate, reused by every call (default)
                       new:   a new context per call (the bundle, if any, runs in each one)
  --pool N             isolates in the pool (default 2)
  --memory_limit_mib N isolated-vm memoryLimit of each isolate (default 64)
  --timeout_ms N       default per-call timeout when the request sets none (default 1000)
  --bundle FILE        classic script preloaded into every context; its global functions are
                       callable through ExecuteRequest.function
  --snapshot NAME      the snapshot name the bundle answers to (default "bundle"); requests with
                       an empty snapshot get the blank context (inline source only)
  --proto FILE         isopool.proto (default: ../../../proto/isopool/v1/isopool.proto)
  --health_proto FILE  health.proto (default: /usr/share/grpc-proto/grpc/health/v1/health.proto)
Every flag also reads the environment variable PEER_<FLAG> (e.g. PEER_CONTEXT=new); flags win.`;

function parseArgs(argv) {
  const defaults = {
    port: '0',
    context: 'reuse',
    pool: '2',
    memory_limit_mib: '64',
    timeout_ms: '1000',
    bundle: '',
    snapshot: 'bundle',
    proto: path.join(__dirname, '..', '..', '..', 'proto', 'isopool', 'v1', 'isopool.proto'),
    health_proto: '/usr/share/grpc-proto/grpc/health/v1/health.proto',
  };
  const opts = {};
  for (const key of Object.keys(defaults)) {
    const env = process.env['PEER_' + key.toUpperCase()];
    opts[key] = env !== undefined ? env : defaults[key];
  }
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    }
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`);
    arg = arg.slice(2);
    let value;
    const eq = arg.indexOf('=');
    if (eq >= 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    } else {
      value = argv[++i];
    }
    if (!(arg in defaults)) throw new Error(`unknown flag --${arg}`);
    if (value === undefined) throw new Error(`--${arg} needs a value`);
    opts[arg] = value;
  }
  for (const key of ['port', 'pool', 'memory_limit_mib', 'timeout_ms']) {
    const n = Number(opts[key]);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${key} must be a non-negative integer`);
    opts[key] = n;
  }
  if (opts.context !== 'reuse' && opts.context !== 'new') {
    throw new Error('--context must be reuse or new');
  }
  if (opts.pool < 1) throw new Error('--pool must be >= 1');
  return opts;
}

const ScriptErrorKind = {
  SYNTAX: 'SYNTAX',
  EXCEPTION: 'EXCEPTION',
  TIMEOUT: 'TIMEOUT',
  MEMORY_LIMIT: 'MEMORY_LIMIT',
  RESULT_NOT_JSON: 'RESULT_NOT_JSON',
  TERMINATED: 'TERMINATED',
};

// Appended to the bundle: calls a global function with JSON arguments and returns JSON, so that
// values cross the isolate boundary as one string each way. Awaits a returned promise.
const CALL_SHIM = `
;globalThis.__peer_call = function (name, argsJson) {
  const f = globalThis[name];
  if (typeof f !== 'function') throw new TypeError(name + ' is not a function');
  const v = f(...JSON.parse(argsJson));
  const json = (r) => { const s = JSON.stringify(r); return s === undefined ? 'null' : s; };
  return v && typeof v.then === 'function' ? Promise.resolve(v).then(json) : json(v);
};
undefined;`;  // the completion value: a function here would come back as a Reference that pins the context

// One isolate of the pool. `current` resolves to its live generation: the isolate, its compiled
// bundle and (reuse mode) its contexts. A generation whose isolate was disposed (memory limit) is
// replaced once by a new one; calls that follow wait for it.
class Slot {
  constructor(opts, bundleSource) {
    this.opts = opts;
    this.bundleSource = bundleSource;
    this.inFlight = 0;
    this.current = this.create();
  }

  async create() {
    const isolate = new ivm.Isolate({ memoryLimit: this.opts.memory_limit_mib });
    const gen = { isolate, bundle: null, blank: null, loaded: null, call: null, replaced: false };
    // The bundle is evaluated from source in each context (V8's compilation cache makes the
    // repeated compile cheap). Its completion value must not be an object: isolated-vm would hand
    // it back as a Reference that keeps the whole context alive (about 150 KB per call leaked in
    // new-context mode until the memory limit killed the isolate).
    if (this.bundleSource) gen.bundle = this.bundleSource + CALL_SHIM;
    if (this.opts.context === 'reuse') {
      gen.blank = await isolate.createContext();
      if (gen.bundle) {
        gen.loaded = await isolate.createContext();
        await gen.loaded.eval(gen.bundle, { timeout: 10000, filename: 'bundle.js' });
        gen.call = await gen.loaded.global.get('__peer_call', { reference: true });
      }
    }
    return gen;
  }

  replace(gen) {
    if (gen.replaced) return;
    gen.replaced = true;
    this.current = this.create();
  }
}

// Returns [context, call shim reference, release] of `gen`: the reused context, or a fresh one
// (with the bundle run in it) to release after the call.
async function contextOf(gen, mode, withBundle) {
  if (mode === 'reuse') return withBundle ? [gen.loaded, gen.call, () => {}] : [gen.blank, null, () => {}];
  const ctx = await gen.isolate.createContext();
  let call = null;
  if (withBundle) {
    await ctx.eval(gen.bundle, { timeout: 10000, filename: 'bundle.js' });
    call = await ctx.global.get('__peer_call', { reference: true });
  }
  return [ctx, call, () => {
    if (call) call.release();
    ctx.release();
  }];
}

// Maps an isolated-vm failure to an isopool ScriptError kind. `isolate` is the one the call ran on.
function classify(err, isolate) {
  const message = err && err.message ? String(err.message) : String(err);
  if (/disposed during execution due to memory limit/i.test(message)) {
    return { kind: ScriptErrorKind.MEMORY_LIMIT, message, condemned: true };
  }
  // Another call on the same isolate hit the memory limit: this one never got to run.
  if (isolate.isDisposed) return { kind: ScriptErrorKind.TERMINATED, message, bystander: true };
  if (/timed out/i.test(message)) return { kind: ScriptErrorKind.TIMEOUT, message };
  if (err && err.name === 'SyntaxError') return { kind: ScriptErrorKind.SYNTAX, message };
  return { kind: ScriptErrorKind.EXCEPTION, message, stack: String((err && err.stack) || '') };
}

class Pool {
  constructor(opts, bundleSource) {
    this.opts = opts;
    this.slots = [];
    for (let i = 0; i < opts.pool; i++) this.slots.push(new Slot(opts, bundleSource));
    this.hasBundle = Boolean(bundleSource);
  }

  ready() {
    return Promise.all(this.slots.map((s) => s.current));
  }

  // The isolate with the fewest calls queued on it (isolated-vm runs one task per isolate at a
  // time and queues the rest).
  pick() {
    let best = this.slots[0];
    for (const s of this.slots) if (s.inFlight < best.inFlight) best = s;
    return best;
  }

  // Runs the call on generation `gen` of a slot; returns the result as JSON, or throws what isolated-vm threw.
  async runOnce(gen, req, timeout, usedBundle) {
    const [ctx, call, release] = await contextOf(gen, this.opts.context, usedBundle);
    try {
      if (req.call === 'source') {
        const value = await ctx.eval(req.source, { timeout, copy: true, promise: true });
        const json = JSON.stringify(value);
        return json === undefined ? 'null' : json;
      }
      const fn = req.function || {};
      return await call.apply(undefined, [fn.name, fn.args_json || '[]'], {
        arguments: { copy: true },
        result: { copy: true, promise: true },
        timeout,
      });
    } finally {
      if (!gen.isolate.isDisposed) release();
    }
  }

  async execute(req) {
    const started = process.hrtime.bigint();
    const usedBundle = req.snapshot !== '';
    if (usedBundle && (!this.hasBundle || req.snapshot !== this.opts.snapshot)) {
      return { grpcError: { code: grpc.status.NOT_FOUND, details: `unknown snapshot "${req.snapshot}"` } };
    }
    if (req.call !== 'source' && req.call !== 'function') {
      return { grpcError: { code: grpc.status.INVALID_ARGUMENT, details: 'set function or source' } };
    }
    if (req.call === 'function' && !usedBundle) {
      return {
        grpcError: { code: grpc.status.INVALID_ARGUMENT, details: 'the blank snapshot only accepts source' },
      };
    }
    const limits = req.limits || {};
    const timeout = limits.timeout_ms > 0 ? limits.timeout_ms : this.opts.timeout_ms;
    const response = { result_json: '', logs: [], snapshot_id: req.snapshot };
    let condemned = false;
    // A call queued behind one that blew the memory limit dies with the isolate without having
    // run; it is retried (up to twice) on a fresh pick, as a production server would.
    for (let attempt = 0; attempt < 3; attempt++) {
      const slot = this.pick();
      slot.inFlight++;
      let gen = null;
      try {
        gen = await slot.current;
        response.result_json = await this.runOnce(gen, req, timeout, usedBundle);
        delete response.error;
        break;
      } catch (err) {
        if (gen === null) throw err;  // the isolate could not be created: INTERNAL
        const e = classify(err, gen.isolate);
        response.error = { kind: e.kind, message: e.message, stack: e.stack || '' };
        if (gen.isolate.isDisposed) slot.replace(gen);
        if (e.condemned) condemned = true;
        if (!e.bystander) break;
      } finally {
        slot.inFlight--;
      }
    }
    const wallUs = Number((process.hrtime.bigint() - started) / 1000n);
    response.stats = { wall_us: String(wallUs), warm: true, isolate_condemned: condemned };
    return { response };
  }
}

function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`peer: ${err.message}\n${USAGE}`);
    process.exit(2);
  }
  const bundleSource = opts.bundle ? fs.readFileSync(opts.bundle, 'utf8') : '';
  const loaderOptions = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };
  const isopool = grpc.loadPackageDefinition(protoLoader.loadSync(opts.proto, loaderOptions));
  const health = grpc.loadPackageDefinition(protoLoader.loadSync(opts.health_proto, loaderOptions));

  const pool = new Pool(opts, bundleSource);
  const server = new grpc.Server();
  server.addService(isopool.isopool.v1.Isopool.service, {
    Execute(call, callback) {
      pool.execute(call.request).then(
        (out) => (out.grpcError ? callback(out.grpcError) : callback(null, out.response)),
        (err) => callback({ code: grpc.status.INTERNAL, details: String(err && err.message) }),
      );
    },
  });
  const serving = new Set(['', 'isopool.v1.Isopool']);
  server.addService(health.grpc.health.v1.Health.service, {
    Check(call, callback) {
      if (!serving.has(call.request.service)) {
        callback({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
        return;
      }
      callback(null, { status: 'SERVING' });
    },
    Watch(call) {
      call.write({ status: serving.has(call.request.service) ? 'SERVING' : 'SERVICE_UNKNOWN' });
    },
  });

  pool.ready().then(
    () => {
      server.bindAsync(`127.0.0.1:${opts.port}`, grpc.ServerCredentials.createInsecure(), (err, port) => {
        if (err) {
          console.error(`peer: bind failed: ${err.message}`);
          process.exit(1);
        }
        console.log(`LISTENING ${port}`);
        console.error(`peer: context=${opts.context} pool=${opts.pool} memory_limit_mib=${opts.memory_limit_mib}`);
      });
    },
    (err) => {
      console.error(`peer: could not prepare the isolates: ${err.stack || err}`);
      process.exit(1);
    },
  );
  const stop = () => server.tryShutdown(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
