// Renders deploy/k8s (the base, overlays/persistent and overlays/shared-store) with `kubectl kustomize`, validates every
// object against the Kubernetes schemas of the npm package kubernetes-models (the ServiceMonitor
// against @kubernetes-models/prometheus-operator), and checks the rules that tie the manifests to
// the server: gRPC probes on 50051, grace period > drain, memory limit >= budget + overhead,
// hardened security context, emptyDir in the base and a PersistentVolumeClaim in the overlay.
// Then it breaks copies of the rendered base on purpose and checks that each break is caught.
//
//   node validate_k8s.mjs <kubectl> <repo>/deploy/k8s [<repo>/deploy/prometheus/alerts.yml]
//
// With alerts.yml, it also wraps the rule groups in a PrometheusRule (as deploy/README.md tells
// Prometheus-operator users to) and validates that object.
//
// The schemas do not reject unknown fields (kubernetes-models validates types, enums, patterns
// and required fields), so the rules below name every field they rely on.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const GRPC_PORT = 50051;
const METRICS_PORT = 9464;
const UID = 10001;
// Process memory outside the isolates' budget: gRPC, V8 outside the accounted heaps, uploads,
// the isopool_pack child. The container's memory limit must cover budget + this.
const OVERHEAD_MIB = 512;
// Every flag of the service contract, as its env var.
const FLAGS = [
  "listen", "metrics_listen", "data_dir", "memory_budget_mib", "max_isolates", "restore_threads",
  "execute_threads", "drain_grace_seconds", "default_isolation", "default_timeout_ms",
  "max_timeout_ms", "default_heap_mib", "max_heap_mib", "max_upload_bytes",
  "max_concurrent_uploads", "allow_prebuilt_envelopes", "log_level", "v8_flags",
  // Worker processes (service/config.cc).
  "workers", "worker_memory_mib", "unresponsive_grace_ms", "worker_lockdown",
  // The shared snapshot store (service/store_config.cc).
  "snapshot_store", "pg_conninfo", "pg_pool_size", "s3_endpoint", "s3_bucket", "s3_region",
  "s3_prefix", "cache_max_mib", "store_timeout_ms", "store_transfer_timeout_ms",
  "sweep_grace_seconds", "sweep_interval_seconds",
].map((f) => "ISOPOOL_" + f.toUpperCase());

const [kubectl, k8sDir, alertsFile] = process.argv.slice(2);
if (!kubectl || !k8sDir) {
  console.error("usage: node validate_k8s.mjs <kubectl> <repo>/deploy/k8s");
  process.exit(2);
}

function render(dir) {
  const text = execFileSync(kubectl, ["kustomize", dir], { encoding: "utf8" });
  const objs = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(`${dir}: YAML error: ${doc.errors[0].message}`);
    const o = doc.toJS();
    if (o) objs.push(o);
  }
  return objs;
}

// apiVersion/kind -> module that holds its kubernetes-models class.
function modulePath(apiVersion, kind) {
  if (apiVersion.startsWith("monitoring.coreos.com/")) {
    return `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`;
  }
  return `kubernetes-models/${apiVersion}/${kind}`;
}

async function schemaErrors(objs) {
  const errors = [];
  for (const o of objs) {
    const where = `${o.kind}/${o.metadata?.name}`;
    let mod;
    try {
      mod = await import(modulePath(o.apiVersion, o.kind));
    } catch (e) {
      errors.push(`${where}: no kubernetes-models class for ${o.apiVersion} ${o.kind}`);
      continue;
    }
    try {
      new mod[o.kind](o).validate();
    } catch (e) {
      errors.push(`${where}: schema: ${e.message}`);
    }
  }
  return errors;
}

const MEM_UNITS = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
function bytes(q) {
  const m = /^([0-9.]+)([A-Za-z]*)$/.exec(String(q ?? ""));
  if (!m || (m[2] && !(m[2] in MEM_UNITS))) return NaN;
  return Number(m[1]) * (m[2] ? MEM_UNITS[m[2]] : 1);
}
function cores(q) {
  const s = String(q ?? "");
  return s.endsWith("m") ? Number(s.slice(0, -1)) / 1000 : s === "" ? NaN : Number(s);
}
const matches = (selector, labels) =>
  !!selector && Object.keys(selector).length > 0 &&
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

