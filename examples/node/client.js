#!/usr/bin/env node
// An isopool client in Node that uses only the .proto files (no generated code):
//   1. checks grpc.health.v1 (SERVING),
//   2. uploads ../bundle/stats.mjs as an ES module snapshot (client streaming, 64 KiB chunks),
//   3. executes its `summarize` export with JSON arguments and prints the result.
// Exits non-zero on any failure.
//
//   npm ci && node client.js [--addr 127.0.0.1:50051] [--name example-stats]
// The address also comes from $ISOPOOL_ADDR.
"use strict";

const fs = require("fs");
const path = require("path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const HERE = __dirname;
const ISOPOOL_PROTO = process.env.ISOPOOL_PROTO ||
    path.resolve(HERE, "../../proto/isopool/v1/isopool.proto");
const HEALTH_PROTO = process.env.ISOPOOL_HEALTH_PROTO ||
    "/usr/share/grpc-proto/grpc/health/v1/health.proto";
const BUNDLE = path.resolve(HERE, "../bundle/stats.mjs");
const CHUNK_BYTES = 64 << 10;
const DEADLINE_MS = 30000;

function parseArgs(argv) {
  const args = { addr: process.env.ISOPOOL_ADDR || "127.0.0.1:50051", name: "example-stats" };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s);
    const value = () => (inline !== undefined ? inline : argv[++i]);
    if (flag === "--addr") args.addr = value();
    else if (flag === "--name") args.name = value();
    else throw new Error(`unknown argument ${argv[i]}; usage: client.js [--addr HOST:PORT] [--name NAME]`);
  }
  return args;
}

function load(file) {
  const definition = protoLoader.loadSync(file, {
    keepCase: true,   // field names as in the .proto (args_json, result_json)
    longs: String,    // uint64 stats as strings: no precision loss
    enums: String,
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition);
}

const deadline = () => ({ deadline: Date.now() + DEADLINE_MS });

// Unary calls as promises; a failed call rejects with its gRPC status.
// Snapshot affinity: a router in front of several replicas hashes this header, so calls for one
// snapshot reach the replica whose pool is warm (deploy/README.md, "Snapshot affinity").
function affinity(snapshot) {
  const metadata = new grpc.Metadata();
  if (snapshot) metadata.set("x-isopool-snapshot", snapshot);
  return metadata;
}

function unary(client, method, request, snapshot) {
  return new Promise((resolve, reject) => {
    client[method](request, affinity(snapshot), deadline(),
                   (err, response) => (err ? reject(err) : resolve(response)));
  });
}

function upload(client, spec, bytes) {
  return new Promise((resolve, reject) => {
    const call = client.UploadSnapshot(affinity(spec.name), deadline(), (err, response) =>
      err ? reject(err) : resolve(response));
    call.write({ spec });  // the first message is the spec, the rest are chunks
    for (let offset = 0; offset < bytes.length; offset += CHUNK_BYTES) {
      call.write({ chunk: bytes.subarray(offset, offset + CHUNK_BYTES) });
    }
    call.end();
  });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const isopool = load(ISOPOOL_PROTO).isopool.v1;
  const health = load(HEALTH_PROTO).grpc.health.v1;
  const credentials = grpc.credentials.createInsecure();  // isopool listens in plaintext today
  const healthClient = new health.Health(args.addr, credentials);
  const client = new isopool.Isopool(args.addr, credentials);

  const status = await unary(healthClient, "Check", { service: "isopool.v1.Isopool" });
  if (status.status !== "SERVING") throw new Error(`server at ${args.addr} is ${status.status}`);
  console.log(`health: ${status.status} (${args.addr})`);

  const uploaded = await upload(client, { name: args.name, kind: "ES_MODULE" },
                                fs.readFileSync(BUNDLE));
  const snapshot = uploaded.snapshot;
  console.log(`uploaded ${snapshot.name}: ${snapshot.id} (${snapshot.blob_bytes} bytes of ` +
              `snapshot, ${uploaded.created ? "new" : "already stored"})`);

  const numbers = [4, 8, 15, 16, 23, 42];
  const response = await unary(client, "Execute", {
    snapshot: args.name,
    function: { name: "summarize", args_json: JSON.stringify([numbers]) },
    limits: { timeout_ms: 1000 },
  }, args.name);
  for (const line of response.logs) console.log(`  [${line.level}] ${line.message}`);
  if (response.error) {
    throw new Error(`script error ${response.error.kind}: ${response.error.message}\n` +
                    response.error.stack);
  }
  const result = JSON.parse(response.result_json);
  console.log(`summarize(${JSON.stringify(numbers)}) = ${JSON.stringify(result)}`);
  console.log(`  wall ${response.stats.wall_us} us, queue ${response.stats.queue_wait_us} us, ` +
              `warm ${response.stats.warm}`);
  // The example checks its own answer, so a broken server cannot pass for a working one.
  if (result.sum !== 108 || result.median !== 15.5 || result.count !== 6) {
    throw new Error(`unexpected result ${response.result_json}`);
  }
  healthClient.close();
  client.close();
}

main().catch((err) => {
  const code = err.code !== undefined ? ` (gRPC ${grpc.status[err.code] || err.code})` : "";
  console.error(`client.js: ${err.details || err.message}${code}`);
  process.exit(1);
});