// The consistency rules. mode: "base" (emptyDir, autoscaled) or "persistent" (PVC, one replica).
function ruleErrors(objs, mode) {
  const errors = [];
  const fail = (msg) => errors.push(msg);
  const ofKind = (k) => objs.filter((o) => o.kind === k);
  const one = (k) => {
    const found = ofKind(k);
    if (found.length !== 1) fail(`want exactly one ${k}, found ${found.length}`);
    return found[0];
  };

  const dep = one("Deployment");
  const cm = one("ConfigMap");
  one("PodDisruptionBudget");
  one("ServiceMonitor");
  if (!dep || !cm) return errors;
  const pod = dep.spec?.template ?? {};
  const spec = pod.spec ?? {};
  const c = (spec.containers ?? []).find((x) => x.name === "isopool");
  if (!c) return [...errors, "Deployment has no container named isopool"];
  const env = cm.data ?? {};
  const num = (k) => Number(env[k]);

  // Flags: ConfigMap keys are contract flags, and the container reads that ConfigMap.
  for (const k of Object.keys(env)) {
    if (!FLAGS.includes(k)) fail(`ConfigMap key ${k} is not an isopool flag`);
  }
  for (const k of ["ISOPOOL_MEMORY_BUDGET_MIB", "ISOPOOL_DRAIN_GRACE_SECONDS", "ISOPOOL_MAX_HEAP_MIB"]) {
    if (!Number.isFinite(num(k))) fail(`ConfigMap lacks a number for ${k}`);
  }
  if (!(c.envFrom ?? []).some((e) => e.configMapRef?.name === cm.metadata.name)) {
    fail(`container does not take env from ConfigMap ${cm.metadata.name}`);
  }

  // Ports and probes.
  const ports = Object.fromEntries((c.ports ?? []).map((p) => [p.name, p.containerPort]));
  if (ports.grpc !== GRPC_PORT) fail(`container port "grpc" is ${ports.grpc}, want ${GRPC_PORT}`);
  if (ports.metrics !== METRICS_PORT) fail(`container port "metrics" is ${ports.metrics}, want ${METRICS_PORT}`);
  for (const probe of ["livenessProbe", "readinessProbe"]) {
    if (c[probe]?.grpc?.port !== GRPC_PORT) fail(`${probe} is not a gRPC probe on ${GRPC_PORT}`);
  }
  const drain = num("ISOPOOL_DRAIN_GRACE_SECONDS");
  const live = c.livenessProbe ?? {};
  const liveWindow = (live.periodSeconds ?? 10) * (live.failureThreshold ?? 3);
  if (!(liveWindow > drain)) {
    fail(`liveness gives up after ${liveWindow}s, not longer than the ${drain}s drain (a draining pod would be restarted)`);
  }

  // Shutdown: preStop + drain must fit in the grace period.
  const stop = c.lifecycle?.preStop;
  let preStop = 0;
  if (stop?.sleep) preStop = Number(stop.sleep.seconds);
  else if (stop?.exec) preStop = Number(/sleep\s*(\d+)/.exec(stop.exec.command.join(" "))?.[1] ?? 0);
  const grace = spec.terminationGracePeriodSeconds ?? 30;
  if (!(grace > preStop + drain)) {
    fail(`terminationGracePeriodSeconds ${grace} is not > preStop ${preStop}s + ISOPOOL_DRAIN_GRACE_SECONDS ${drain}s`);
  }

  // Memory and CPU against the flags.
  const budgetMiB = num("ISOPOOL_MEMORY_BUDGET_MIB");
  const limit = bytes(c.resources?.limits?.memory);
  const request = bytes(c.resources?.requests?.memory);
  if (!(limit >= (budgetMiB + OVERHEAD_MIB) * 2 ** 20)) {
    fail(`memory limit ${c.resources?.limits?.memory} is below budget ${budgetMiB}Mi + ${OVERHEAD_MIB}Mi overhead`);
  }
  if (!(request <= limit)) fail(`memory request ${c.resources?.requests?.memory} exceeds the limit`);
  if (!(num("ISOPOOL_MAX_HEAP_MIB") < budgetMiB)) fail("ISOPOOL_MAX_HEAP_MIB is not below the memory budget");
  const cpuReq = cores(c.resources?.requests?.cpu);
  const cpuLim = cores(c.resources?.limits?.cpu);
  if (!(cpuReq > 0)) fail("no CPU request (the HPA's utilisation needs one)");
  if (!(cpuLim >= cpuReq)) fail("CPU limit below the CPU request");
  for (const k of ["ISOPOOL_EXECUTE_THREADS", "ISOPOOL_RESTORE_THREADS"]) {
    if (!(num(k) >= 1 && num(k) <= Math.ceil(cpuLim))) {
      fail(`${k}=${env[k]} is not pinned within the CPU limit (0 would mean the node's cores)`);
    }
  }

  // Security.
  const psc = spec.securityContext ?? {};
  const csc = c.securityContext ?? {};
  if ((csc.runAsNonRoot ?? psc.runAsNonRoot) !== true) fail("runAsNonRoot is not true");
  if ((csc.runAsUser ?? psc.runAsUser) !== UID) fail(`runAsUser is not ${UID}`);
  if (csc.readOnlyRootFilesystem !== true) fail("readOnlyRootFilesystem is not true");
  if (csc.allowPrivilegeEscalation !== false) fail("allowPrivilegeEscalation is not false");
  if (!(csc.capabilities?.drop ?? []).includes("ALL")) fail("capabilities do not drop ALL");
  if ((csc.seccompProfile ?? psc.seccompProfile)?.type !== "RuntimeDefault") fail("seccompProfile is not RuntimeDefault");

  // Writable paths: the data dir and /tmp, from the expected volumes.
  const volumes = Object.fromEntries((spec.volumes ?? []).map((v) => [v.name, v]));
  const mountAt = (path) => volumes[(c.volumeMounts ?? []).find((m) => m.mountPath === path)?.name];
  const data = mountAt("/var/lib/isopool");
  const tmp = mountAt("/tmp");
  if (!tmp?.emptyDir) fail("/tmp is not an emptyDir");
  if (mode === "base") {
    if (!data?.emptyDir) fail("base: /var/lib/isopool is not on an emptyDir");
    if (ofKind("PersistentVolumeClaim").length) fail("base: has a PersistentVolumeClaim");
  } else {
    const claim = data?.persistentVolumeClaim?.claimName;
    if (!claim || data.emptyDir) fail("persistent: /var/lib/isopool is not on a PersistentVolumeClaim");
    else if (!ofKind("PersistentVolumeClaim").some((p) => p.metadata.name === claim)) {
      fail(`persistent: PersistentVolumeClaim ${claim} is not in the overlay`);
    }
  }

  // Scrape annotations for plain Prometheus.
  const ann = pod.metadata?.annotations ?? {};
  if (ann["prometheus.io/scrape"] !== "true" || ann["prometheus.io/port"] !== String(METRICS_PORT)) {
    fail("pod template lacks prometheus.io/scrape=true and prometheus.io/port=9464");
  }

  // Selectors: Services, PDB and ServiceMonitor reach these pods / this Service.
  const podLabels = pod.metadata?.labels;
  if (!matches(dep.spec?.selector?.matchLabels, podLabels)) fail("Deployment selector does not match its pods");
  const svc = ofKind("Service").find((s) => s.spec?.clusterIP !== "None");
  if (!svc) fail("no ClusterIP Service");
  for (const s of ofKind("Service")) {
    if (!matches(s.spec?.selector, podLabels)) fail(`Service ${s.metadata.name} does not select the pods`);
    for (const p of s.spec?.ports ?? []) {
      const target = typeof p.targetPort === "string" ? ports[p.targetPort] : p.targetPort ?? p.port;
      if (target !== p.port) fail(`Service ${s.metadata.name} port ${p.name} goes to ${p.targetPort}, not ${p.port}`);
    }
  }
  if (svc) {
    const byName = Object.fromEntries((svc.spec.ports ?? []).map((p) => [p.name, p.port]));
    if (byName.grpc !== GRPC_PORT || byName.metrics !== METRICS_PORT) {
      fail(`Service ports are ${JSON.stringify(byName)}, want grpc ${GRPC_PORT} and metrics ${METRICS_PORT}`);
    }
  }
  for (const pdb of ofKind("PodDisruptionBudget")) {
    if (!matches(pdb.spec?.selector?.matchLabels, podLabels)) fail("PodDisruptionBudget does not select the pods");
  }
  for (const sm of ofKind("ServiceMonitor")) {
    if (!svc || !matches(sm.spec?.selector?.matchLabels, svc.metadata.labels)) fail("ServiceMonitor does not select the Service");
    if (!(sm.spec?.endpoints ?? []).some((e) => e.port === "metrics")) fail("ServiceMonitor does not scrape port metrics");
  }

  // Scaling.
  const hpas = ofKind("HorizontalPodAutoscaler");
  if (mode === "base") {
    const hpa = hpas[0];
    if (hpas.length !== 1) fail(`base: want one HorizontalPodAutoscaler, found ${hpas.length}`);
    else {
      if (hpa.apiVersion !== "autoscaling/v2") fail("HPA is not autoscaling/v2");
      const ref = hpa.spec?.scaleTargetRef;
      if (ref?.kind !== "Deployment" || ref?.name !== dep.metadata.name) fail("HPA does not target the Deployment");
      if (!(hpa.spec?.metrics ?? []).some((m) => m.resource?.name === "cpu")) fail("HPA does not scale on CPU");
      if ("replicas" in dep.spec) fail("base: Deployment sets replicas while an HPA owns the count");
    }
  } else {
    if (hpas.length) fail("persistent: an HPA would scale a single-volume Deployment");
    if (dep.spec.replicas !== 1) fail("persistent: replicas is not 1");
    if (dep.spec.strategy?.type !== "Recreate") fail("persistent: strategy is not Recreate (RWO volume)");
  }
  return errors;
}

// overlays/shared-store: the server objects follow the base's rules; the router and the
// shared store's settings follow these.
const isRouter = (o) =>
  o.metadata?.labels?.["app.kubernetes.io/component"] === "router" ||
  (o.kind === "ConfigMap" && o.metadata?.name?.startsWith("isopool-router"));
function sharedErrors(objs) {
  const errors = [];
  const fail = (msg) => errors.push(msg);
  const server = objs.find((o) => o.kind === "Deployment" && !isRouter(o));
  const cm = objs.find((o) => o.kind === "ConfigMap" && !isRouter(o));
  const env = cm?.data ?? {};
  if (env.ISOPOOL_SNAPSHOT_STORE !== "shared") fail("ISOPOOL_SNAPSHOT_STORE is not shared");
  for (const k of ["ISOPOOL_PG_CONNINFO", "ISOPOOL_S3_ENDPOINT", "ISOPOOL_S3_BUCKET"]) {
    if (!env[k]) fail(`ConfigMap lacks ${k}`);
  }
  if (/password/i.test(env.ISOPOOL_PG_CONNINFO ?? "")) fail("a password in the ConfigMap");
  const c = server?.spec?.template?.spec?.containers?.find((x) => x.name === "isopool");
  const fromSecret = Object.fromEntries(
    (c?.env ?? []).filter((e) => e.valueFrom?.secretKeyRef).map((e) => [e.name, e.valueFrom.secretKeyRef.name]));
  for (const k of ["ISOPOOL_HASH_SEED", "ISOPOOL_S3_ACCESS_KEY", "ISOPOOL_S3_SECRET_KEY", "PGPASSWORD"]) {
    if (!fromSecret[k]) fail(`${k} does not come from a Secret`);
  }
  const cacheMiB = Number(env.ISOPOOL_CACHE_MAX_MIB);
  const data = (server?.spec?.template?.spec?.volumes ?? []).find((v) => v.name === "data");
  if (!(cacheMiB > 0 && cacheMiB * 2 ** 20 < bytes(data?.emptyDir?.sizeLimit))) {
    fail(`ISOPOOL_CACHE_MAX_MIB ${env.ISOPOOL_CACHE_MAX_MIB} does not fit the data emptyDir`);
  }
  const router = objs.find((o) => o.kind === "Deployment" && isRouter(o));
  const routerCm = objs.find((o) => o.kind === "ConfigMap" && isRouter(o));
  const cfg = routerCm?.data?.["haproxy.cfg"] ?? "";
  if (!router) fail("no router Deployment");
  if (!/balance\s+hdr\(x-isopool-snapshot\)/.test(cfg)) fail("router does not hash x-isopool-snapshot");
  if (!/hash-type\s+consistent/.test(cfg)) fail("router hashing is not consistent");
  if (!/proto h2/.test(cfg)) fail("router does not speak h2 (gRPC)");
  const mounted = router?.spec?.template?.spec?.volumes?.some((v) => v.configMap?.name === routerCm?.metadata?.name);
  if (!mounted) fail("router does not mount its haproxy.cfg ConfigMap");
  const svc = objs.find((o) => o.kind === "Service" && isRouter(o));
  if (!svc || !matches(svc.spec?.selector, router?.spec?.template?.metadata?.labels)) {
    fail("no Service selects the router pods");
  }
  return errors;
}

async function check(name, objs, mode) {
  const rules = mode === "shared"
    ? [...ruleErrors(objs.filter((o) => !isRouter(o)), "base"), ...sharedErrors(objs)]
    : ruleErrors(objs, mode);
  return [...(await schemaErrors(objs)), ...rules].map((e) => `${name}: ${e}`);
}

let failed = 0;
const renders = {
  base: render(`${k8sDir}/base`),
  persistent: render(`${k8sDir}/overlays/persistent`),
  shared: render(`${k8sDir}/overlays/shared-store`),
};
for (const [mode, objs] of Object.entries(renders)) {
  const errors = await check(mode, objs, mode);
  errors.forEach((e) => console.log("FAIL " + e));
  failed += errors.length;
  console.log(`${mode}: ${objs.length} objects (${objs.map((o) => o.kind).join(", ")}): ${errors.length ? "FAILED" : "ok"}`);
}

if (alertsFile) {
  const groups = parseAllDocuments(readFileSync(alertsFile, "utf8"))[0].toJS().groups;
  const rule = {
    apiVersion: "monitoring.coreos.com/v1",
    kind: "PrometheusRule",
    metadata: { name: "isopool" },
    spec: { groups },
  };
  const errors = await schemaErrors([rule]);
  const alerts = groups.flatMap((g) => g.rules.map((r) => r.alert));
  errors.forEach((e) => console.log("FAIL alerts.yml as PrometheusRule: " + e));
  failed += errors.length;
  console.log(`PrometheusRule from alerts.yml (${alerts.join(", ")}): ${errors.length ? "FAILED" : "ok"}`);
}

// Negative controls: each break of the rendered base must be reported with the given words.
const breaks = [
  ["schema: wrong type", (o) => (dep(o).spec.template.spec.containers[0].livenessProbe.grpc.port = "grpc"), "schema"],
  ["schema: bad enum", (o) => (svcOf(o).spec.type = "Balancer"), "schema"],
  ["schema: ServiceMonitor interval", (o) => (kind(o, "ServiceMonitor").spec.endpoints[0].interval = "15 seconds"), "schema"],
  ["http probe", (o) => { const c = ctr(o); delete c.livenessProbe.grpc; c.livenessProbe.httpGet = { port: 9464, path: "/" }; }, "livenessProbe is not a gRPC probe"],
  ["probe port", (o) => (ctr(o).readinessProbe.grpc.port = 9464), "readinessProbe is not a gRPC probe"],
  ["short grace", (o) => (dep(o).spec.template.spec.terminationGracePeriodSeconds = 20), "terminationGracePeriodSeconds"],
  ["long drain", (o) => (kind(o, "ConfigMap").data.ISOPOOL_DRAIN_GRACE_SECONDS = "40"), "terminationGracePeriodSeconds"],
  ["small memory", (o) => (ctr(o).resources.limits.memory = "1Gi"), "memory limit"],
  ["bigger budget", (o) => (kind(o, "ConfigMap").data.ISOPOOL_MEMORY_BUDGET_MIB = "2048"), "memory limit"],
  ["flag typo", (o) => (kind(o, "ConfigMap").data.ISOPOOL_MEMORY_BUDGET = "1024"), "not an isopool flag"],
  ["writable root", (o) => (ctr(o).securityContext.readOnlyRootFilesystem = false), "readOnlyRootFilesystem"],
  ["escalation", (o) => delete ctr(o).securityContext.allowPrivilegeEscalation, "allowPrivilegeEscalation"],
  ["root", (o) => { ctr(o).securityContext.runAsUser = 0; }, "runAsUser"],
  ["data on PVC in base", (o) => { const v = dep(o).spec.template.spec.volumes.find((x) => x.name === "data"); delete v.emptyDir; v.persistentVolumeClaim = { claimName: "x" }; }, "emptyDir"],
  ["no scrape annotation", (o) => delete dep(o).spec.template.metadata.annotations["prometheus.io/scrape"], "prometheus.io/scrape"],
  ["service selector", (o) => (svcOf(o).spec.selector = { app: "other" }), "does not select the pods"],
  ["metrics port", (o) => (svcOf(o).spec.ports.find((p) => p.name === "metrics").port = 9090), "Service ports"],
  ["no hpa", (o) => o.splice(o.findIndex((x) => x.kind === "HorizontalPodAutoscaler"), 1), "HorizontalPodAutoscaler"],
  ["threads from node", (o) => (kind(o, "ConfigMap").data.ISOPOOL_EXECUTE_THREADS = "0"), "ISOPOOL_EXECUTE_THREADS"],
];
function kind(objs, k) { return objs.find((o) => o.kind === k); }
function dep(objs) { return kind(objs, "Deployment"); }
function ctr(objs) { return dep(objs).spec.template.spec.containers[0]; }
function svcOf(objs) { return objs.find((o) => o.kind === "Service" && o.spec.clusterIP !== "None"); }

for (const [name, mutate, expect] of breaks) {
  const copy = structuredClone(renders.base);
  mutate(copy);
  const errors = await check("base", copy, "base");
  if (!errors.some((e) => e.includes(expect))) {
    console.log(`FAIL negative control "${name}": want an error with "${expect}", got ${JSON.stringify(errors)}`);
    failed++;
  }
}
// The overlay's own rules, broken.
{
  const copy = structuredClone(renders.persistent);
  copy.splice(copy.findIndex((x) => x.kind === "PersistentVolumeClaim"), 1);
  const errors = await check("persistent", copy, "persistent");
  if (!errors.some((e) => e.includes("is not in the overlay"))) {
    console.log(`FAIL negative control "missing PVC": got ${JSON.stringify(errors)}`);
    failed++;
  }
}
// The shared-store overlay's rules, broken.
const sharedBreaks = [
  ["round-robin router", (o) => {
    const cm = o.find((x) => x.kind === "ConfigMap" && isRouter(x));
    cm.data["haproxy.cfg"] = cm.data["haproxy.cfg"].replace(/balance hdr\(x-isopool-snapshot\)/, "balance roundrobin");
  }, "does not hash x-isopool-snapshot"],
  ["hash seed in the clear", (o) => {
    const c = o.find((x) => x.kind === "Deployment" && !isRouter(x)).spec.template.spec.containers[0];
    c.env = c.env.filter((e) => e.name !== "ISOPOOL_HASH_SEED");
  }, "ISOPOOL_HASH_SEED does not come from a Secret"],
  ["fs store", (o) => (o.find((x) => x.kind === "ConfigMap" && !isRouter(x)).data.ISOPOOL_SNAPSHOT_STORE = "fs"), "is not shared"],
];
for (const [name, mutate, expect] of sharedBreaks) {
  const copy = structuredClone(renders.shared);
  mutate(copy);
  const errors = await check("shared", copy, "shared");
  if (!errors.some((e) => e.includes(expect))) {
    console.log(`FAIL negative control "${name}": want an error with "${expect}", got ${JSON.stringify(errors)}`);
    failed++;
  }
}
console.log(`negative controls: ${breaks.length + 1 + sharedBreaks.length} breaks tried`);

console.log(failed ? `${failed} problem(s)` : "all Kubernetes objects valid and consistent");
process.exit(failed ? 1 : 0);
