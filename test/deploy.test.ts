// The deployment files (deploy/, .dockerignore) checked without a container engine or a cluster: each file by a
// validator made for it (dockerfile-utils for the Dockerfiles, dclint and its Compose Specification schema for
// compose, kubernetes-models' OpenAPI schemas and TypeScript types for the manifests and KEDA's CRDs), then our
// own rules and the agreement of every file with the code (settings, ports, probe paths, queue names, the files
// the service reads at run time). Every check is also run on a broken copy that it must refuse.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { parseAllDocuments, parseDocument } from "yaml";
import { DCLinter } from "dclint";
import { validate as lintDockerfile } from "dockerfile-utils";
import { Copy, DockerfileParser, Env, type Instruction } from "dockerfile-ast";
import ts from "typescript";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { PersistentVolumeClaim } from "kubernetes-models/v1/PersistentVolumeClaim";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import { TriggerAuthentication } from "@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication";
import { loadConfig, SETTINGS_HELP, type Environment } from "../src/config.js";
import { generatedResourcesDir } from "../src/fhir/profileValidation.js";
import { BUNDLED_MODEL_DIR } from "../src/inference/modelLocation.js";
import { REPORT_JOB_QUEUE } from "../src/jobs/redisDispatch.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const DEPLOY = path.join(ROOT, "deploy");
const K8S = path.join(DEPLOY, "kubernetes");
const KNOWN_SETTINGS = new Set(SETTINGS_HELP.map(([name]) => name));
/** The defaults the code has for the ports, as the service itself computes them. */
const DEFAULTS = loadConfig({});

const read = (file: string) => readFileSync(path.join(ROOT, file), "utf8");
const clone = <T>(value: T): T => structuredClone(value);
const problemsMatching = (problems: string[], pattern: RegExp) => problems.filter((p) => pattern.test(p));

type Json = Record<string, unknown>;
const obj = (value: unknown): Json => (value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Json) : {});
const arr = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const str = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);

/** Problems loading the environment a container would get, as the service does at start (ConfigError lists them). */
function configProblems(where: string, env: Environment): string[] {
  const unknown = Object.keys(env).filter((name) => name.startsWith("TRRG_") && !KNOWN_SETTINGS.has(name));
  const problems = unknown.map((name) => `${where}: ${name} is not a setting of src/config.ts`);
  try {
    loadConfig(env);
  } catch (error) {
    problems.push(`${where}: the service would refuse this configuration: ${(error as Error).message}`);
  }
  return problems;
}

/** A setting's value as the service sees it: the environment's, else the code's default. */
function effectivePort(env: Environment, name: "TRRG_PORT" | "TRRG_WORKER_PORT"): number {
  const value = env[name];
  if (value !== undefined) return Number(value);
  return name === "TRRG_PORT" ? DEFAULTS.http.port : DEFAULTS.jobs.workerPort;
}

/** The container user of both images; compose and the pods must name the same. */
const IMAGE_UID = 10001;

/** Names that must never carry a value in an image or a plain environment list. */
const SECRET_NAME = /PASSWORD|SECRET|TOKEN|BEARER|PRIVATE|CREDENTIAL/i;
/** A URL that holds a password (user:password@host). */
const URL_WITH_PASSWORD = /:\/\/[^/\s:@]*:[^/\s@]+@/;
/** A setting that would hold a secret itself (a *_FILE setting only names where one lies). */
const isSecretName = (name: string) => SECRET_NAME.test(name) && !/_FILE$/.test(name);

// ---------------------------------------------------------------------------------------------------------------
// .dockerignore

/** A minimal .dockerignore matcher (Go filepath.Match patterns, `**`, `!` exceptions; the last match wins). */
function dockerIgnored(patterns: string[], file: string): boolean {
  const toRegex = (pattern: string) =>
    new RegExp(
      `^${pattern
        .replace(/^\/+|\/+$/g, "")
        .split(/(\*\*\/|\*\*|\*|\?)/)
        .map((part) =>
          part === "**/" ? "(?:.*/)?" : part === "**" ? ".*" : part === "*" ? "[^/]*" : part === "?" ? "[^/]" : part.replace(/[.+^${}()|[\]\\]/g, "\\$&"),
        )
        .join("")}$`,
    );
  const segments = path.posix.normalize(file).replace(/^\.\/|\/+$/g, "").split("/");
  let ignored = false;
  for (const raw of patterns) {
    const negated = raw.startsWith("!");
    const regex = toRegex(negated ? raw.slice(1) : raw);
    // A pattern that matches a folder excludes everything below it.
    if (segments.some((_, i) => regex.test(segments.slice(0, i + 1).join("/")))) ignored = !negated;
  }
  return ignored;
}

const dockerignorePatterns = (text: string) =>
  text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));

// ---------------------------------------------------------------------------------------------------------------
// Dockerfiles

interface DockerfileRules {
  /** The default command of the image: serve (CPU) or worker (CUDA). */
  command: "serve" | "worker";
  cuda: boolean;
}

interface Stage {
  name: string | undefined;
  image: string;
  instructions: Instruction[];
}

function stagesOf(text: string): { stages: Stage[]; args: Map<string, string> } {
  const dockerfile = DockerfileParser.parse(text);
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    const keyword = instruction.getKeyword();
    const words = instruction.getArguments().map((a) => a.getValue());
    if (keyword === "FROM") {
      const image = (words[0] ?? "").replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => args.get(a ?? b ?? "") ?? "");
      const as = words.findIndex((w) => w.toUpperCase() === "AS");
      stages.push({ name: as >= 0 ? words[as + 1] : undefined, image, instructions: [] });
    } else if (stages.length === 0) {
      if (keyword === "ARG") for (const word of words) args.set(word.split("=")[0] ?? "", word.split("=").slice(1).join("="));
    } else {
      stages[stages.length - 1]!.instructions.push(instruction);
    }
  }
  return { stages, args };
}

/** Our rules for an image of this service; [] when the Dockerfile keeps them all. */
function dockerfileProblems(text: string, rules: DockerfileRules, dockerignore: string[]): string[] {
  const problems = lintDockerfile(text).map((d) => `dockerfile-utils, line ${d.range.start.line + 1}: ${d.message}`);
  const { stages } = stagesOf(text);
  if (stages.length < 2) return [...problems, "not a multi-stage build (a build stage and a runtime stage)"];
  const final = stages[stages.length - 1]!;
  const buildStages = new Map(stages.slice(0, -1).flatMap((s) => (s.name ? [[s.name, s] as const] : [])));
  const of = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.getKeyword() === keyword);
  const content = (i: Instruction) => i.getArgumentsContent() ?? "";

  // The build stage: the compilers better-sqlite3 needs, a clean install, the build, dev dependencies pruned.
  const build = buildStages.get("build");
  if (!build) {
    problems.push('no stage named "build"');
  } else {
    const runs = of(build, "RUN").map(content).join("\n");
    for (const tool of ["python3", "make", "g++"]) if (!new RegExp(`\\b${tool.replace("+", "\\+")}(\\s|$)`).test(runs)) problems.push(`the build stage does not install ${tool}`);
    for (const step of ["npm ci", "npm run build", "npm prune --omit=dev"]) if (!runs.includes(step)) problems.push(`the build stage does not run ${step}`);
    const npmrcCopied = build.instructions.findIndex((i) => i.getKeyword() === "COPY" && /(^|\s)\.npmrc(\s|$)/.test(content(i)));
    const npmCi = build.instructions.findIndex((i) => i.getKeyword() === "RUN" && content(i).includes("npm ci"));
    if (npmrcCopied < 0 || npmrcCopied > npmCi) problems.push(".npmrc (onnxruntime-node-install) is not copied before npm ci");
    const cudaInstall = /ONNXRUNTIME_NODE_INSTALL=\S*cuda/.test(runs) || /ONNXRUNTIME_NODE_INSTALL=\$\{?ORT_INSTALL/.test(runs);
    if (rules.cuda && !cudaInstall) problems.push("the CUDA build does not install onnxruntime-node's CUDA provider (ONNXRUNTIME_NODE_INSTALL)");
    if (!rules.cuda && /ONNXRUNTIME_NODE_INSTALL/.test(runs)) problems.push("the CPU build overrides onnxruntime-node-install=skip");
  }

  // What the build stage copies from the context, and what the runtime stage takes from the build stage.
  const copiedIntoBuild = new Set<string>();
  for (const stage of stages) {
    for (const copy of of(stage, "COPY")) {
      if (!(copy instanceof Copy)) continue;
      const words = copy.getArguments().map((a) => a.getValue());
      const sources = words.slice(0, -1);
      const from = copy.getFromFlag()?.getValue() ?? undefined;
      for (const source of sources) {
        if (from === undefined) {
          if (!existsSync(path.join(ROOT, source))) problems.push(`COPY ${source}: no such file in the repository`);
          else if (dockerIgnored(dockerignore, source)) problems.push(`COPY ${source}: excluded from the build context by .dockerignore`);
          if (stage === build) copiedIntoBuild.add(path.posix.normalize(source));
        } else if (from === "build") {
          const relative = path.posix.relative("/src", source);
          if (relative.startsWith("..")) problems.push(`COPY --from=build ${source}: outside the build stage's /src`);
          else if (!/^(dist|node_modules)(\/|$)/.test(relative) && ![...copiedIntoBuild].some((c) => relative === c || relative.startsWith(`${c}/`))) {
            problems.push(`COPY --from=build ${source}: the build stage neither makes nor copies it`);
          }
        } else if (!buildStages.has(from)) {
          problems.push(`COPY --from=${from}: no such stage`);
        }
      }
    }
  }
  // The files the service reads at run time (src/inference/modelLocation.ts, src/fhir/profileValidation.ts).
  const runtimeSources = of(final, "COPY").flatMap((c) => c.getArguments().slice(0, -1).map((a) => path.posix.relative("/src", a.getValue())));
  for (const needed of ["package.json", "node_modules", "dist/src", path.relative(ROOT, BUNDLED_MODEL_DIR), path.relative(ROOT, generatedResourcesDir())]) {
    if (!runtimeSources.includes(needed.split(path.sep).join("/"))) problems.push(`the runtime stage does not copy ${needed}, which the service reads at run time`);
  }

  // The runtime stage: base image, a fixed non-root user, health, ports, entry point, a data volume.
  const wantedBase = rules.cuda ? /^nvidia\/cuda:[\w.-]*cudnn[\w.-]*runtime/ : /^node:20-bookworm-slim$/;
  if (!wantedBase.test(final.image)) problems.push(`the runtime stage is FROM ${final.image}, expected ${wantedBase}`);
  const user = of(final, "USER").at(-1);
  const [uid, gid] = (user ? content(user) : "").split(":");
  if (!user) problems.push("the runtime stage has no USER: it would run as root");
  else if (!/^\d+$/.test(uid ?? "") || Number(uid) === 0 || (gid !== undefined && (!/^\d+$/.test(gid) || Number(gid) === 0))) {
    problems.push(`USER ${content(user)}: expected a numeric non-root UID:GID (Kubernetes runAsNonRoot checks numbers)`);
  }
  const healthcheck = of(final, "HEALTHCHECK").at(-1);
  if (!healthcheck || !/\/healthz\b/.test(content(healthcheck))) problems.push("the runtime stage has no HEALTHCHECK against /healthz");
  const exposed = of(final, "EXPOSE").flatMap((e) => e.getArguments().map((a) => Number(a.getValue().split("/")[0])));
  for (const port of [DEFAULTS.http.port, DEFAULTS.jobs.workerPort]) if (!exposed.includes(port)) problems.push(`EXPOSE lacks ${port}`);
  const execForm = (keyword: string) => {
    const instruction = of(final, keyword).at(-1);
    try {
      return instruction ? (JSON.parse(content(instruction)) as unknown) : undefined;
    } catch {
      return content(instruction!);
    }
  };
  if (JSON.stringify(execForm("ENTRYPOINT")) !== JSON.stringify(["node", "dist/src/main.js"])) problems.push('ENTRYPOINT is not ["node", "dist/src/main.js"] (exec form)');
  if (JSON.stringify(execForm("CMD")) !== JSON.stringify([rules.command])) problems.push(`CMD is not ["${rules.command}"]`);
  const env: Environment = {};
  for (const stage of stages) {
    for (const instruction of [...of(stage, "ENV"), ...of(stage, "ARG")]) {
      const properties = instruction instanceof Env ? instruction.getProperties().map((p) => [p.getName(), p.getValue() ?? ""] as const) : instruction.getArguments().map((a) => a.getValue().split("=") as [string, string?]);
      for (const [name, value = ""] of properties) {
        if (isSecretName(name)) problems.push(`${instruction.getKeyword()} ${name}: a secret must not be baked into the image`);
        if (URL_WITH_PASSWORD.test(value)) problems.push(`${instruction.getKeyword()} ${name}: holds a URL with a password`);
        if (stage === final && instruction.getKeyword() === "ENV") env[name] = value;
      }
    }
  }
  problems.push(...configProblems("the image's ENV", env));
  if (env.TRRG_HOST !== "0.0.0.0") problems.push("ENV TRRG_HOST is not 0.0.0.0: the service would listen on the container's loopback only");
  const dataDir = env.TRRG_DATA_DIR;
  const volumes = of(final, "VOLUME").map(content).join(" ");
  if (!dataDir || !volumes.includes(dataDir)) problems.push("the data folder (TRRG_DATA_DIR) is not a VOLUME");
  if (rules.cuda && !(env.TRRG_EXECUTION_PROVIDERS ?? "").split(",").includes("cuda")) problems.push("the CUDA image does not set TRRG_EXECUTION_PROVIDERS to use cuda");
  return problems;
}

describe("container images (deploy/Dockerfile, deploy/Dockerfile.cuda)", () => {
  const dockerignore = dockerignorePatterns(read(".dockerignore"));
  const cpu = read("deploy/Dockerfile");
  const cuda = read("deploy/Dockerfile.cuda");

  it("keep every rule: multi-stage, non-root numeric USER, HEALTHCHECK, no secrets, the entry point, existing COPY sources", () => {
    expect(dockerfileProblems(cpu, { command: "serve", cuda: false }, dockerignore)).toEqual([]);
    expect(dockerfileProblems(cuda, { command: "worker", cuda: true }, dockerignore)).toEqual([]);
  });

  it("run as the same UID as the compose services and the Kubernetes pods", () => {
    for (const text of [cpu, cuda]) {
      const { stages } = stagesOf(text);
      const user = stages.at(-1)!.instructions.filter((i) => i.getKeyword() === "USER").at(-1)?.getArgumentsContent();
      expect(user).toBe(`${IMAGE_UID}:${IMAGE_UID}`);
    }
  });

  it("refuse broken copies: the linter and each rule fail", () => {
    const check = (text: string) => dockerfileProblems(text, { command: "serve", cuda: false }, dockerignore);
    expect(problemsMatching(check(cpu.replace("--interval=30s", "--intervl=30s")), /dockerfile-utils.*intervl/)).toHaveLength(1);
    expect(check(cpu.replace(/^FROM \$\{BUILD_IMAGE\} AS build$/m, "FROM ${BUILD_IMAGE}").replace(/^FROM \$\{RUNTIME_IMAGE\} AS runtime$/m, "WORKDIR /x"))).toContain("not a multi-stage build (a build stage and a runtime stage)");
    expect(check(cpu.replace("USER 10001:10001", "USER root"))).toContain("USER root: expected a numeric non-root UID:GID (Kubernetes runAsNonRoot checks numbers)");
    expect(check(cpu.replace("USER 10001:10001\n", ""))).toContain("the runtime stage has no USER: it would run as root");
    expect(check(cpu.replace(/^HEALTHCHECK[^\n]*\n[^\n]*\n/m, ""))).toContain("the runtime stage has no HEALTHCHECK against /healthz");
    expect(check(cpu.replace("TRRG_DATA_DIR=/data", "TRRG_DATA_DIR=/data \\\n    POSTGRES_PASSWORD=hunter2"))).toContain("ENV POSTGRES_PASSWORD: a secret must not be baked into the image");
    expect(check(cpu.replace("TRRG_DATA_DIR=/data", "TRRG_DATA_DIR=/data \\\n    TRRG_DATABASE_URL=postgres://trrg:hunter2@db/trrg"))).toContain("ENV TRRG_DATABASE_URL: holds a URL with a password");
    expect(check(cpu.replace("TRRG_DATA_DIR=/data", "TRRG_DATA_DIR=/data \\\n    TRRG_NO_SUCH_SETTING=1"))).toContain("the image's ENV: TRRG_NO_SUCH_SETTING is not a setting of src/config.ts");
    expect(check(cpu.replace('ENTRYPOINT ["node", "dist/src/main.js"]', 'ENTRYPOINT ["node", "src/main.ts"]'))).toContain('ENTRYPOINT is not ["node", "dist/src/main.js"] (exec form)');
    expect(check(cpu.replace("COPY src ./src", "COPY sources ./src"))).toContain("COPY sources: no such file in the repository");
    expect(check(cpu.replace("COPY src ./src", "COPY test ./test"))).toContain("COPY test: excluded from the build context by .dockerignore");
    expect(check(cpu.replace(/^COPY --from=build \/src\/models\/trrg-mini[^\n]*\n/m, ""))).toContain("the runtime stage does not copy models/trrg-mini, which the service reads at run time");
    expect(check(cpu.replace("COPY models ./models", "COPY openapi.yaml ./models.yaml"))).toContain("COPY --from=build /src/models/trrg-mini: the build stage neither makes nor copies it");
    expect(check(cpu.replace(" \\\n && npm prune --omit=dev", ""))).toContain("the build stage does not run npm prune --omit=dev");
    expect(check(cpu.replace("EXPOSE 8080 9464", "EXPOSE 8080"))).toContain(`EXPOSE lacks ${DEFAULTS.jobs.workerPort}`);
    expect(check(cpu.replace("TRRG_HOST=0.0.0.0", "TRRG_HOST=127.0.0.1"))).toContain("ENV TRRG_HOST is not 0.0.0.0: the service would listen on the container's loopback only");
    expect(dockerfileProblems(cuda.replace("ONNXRUNTIME_NODE_INSTALL=${ORT_INSTALL} npm ci", "npm ci"), { command: "worker", cuda: true }, dockerignore)).toContain(
      "the CUDA build does not install onnxruntime-node's CUDA provider (ONNXRUNTIME_NODE_INSTALL)",
    );
  });

  it(".dockerignore keeps secrets, local data and host-built modules out of the build context", () => {
    for (const file of ["node_modules/x", "dist/src/main.js", "data/trrg.sqlite", ".git/HEAD", "deploy/.env", "deploy/secrets/oauth-keys.json", "test/stow.test.ts"]) {
      expect(dockerIgnored(dockerignore, file), file).toBe(true);
    }
    for (const file of ["src/main.ts", "package.json", "package-lock.json", ".npmrc", "models/trrg-mini/manifest.json", "fhir-profiles/fsh-generated/resources"]) {
      expect(dockerIgnored(dockerignore, file), file).toBe(false);
    }
    expect(dockerIgnored(["**/*.pem", "!keep.pem"], "a/b/c.pem")).toBe(true);
    expect(dockerIgnored(["**/*.pem", "!keep.pem"], "keep.pem")).toBe(false);
  });

  it(".npmrc still skips onnxruntime-node's CUDA download for the CPU image and local installs", () => {
    expect(read(".npmrc")).toMatch(/^onnxruntime-node-install=skip$/m);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// compose

const DCLINT_RULES = {
  "no-build-and-image": 2,
  "no-duplicate-container-names": 2,
  "no-duplicate-exported-ports": 2,
  "no-quotes-in-volumes": 2,
  "no-unbound-port-interfaces": 2,
  "no-version-field": 2,
  "require-project-name-field": 2,
  "require-quotes-in-ports": [2, { quoteType: "double" }],
  "service-container-name-regex": 2,
  "service-image-require-explicit-tag": 2,
  // Ordering rules are style only.
  "service-dependencies-alphabetical-order": 0,
  "service-keys-order": 0,
  "service-ports-alphabetical-order": 0,
  "services-alphabetical-order": 0,
  "top-level-properties-order": 0,
};

interface DclintMessage {
  rule: string;
  message: string;
  line: number;
}

function dclint(files: string[]): string[] {
  const linter = new DCLinter({ rules: DCLINT_RULES, quiet: true, debug: false, exclude: [] });
  const results = linter.lintFiles(files, false) as Array<{ filePath: string; messages: DclintMessage[] }>;
  return results.flatMap((r) => r.messages.map((m) => `${path.relative(ROOT, r.filePath)}:${m.line} ${m.rule}: ${m.message}`));
}

/** compose's ${VAR}, ${VAR:-default} and ${VAR:?error} with these values for the variables of deploy/.env. */
function interpolate(text: string, variables: Record<string, string>): string {
  return text.replace(/\$\{(\w+)(?::?([-?])([^}]*))?\}/g, (_, name: string, kind: string | undefined, rest: string | undefined) => {
    const value = variables[name];
    if (value !== undefined && value !== "") return value;
    if (kind === "-") return rest ?? "";
    throw new Error(`compose would refuse: ${name} is not set (${rest ?? ""})`);
  });
}

const COMPOSE_VARIABLES = { POSTGRES_PASSWORD: "example-password" };

function composeOf(text: string): Json {
  const document = parseDocument(text, { merge: true });
  if (document.errors.length > 0) throw new Error(document.errors.map((e) => e.message).join("\n"));
  return obj(document.toJS({ maxAliasCount: 100 }));
}

function serviceEnvironment(service: Json): Record<string, string> {
  const environment = service.environment;
  if (Array.isArray(environment)) {
    return Object.fromEntries(environment.map((entry) => String(entry).split(/=(.*)/s).slice(0, 2) as [string, string]));
  }
  return Object.fromEntries(Object.entries(obj(environment)).map(([k, v]) => [k, v === null ? "" : String(v)]));
}

/** Merges an override file into the base (as compose does for the keys used here: maps merge, the rest replaces). */
function mergeCompose(base: Json, override: Json): Json {
  const merged = clone(base);
  for (const [name, service] of Object.entries(obj(override.services))) {
    const target = obj(obj(merged.services)[name]);
    for (const [key, value] of Object.entries(obj(service))) {
      target[key] = key === "environment" ? { ...serviceEnvironment(target), ...serviceEnvironment({ environment: value }) } : key === "deploy" ? { ...obj(target.deploy), ...obj(value) } : value;
    }
    obj(merged.services)[name] = target;
  }
  return merged;
}

/** The port a healthcheck's `fetch('http://127.0.0.1:PORT/PATH')` asks. */
function healthcheckTarget(service: Json): { port: number; path: string } | undefined {
  const match = /https?:\/\/(?:127\.0\.0\.1|localhost):(\d+)(\/\w+)/.exec(arr(obj(service.healthcheck).test).join(" "));
  return match ? { port: Number(match[1]), path: match[2]! } : undefined;
}

/** Our rules for deploy/compose.yaml (with its GPU override merged when given). */
function composeProblems(compose: Json, composeDir: string, options: { gpu: boolean }): string[] {
  const problems: string[] = [];
  const services = obj(compose.services);
  for (const name of ["api", "worker", "postgres", "redis", "orthanc"]) if (!(name in services)) problems.push(`no ${name} service`);
  const topVolumes = obj(compose.volumes);
  const topSecrets = obj(compose.secrets);
  const topConfigs = obj(compose.configs);
  for (const [name, role, portName] of [["api", "serve", "TRRG_PORT"], ["worker", "worker", "TRRG_WORKER_PORT"]] as const) {
    const service = obj(services[name]);
    const env = serviceEnvironment(service);
    if (JSON.stringify(service.command) !== JSON.stringify([role])) problems.push(`${name}: command is not ["${role}"]`);
    if (service.user !== `${IMAGE_UID}:${IMAGE_UID}`) problems.push(`${name}: user is not ${IMAGE_UID}:${IMAGE_UID}, the image's non-root user`);
    if (service.read_only !== true) problems.push(`${name}: the root filesystem is not read_only`);
    if (!arr(service.tmpfs).includes("/tmp")) problems.push(`${name}: no tmpfs for /tmp on a read-only root`);
    // No secret in the file itself: passwords come from deploy/.env by interpolation, keys from secrets.
    for (const [key, value] of Object.entries(env)) {
      if (isSecretName(key)) problems.push(`${name}: ${key} holds a secret in the environment`);
      if (URL_WITH_PASSWORD.test(value) && !/:\$\{\w+[^}]*\}@/.test(value)) problems.push(`${name}: ${key} holds a URL with a literal password`);
    }
    let resolved: Environment;
    try {
      resolved = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolate(v, COMPOSE_VARIABLES)]));
    } catch (error) {
      problems.push(`${name}: ${(error as Error).message}`);
      continue;
    }
    // Files the service reads: compose secrets at /run/secrets/<name>, configs at their target.
    const mounted = new Map<string, string>();
    for (const secret of arr(service.secrets)) {
      const secretName = str(secret) ?? str(obj(secret).source) ?? "";
      const target = str(obj(secret).target) ?? `/run/secrets/${secretName}`;
      const file = str(obj(topSecrets[secretName]).file);
      if (!file) problems.push(`${name}: secret ${secretName} is not defined with a file`);
      else {
        const host = path.resolve(composeDir, file);
        if (!isGitIgnored(host)) problems.push(`${name}: secret file ${path.relative(ROOT, host)} is not ignored by git`);
        mounted.set(target.startsWith("/") ? target : `/run/secrets/${target}`, host);
      }
    }
    for (const config of arr(service.configs)) {
      const configName = str(config) ?? str(obj(config).source) ?? "";
      const file = str(obj(topConfigs[configName]).file);
      if (!file || !existsSync(path.resolve(composeDir, file))) problems.push(`${name}: config ${configName} has no file in the repository`);
      else mounted.set(str(obj(config).target) ?? `/${configName}`, path.resolve(composeDir, file));
    }
    for (const setting of ["TRRG_AUTH_CLIENTS_FILE", "TRRG_AUTH_KEYS_FILE", "TRRG_DICOMWEB_PEERS_FILE"]) {
      const file = resolved[setting];
      if (file !== undefined && !mounted.has(file)) problems.push(`${name}: ${setting} names ${file}, which no secret or config mounts`);
    }
    // The peers file is read when the configuration loads: give it the repository's copy.
    const peers = resolved.TRRG_DICOMWEB_PEERS_FILE;
    if (peers !== undefined && mounted.has(peers)) resolved.TRRG_DICOMWEB_PEERS_FILE = mounted.get(peers);
    problems.push(...configProblems(name, resolved));
    // The shared instance volume, at the same path everywhere.
    const storage = resolved.TRRG_STORAGE_DIR;
    const volume = arr(service.volumes).map(String).find((v) => v.split(":")[1] === storage);
    if (!storage?.startsWith("/")) problems.push(`${name}: TRRG_STORAGE_DIR is not an absolute path`);
    else if (volume?.split(":")[0] !== "instances" || !("instances" in topVolumes)) problems.push(`${name}: TRRG_STORAGE_DIR ${storage} is not the shared volume "instances"`);
    const dataDir = resolved.TRRG_DATA_DIR;
    if (!dataDir || ![...arr(service.tmpfs).map(String), ...arr(service.volumes).map((v) => String(v).split(":")[1])].includes(dataDir)) problems.push(`${name}: TRRG_DATA_DIR is not writable (no tmpfs or volume)`);
    // The store and the dispatch are the compose services.
    if (!resolved.TRRG_DATABASE_URL || new URL(resolved.TRRG_DATABASE_URL).hostname !== "postgres") problems.push(`${name}: TRRG_DATABASE_URL does not point at the postgres service`);
    if (!resolved.TRRG_REDIS_URL || new URL(resolved.TRRG_REDIS_URL).hostname !== "redis") problems.push(`${name}: TRRG_REDIS_URL does not point at the redis service`);
    for (const dependency of ["postgres", "redis"]) {
      if (obj(obj(service.depends_on)[dependency]).condition !== "service_healthy") problems.push(`${name}: does not wait for ${dependency} to be healthy`);
      if (!obj(services[dependency]).healthcheck) problems.push(`${dependency}: no healthcheck for ${name} to wait on`);
    }
    const target = healthcheckTarget(service);
    const port = effectivePort(resolved, portName);
    if (!target || target.port !== port || !["/healthz", "/readyz"].includes(target.path)) {
      problems.push(`${name}: the healthcheck does not ask /healthz or /readyz on ${portName} (${port})`);
    }
    if (name === "api") {
      const published = arr(service.ports).map(String).map((p) => Number(p.split(":").at(-1)));
      if (!published.every((p) => p === port)) problems.push(`api: a published port is not TRRG_PORT (${port})`);
      if (Number(obj(service.deploy).replicas ?? 1) < 2) problems.push("api: fewer than 2 replicas");
    }
    if (name === "worker") {
      if (arr(service.ports).length > 0) problems.push("worker: publishes ports (it serves only probes and metrics)");
      const providers = (resolved.TRRG_EXECUTION_PROVIDERS ?? "cpu").split(",");
      const devices = arr(obj(obj(obj(service.deploy).resources).reservations).devices).map(obj);
      const gpu = devices.some((d) => arr(d.capabilities).includes("gpu"));
      if (options.gpu && (!gpu || !providers.includes("cuda") || !/cuda/.test(String(service.image)))) {
        problems.push("worker: the GPU override does not reserve a GPU, run the CUDA image and use the cuda provider");
      }
      if (!options.gpu && (gpu || providers.includes("cuda"))) problems.push("worker: the CPU compose file asks for a GPU");
    }
  }
  return problems;
}

function isGitIgnored(file: string): boolean {
  try {
    execFileSync("git", ["check-ignore", "-q", file], { cwd: ROOT, stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("compose (deploy/compose.yaml, deploy/compose.gpu.yaml)", () => {
  const baseFile = path.join(DEPLOY, "compose.yaml");
  const gpuFile = path.join(DEPLOY, "compose.gpu.yaml");
  const base = composeOf(read("deploy/compose.yaml"));
  const gpu = composeOf(read("deploy/compose.gpu.yaml"));
  const scratch = mkdtempSync(path.join(tmpdir(), "trrg-deploy-"));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("pass dclint: the Compose Specification schema and its correctness rules", () => {
    expect(dclint([baseFile, gpuFile])).toEqual([]);
  });

  it("keep our rules: roles, non-root user, settings the service accepts, shared volume, secrets, health, GPU", () => {
    expect(composeProblems(base, DEPLOY, { gpu: false })).toEqual([]);
    expect(composeProblems(mergeCompose(base, gpu), DEPLOY, { gpu: true })).toEqual([]);
  });

  it("refuse broken copies: dclint's schema and each rule fail", () => {
    const broken = path.join(scratch, "compose.yaml");
    writeFileSync(broken, read("deploy/compose.yaml").replace("      start_period: 60s", "      start_perod: 60s"));
    expect(problemsMatching(dclint([broken]), /invalid-schema/)).toHaveLength(1);
    writeFileSync(broken, read("deploy/compose.yaml").replace('"127.0.0.1:8042:8042"', '"8042:8042"'));
    expect(problemsMatching(dclint([broken]), /no-unbound-port-interfaces/)).toHaveLength(1);

    const mutate = (change: (services: Record<string, Json>) => void, gpuOverride = false) => {
      const copy = gpuOverride ? mergeCompose(base, gpu) : clone(base);
      change(copy.services as Record<string, Json>);
      return composeProblems(copy, DEPLOY, { gpu: gpuOverride });
    };
    const env = (service: Json) => service.environment as Record<string, string>;
    expect(mutate((s) => { env(s.api!).TRRG_NO_SUCH_SETTING = "1"; })).toContain("api: TRRG_NO_SUCH_SETTING is not a setting of src/config.ts");
    expect(problemsMatching(mutate((s) => { env(s.worker!).TRRG_JOB_LEASE = "forever"; }), /^worker: the service would refuse this configuration: .*TRRG_JOB_LEASE/s)).toHaveLength(1);
    expect(mutate((s) => { s.worker!.environment = { ...env(s.worker!), TRRG_WORKER_PORT: "9500" }; })).toContain("worker: the healthcheck does not ask /healthz or /readyz on TRRG_WORKER_PORT (9500)");
    expect(mutate((s) => { s.api!.user = "0:0"; })).toContain(`api: user is not ${IMAGE_UID}:${IMAGE_UID}, the image's non-root user`);
    expect(mutate((s) => { s.worker!.volumes = ["scratch:/var/lib/trrg/instances"]; })).toContain('worker: TRRG_STORAGE_DIR /var/lib/trrg/instances is not the shared volume "instances"');
    expect(mutate((s) => { env(s.api!).TRRG_DATABASE_URL = "postgres://trrg:hunter2@postgres:5432/trrg"; })).toContain("api: TRRG_DATABASE_URL holds a URL with a literal password");
    expect(mutate((s) => { env(s.api!).TRRG_AUTH_KEYS_FILE = "/etc/keys.json"; })).toContain("api: TRRG_AUTH_KEYS_FILE names /etc/keys.json, which no secret or config mounts");
    expect(mutate((s) => { delete s.redis!.healthcheck; })).toContain("redis: no healthcheck for api to wait on");
    expect(mutate((s) => { s.api!.deploy = { replicas: 1 }; })).toContain("api: fewer than 2 replicas");
    expect(mutate((s) => { s.worker!.deploy = {}; }, true)).toContain("worker: the GPU override does not reserve a GPU, run the CUDA image and use the cuda provider");
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Kubernetes

interface Manifest {
  file: string;
  doc: Json;
}

interface ModelClass {
  readonly apiVersion: string;
  readonly kind: string;
  new (data: never): { validate(): void };
}

/** The API objects the manifests may hold: their schema (validate) and their TypeScript type (unknown fields). */
const MODELS: Array<{ model: ModelClass; module: string; type: string }> = [
  { model: Namespace, module: "kubernetes-models/v1/Namespace", type: "INamespace" },
  { model: ServiceAccount, module: "kubernetes-models/v1/ServiceAccount", type: "IServiceAccount" },
  { model: ConfigMap, module: "kubernetes-models/v1/ConfigMap", type: "IConfigMap" },
  { model: Secret, module: "kubernetes-models/v1/Secret", type: "ISecret" },
  { model: Service, module: "kubernetes-models/v1/Service", type: "IService" },
  { model: PersistentVolumeClaim, module: "kubernetes-models/v1/PersistentVolumeClaim", type: "IPersistentVolumeClaim" },
  { model: Deployment, module: "kubernetes-models/apps/v1/Deployment", type: "IDeployment" },
  { model: HorizontalPodAutoscaler, module: "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler", type: "IHorizontalPodAutoscaler" },
  { model: PodDisruptionBudget, module: "kubernetes-models/policy/v1/PodDisruptionBudget", type: "IPodDisruptionBudget" },
  { model: ScaledObject, module: "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject", type: "IScaledObject" },
  { model: TriggerAuthentication, module: "@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication", type: "ITriggerAuthentication" },
];
const modelOf = (doc: Json) => MODELS.find(({ model }) => model.apiVersion === doc.apiVersion && model.kind === doc.kind);

/** YAML 1.1, as kubectl reads it (0440 is octal there). */
function manifestsOf(file: string, text = readFileSync(file, "utf8")): Manifest[] {
  return parseAllDocuments(text, { version: "1.1" }).flatMap((document) => {
    if (document.errors.length > 0) throw new Error(`${file}: ${document.errors.map((e) => e.message).join("; ")}`);
    const doc = obj(document.toJS());
    return Object.keys(doc).length > 0 ? [{ file: path.relative(ROOT, file), doc }] : [];
  });
}

/** Schema validation (kubernetes-models' compiled OpenAPI and CRD schemas): one problem per refused manifest. */
function schemaProblems(manifests: Manifest[]): string[] {
  return manifests.flatMap(({ file, doc }) => {
    const found = modelOf(doc);
    if (!found) return [`${file}: ${String(doc.apiVersion)} ${String(doc.kind)} is not an API object these checks know`];
    try {
      new found.model(doc as never).validate();
      return [];
    } catch (error) {
      return [`${file}: ${String(doc.kind)} ${String(obj(doc.metadata).name)}: ${(error as Error).message}`];
    }
  });
}

/**
 * Unknown fields (a typo such as `replica:`), which the OpenAPI schemas let through but a strict API server
 * refuses: each manifest as an object literal of its kubernetes-models TypeScript type, whose excess property
 * checks name every field the type lacks.
 */
function unknownFieldProblems(manifests: Manifest[]): string[] {
  const file = path.join(ROOT, "test", "__deploy_manifests__.ts");
  const imports = MODELS.map(({ module, type }) => `import type { ${type} } from "${module}";`);
  const lines = manifests.map(({ doc }, i) => `export const m${i}: ${modelOf(doc)?.type ?? "never"} = ${JSON.stringify(doc)};`);
  const source = [...imports, ...lines].join("\n");
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
    lib: ["lib.es2023.d.ts"],
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, language, ...rest) => (name === file ? ts.createSourceFile(name, source, language) : getSourceFile.call(host, name, language, ...rest));
  host.fileExists = (name) => name === file || fileExists.call(host, name);
  host.readFile = (name) => (name === file ? source : readFile.call(host, name));
  const program = ts.createProgram([file], options, host);
  const sourceFile = program.getSourceFile(file)!;
  return ts.getPreEmitDiagnostics(program, sourceFile).map((diagnostic) => {
    const line = diagnostic.start === undefined ? -1 : sourceFile.getLineAndCharacterOfPosition(diagnostic.start).line - imports.length;
    const where = manifests[line] ? `${manifests[line].file}: ${String(manifests[line].doc.kind)} ${String(obj(manifests[line].doc.metadata).name)}` : "manifests";
    return `${where}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, " ").slice(0, 300)}`;
  });
}

const kustomization = () => parseDocument(read("deploy/kubernetes/kustomization.yaml"), { version: "1.1" }).toJS() as Json;
const listedManifests = () => arr(kustomization().resources).map(String).flatMap((resource) => manifestsOf(path.join(K8S, resource)));
const alternativeManifests = () => readdirSync(path.join(K8S, "alternatives")).filter((f) => f.endsWith(".yaml")).flatMap((f) => manifestsOf(path.join(K8S, "alternatives", f)));

function kustomizationProblems(k: Json): string[] {
  const problems: string[] = [];
  const allowed = new Set(["apiVersion", "kind", "namespace", "labels", "resources", "images"]);
  for (const key of Object.keys(k)) if (!allowed.has(key)) problems.push(`kustomization.yaml: unexpected field ${key}`);
  if (k.apiVersion !== "kustomize.config.k8s.io/v1beta1" || k.kind !== "Kustomization") problems.push("kustomization.yaml: not a kustomize.config.k8s.io/v1beta1 Kustomization");
  const resources = arr(k.resources).map(String);
  for (const resource of resources) {
    if (!existsSync(path.join(K8S, resource))) problems.push(`kustomization.yaml: ${resource} does not exist`);
    if (resource.startsWith("alternatives/")) problems.push(`kustomization.yaml: ${resource} is an alternative, not part of the default set`);
  }
  for (const file of readdirSync(K8S).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml")) {
    if (!resources.includes(file)) problems.push(`kustomization.yaml: does not list ${file}`);
  }
  return problems;
}

interface Container extends Json {
  name: string;
}

const find = (manifests: Manifest[], kind: string, name: string) => manifests.find(({ doc }) => doc.kind === kind && obj(doc.metadata).name === name)?.doc;
const podSpec = (deployment: Json | undefined) => obj(obj(obj(deployment?.spec).template).spec);
const containersOf = (deployment: Json | undefined) => arr(podSpec(deployment).containers).map((c) => obj(c) as Container);

/** The environment a container gets: its ConfigMaps (envFrom), then env, with Secret values from the manifests. */
function containerEnvironment(manifests: Manifest[], container: Container, problems: string[], where: string): Environment {
  const env: Environment = {};
  for (const source of arr(container.envFrom).map(obj)) {
    const name = str(obj(source.configMapRef).name);
    const configMap = name ? find(manifests, "ConfigMap", name) : undefined;
    if (!configMap) problems.push(`${where}: envFrom names ConfigMap ${name ?? "?"}, which is not among the manifests`);
    Object.assign(env, obj(configMap?.data));
  }
  for (const entry of arr(container.env).map(obj)) {
    const name = String(entry.name);
    if (typeof entry.value === "string") env[name] = entry.value;
    const ref = obj(obj(entry.valueFrom).secretKeyRef);
    if (Object.keys(ref).length > 0) {
      const secret = find(manifests, "Secret", String(ref.name));
      const value = obj(secret?.stringData)[String(ref.key)];
      if (typeof value === "string") env[name] = value;
      else if (ref.optional !== true) problems.push(`${where}: ${name} comes from Secret ${String(ref.name)} key ${String(ref.key)}, which the Secret lacks`);
          } else if (isSecretName(name) || URL_WITH_PASSWORD.test(String(entry.value ?? ""))) {
      problems.push(`${where}: ${name} is a secret given as a plain value, not from a Secret`);
    }
  }
  for (const [name, value] of Object.entries(obj(find(manifests, "ConfigMap", "trrg-gateway-config")?.data))) {
    if (isSecretName(name) || URL_WITH_PASSWORD.test(String(value))) problems.push(`ConfigMap trrg-gateway-config: ${name} is a secret; it belongs in the Secret`);
  }
  return env;
}

/** A probe's or Service's port, named or numbered, as the container's port number. */
function portNumber(container: Container, port: unknown): number | undefined {
  if (typeof port === "number") return port;
  const named = arr(container.ports).map(obj).find((p) => p.name === port);
  return typeof named?.containerPort === "number" ? named.containerPort : undefined;
}

function probe(container: Container, kind: "livenessProbe" | "readinessProbe" | "startupProbe"): { path: string | undefined; port: number | undefined } {
  const httpGet = obj(obj(container[kind]).httpGet);
  return { path: str(httpGet.path), port: portNumber(container, httpGet.port) };
}

const labelsMatch = (selector: unknown, labels: unknown) => {
  const wanted = Object.entries(obj(obj(selector).matchLabels ?? selector));
  return wanted.length > 0 && wanted.every(([k, v]) => obj(labels)[k] === v);
};

/** Our rules for the default manifest set, and their agreement with the code and with each other. */
function kubernetesProblems(manifests: Manifest[]): string[] {
  const problems: string[] = [];
  const api = find(manifests, "Deployment", "trrg-api");
  const worker = find(manifests, "Deployment", "trrg-worker");
  if (!api || !worker) return ["the Deployments trrg-api and trrg-worker are not both among the manifests"];
  const secret = find(manifests, "Secret", "trrg-gateway-secrets");
  const namespace = find(manifests, "Namespace", "trrg");
  for (const { file, doc } of manifests) {
    if (doc.kind !== "Namespace" && obj(doc.metadata).namespace !== obj(namespace?.metadata).name) problems.push(`${file}: ${String(doc.kind)} is not in the namespace trrg`);
  }
  if (obj(secret?.metadata).annotations === undefined || !Object.values(obj(secret?.stringData)).every((v) => /REPLACE_ME|\.invalid|^\[\]$|"keys": \[\]/.test(String(v)))) {
    problems.push("Secret trrg-gateway-secrets: an example value is not a marked placeholder");
  }
  const secretData = obj(secret?.stringData);
  const redisUrl = URL.canParse(String(secretData["redis-url"])) ? new URL(String(secretData["redis-url"])) : undefined;
  if (!redisUrl || `${redisUrl.hostname}:${redisUrl.port}` !== secretData["redis-address"] || decodeURIComponent(redisUrl.password) !== secretData["redis-password"]) {
    problems.push("Secret trrg-gateway-secrets: redis-address and redis-password do not say what redis-url says");
  }

  for (const [deployment, role, portName] of [[api, "serve", "TRRG_PORT"], [worker, "worker", "TRRG_WORKER_PORT"]] as const) {
    const name = String(obj(deployment.metadata).name);
    const pod = podSpec(deployment);
    const podLabels = obj(obj(obj(deployment.spec).template).metadata).labels;
    if (!labelsMatch(obj(deployment.spec).selector, podLabels)) problems.push(`${name}: the selector does not match the pod labels`);
    const security = obj(pod.securityContext);
    if (security.runAsNonRoot !== true || security.runAsUser !== IMAGE_UID || security.runAsGroup !== IMAGE_UID || security.fsGroup !== IMAGE_UID) {
      problems.push(`${name}: the pod does not run as the image's non-root user ${IMAGE_UID} (runAsNonRoot, runAsUser, runAsGroup, fsGroup)`);
    }
    if (obj(security.seccompProfile).type !== "RuntimeDefault") problems.push(`${name}: no RuntimeDefault seccomp profile (Pod Security restricted)`);
    const volumes = new Map(arr(pod.volumes).map(obj).map((v) => [String(v.name), v]));
    const containers = containersOf(deployment);
    if (containers.length !== 1) problems.push(`${name}: expected one container`);
    for (const container of containers) {
      const where = `${name}/${container.name}`;
      if (JSON.stringify(container.args ?? container.command) !== JSON.stringify([role])) problems.push(`${where}: does not run \`trrg-gateway ${role}\``);
      const cs = obj(container.securityContext);
      if (cs.readOnlyRootFilesystem !== true || cs.allowPrivilegeEscalation !== false || !arr(obj(cs.capabilities).drop).includes("ALL")) {
        problems.push(`${where}: the container is not locked down (readOnlyRootFilesystem, no privilege escalation, capabilities dropped)`);
      }
      const resources = obj(container.resources);
      if (!obj(resources.requests).cpu || !obj(resources.requests).memory || !obj(resources.limits).memory) problems.push(`${where}: no cpu/memory requests and memory limit`);
      const mounts = new Map(arr(container.volumeMounts).map(obj).map((m) => [String(m.mountPath), volumes.get(String(m.name))]));
      if (!obj(mounts.get("/tmp")).emptyDir) problems.push(`${where}: no emptyDir at /tmp under a read-only root filesystem`);
      const env = containerEnvironment(manifests, container, problems, where);
      problems.push(...configProblems(where, env));
      // The shared instance volume, the data folder, the secret files.
      const storage = mounts.get(String(env.TRRG_STORAGE_DIR));
      const claim = find(manifests, "PersistentVolumeClaim", String(obj(storage?.persistentVolumeClaim).claimName));
      if (!claim || !arr(obj(claim.spec).accessModes).includes("ReadWriteMany")) problems.push(`${where}: TRRG_STORAGE_DIR is not mounted from a ReadWriteMany PersistentVolumeClaim`);
      if (!mounts.has(String(env.TRRG_DATA_DIR))) problems.push(`${where}: TRRG_DATA_DIR is not a mounted volume`);
      for (const setting of ["TRRG_AUTH_CLIENTS_FILE", "TRRG_AUTH_KEYS_FILE"]) {
        const file = env[setting];
        if (file === undefined) continue;
        const source = obj(mounts.get(path.posix.dirname(file))?.secret);
        const item = arr(source.items).map(obj).find((i) => i.path === path.posix.basename(file));
        if (source.secretName !== "trrg-gateway-secrets" || !item || !(String(item.key) in secretData)) problems.push(`${where}: ${setting} ${file} is not a key of the mounted Secret`);
        else if (source.defaultMode !== 0o440 && source.defaultMode !== 0o400) problems.push(`${where}: the Secret's files are readable by others (defaultMode)`);
      }
      // Probes: liveness /healthz, readiness /readyz, on the port the process listens on.
      const port = effectivePort(env, portName);
      const liveness = probe(container, "livenessProbe");
      const readiness = probe(container, "readinessProbe");
      if (liveness.path !== "/healthz" || liveness.port !== port) problems.push(`${where}: the liveness probe is not /healthz on ${portName} (${port})`);
      if (readiness.path !== "/readyz" || readiness.port !== port) problems.push(`${where}: the readiness probe is not /readyz on ${portName} (${port})`);
      const startup = probe(container, "startupProbe");
      if (startup.path !== "/healthz" || startup.port !== port) problems.push(`${where}: the startup probe is not /healthz on ${portName} (${port})`);
      const annotations = obj(obj(obj(deployment.spec).template).metadata).annotations;
      if (Number(obj(annotations)["prometheus.io/port"]) !== port) problems.push(`${where}: prometheus.io/port is not ${portName} (${port})`);
      if (role === "worker") {
        const gpus = obj(resources.limits)["nvidia.com/gpu"];
        if (!(Number(gpus) >= 1)) problems.push(`${where}: does not ask for an nvidia.com/gpu`);
        if (!(env.TRRG_EXECUTION_PROVIDERS ?? "cpu").split(",").includes("cuda")) problems.push(`${where}: TRRG_EXECUTION_PROVIDERS does not use cuda`);
        if (!/-cuda:/.test(String(container.image))) problems.push(`${where}: not the CUDA image`);
        const toleratesGpu = arr(pod.tolerations).map(obj).some((t) => t.key === "nvidia.com/gpu");
        if (!toleratesGpu || Object.keys(obj(pod.nodeSelector)).length === 0) problems.push(`${where}: no node selector and toleration for GPU nodes`);
        if (obj(deployment.spec).replicas !== undefined) problems.push(`${where}: spec.replicas fights the autoscaler`);
      } else {
        if (Number(obj(deployment.spec).replicas) < 2) problems.push(`${where}: fewer than 2 replicas`);
        const service = find(manifests, "Service", "trrg-api");
        const targetPort = arr(obj(service?.spec).ports).map(obj)[0]?.targetPort;
        if (!service || portNumber(container, targetPort) !== port || !labelsMatch(obj(service.spec).selector, podLabels)) problems.push(`trrg-api Service: does not reach ${where} on ${portName} (${port})`);
      }
    }
    const pdb = manifests.find(({ doc }) => doc.kind === "PodDisruptionBudget" && labelsMatch(obj(doc.spec).selector, podLabels));
    if (!pdb) problems.push(`${name}: no PodDisruptionBudget selects its pods`);
  }

  // Autoscaling: the API on CPU, the workers on the queue depth; exactly one autoscaler per Deployment.
  const autoscalersOf = (name: string) =>
    manifests.filter(({ doc }) => (doc.kind === "HorizontalPodAutoscaler" || doc.kind === "ScaledObject") && obj(obj(doc.spec).scaleTargetRef).name === name).map(({ doc }) => doc);
  const apiScalers = autoscalersOf("trrg-api");
  if (apiScalers.length !== 1 || apiScalers[0]!.kind !== "HorizontalPodAutoscaler" || !arr(obj(apiScalers[0]!.spec).metrics).map(obj).some((m) => obj(m.resource).name === "cpu")) {
    problems.push("trrg-api: not exactly one HorizontalPodAutoscaler on CPU");
  } else if (Number(obj(apiScalers[0]!.spec).minReplicas) < 2) problems.push("trrg-api: the autoscaler may go below 2 replicas");
  const workerScalers = autoscalersOf("trrg-worker");
  if (workerScalers.length !== 1) problems.push(`trrg-worker: ${workerScalers.length} autoscalers (KEDA makes its own HPA: use one)`);
  for (const scaler of workerScalers) problems.push(...queueScalerProblems(manifests, scaler, worker));
  return problems;
}

/** A worker autoscaler scales on the report-job queue: the BullMQ wait list of our queue, or trrg_jobs_due. */
function queueScalerProblems(manifests: Manifest[], scaler: Json, worker: Json): string[] {
  const problems: string[] = [];
  const container = containersOf(worker)[0];
  const env = container ? containerEnvironment(manifests, container, [], "trrg-worker") : {};
  const prefix = env.TRRG_REDIS_PREFIX ?? DEFAULTS.jobs.redisPrefix;
  const waitList = `${prefix}:${REPORT_JOB_QUEUE}:wait`;
  if (scaler.kind === "HorizontalPodAutoscaler") {
    const external = arr(obj(scaler.spec).metrics).map(obj).filter((m) => m.type === "External");
    if (!external.some((m) => obj(obj(m.external).metric).name === "trrg_jobs_due")) problems.push("trrg-worker HPA: no External metric trrg_jobs_due");
    return problems;
  }
  const spec = obj(scaler.spec);
  if (Number(spec.minReplicaCount ?? 0) < 1 && arr(spec.triggers).map(obj).some((t) => t.type === "redis")) {
    problems.push("trrg-worker ScaledObject: a redis list trigger cannot wake workers from zero (delayed jobs move to the wait list only under a worker)");
  }
  for (const trigger of arr(spec.triggers).map(obj)) {
    const metadata = obj(trigger.metadata);
    if (trigger.type === "redis") {
      if (metadata.listName !== waitList) problems.push(`trrg-worker ScaledObject: the redis trigger watches ${String(metadata.listName)}, not ${waitList}`);
      const auth = find(manifests, "TriggerAuthentication", String(obj(trigger.authenticationRef).name));
      if (!auth && !metadata.address && !metadata.addressFromEnv) problems.push("trrg-worker ScaledObject: the redis trigger has no address");
      for (const ref of arr(obj(auth?.spec).secretTargetRef).map(obj)) {
        const secret = find(manifests, "Secret", String(ref.name));
        if (!(String(ref.key) in obj(secret?.stringData))) problems.push(`TriggerAuthentication: Secret ${String(ref.name)} has no key ${String(ref.key)}`);
      }
    } else if (trigger.type === "prometheus") {
      if (!/^max\(trrg_jobs_due\b/.test(String(metadata.query))) problems.push("trrg-worker ScaledObject: the prometheus trigger does not take max(trrg_jobs_due)");
    } else {
      problems.push(`trrg-worker ScaledObject: unexpected trigger ${String(trigger.type)}`);
    }
  }
  return problems;
}

describe("Kubernetes manifests (deploy/kubernetes)", () => {
  const manifests = listedManifests();
  const alternatives = alternativeManifests();

  it("list every manifest in kustomization.yaml, and no alternative", () => {
    expect(kustomizationProblems(kustomization())).toEqual([]);
    expect(manifests.map(({ doc }) => `${String(doc.kind)}/${String(obj(doc.metadata).name)}`).sort()).toEqual(
      [
        "ConfigMap/trrg-gateway-config",
        "Deployment/trrg-api",
        "Deployment/trrg-worker",
        "HorizontalPodAutoscaler/trrg-api",
        "Namespace/trrg",
        "PersistentVolumeClaim/trrg-instances",
        "PodDisruptionBudget/trrg-api",
        "PodDisruptionBudget/trrg-worker",
        "ScaledObject/trrg-worker",
        "Secret/trrg-gateway-secrets",
        "Service/trrg-api",
        "Service/trrg-worker-metrics",
        "ServiceAccount/trrg-gateway",
        "TriggerAuthentication/trrg-redis",
      ].sort(),
    );
  });

  it("validate against the Kubernetes and KEDA schemas, alternatives included", () => {
    expect(schemaProblems([...manifests, ...alternatives])).toEqual([]);
  });

  it("hold no field the API types lack (what a strict API server refuses)", () => {
    expect(unknownFieldProblems([...manifests, ...alternatives])).toEqual([]);
  });

  it("keep our rules: non-root pods, probes on the right ports and paths, settings the service accepts, GPU, shared volume, autoscaling", () => {
    expect(kubernetesProblems(manifests)).toEqual([]);
  });

  it("each alternative worker autoscaler, swapped in for the ScaledObject, keeps the rules too", () => {
    const withoutKeda = manifests.filter(({ doc }) => doc.kind !== "ScaledObject");
    for (const alternative of alternatives) {
      expect(kubernetesProblems([...withoutKeda, alternative]), alternative.file).toEqual([]);
    }
  });

  it("refuse broken copies: the schemas, the types and each rule fail", () => {
    const mutate = (change: (docs: { api: Json; worker: Json; all: Manifest[] }) => void) => {
      const copy = clone(manifests);
      const api = find(copy, "Deployment", "trrg-api")!;
      const worker = find(copy, "Deployment", "trrg-worker")!;
      change({ api, worker, all: copy });
      return copy;
    };
    const container = (deployment: Json) => containersOf(deployment)[0]!;
    const env = (deployment: Json) => container(deployment).env as Json[];

    const badPort = mutate(({ worker }) => { (arr(container(worker).ports)[0] as Json).containerPort = "9464"; });
    expect(problemsMatching(schemaProblems(badPort), /Deployment trrg-worker: .*containerPort must be integer/)).toHaveLength(1);
    const badTrigger = mutate(({ all }) => { delete obj(find(all, "ScaledObject", "trrg-worker")!.spec).scaleTargetRef; });
    expect(problemsMatching(schemaProblems(badTrigger), /ScaledObject trrg-worker: .*scaleTargetRef/)).toHaveLength(1);
    const typo = mutate(({ api }) => { obj(api.spec).replica = 3; });
    expect(problemsMatching(unknownFieldProblems(typo), /Deployment trrg-api: .*'"?replica"?' does not exist/)).toHaveLength(1);
    const kedaTypo = mutate(({ all }) => { obj(find(all, "ScaledObject", "trrg-worker")!.spec).minReplicas = 1; });
    expect(problemsMatching(unknownFieldProblems(kedaTypo), /ScaledObject trrg-worker: .*minReplicas/)).toHaveLength(1);

    const rules = (change: Parameters<typeof mutate>[0]) => kubernetesProblems(mutate(change));
    expect(rules(({ worker }) => { delete obj(obj(container(worker).resources).limits)["nvidia.com/gpu"]; })).toContain("trrg-worker/worker: does not ask for an nvidia.com/gpu");
    expect(rules(({ worker }) => { env(worker).push({ name: "TRRG_WORKER_PORT", value: "9500" }); })).toContain("trrg-worker/worker: the liveness probe is not /healthz on TRRG_WORKER_PORT (9500)");
    expect(rules(({ api }) => { obj(obj(container(api).readinessProbe).httpGet).path = "/healthz"; })).toContain("trrg-api/api: the readiness probe is not /readyz on TRRG_PORT (8080)");
    expect(rules(({ api }) => { obj(podSpec(api).securityContext).runAsUser = 0; })).toContain(`trrg-api: the pod does not run as the image's non-root user ${IMAGE_UID} (runAsNonRoot, runAsUser, runAsGroup, fsGroup)`);
    expect(rules(({ api }) => { obj(container(api).securityContext).readOnlyRootFilesystem = false; })).toContain("trrg-api/api: the container is not locked down (readOnlyRootFilesystem, no privilege escalation, capabilities dropped)");
    expect(rules(({ all }) => { obj(find(all, "ConfigMap", "trrg-gateway-config")!.data).TRRG_NO_SUCH_SETTING = "1"; })).toContain("trrg-api/api: TRRG_NO_SUCH_SETTING is not a setting of src/config.ts");
    expect(problemsMatching(rules(({ all }) => { obj(find(all, "ConfigMap", "trrg-gateway-config")!.data).TRRG_JOB_LEASE = "soon"; }), /trrg-worker\/worker: the service would refuse this configuration: .*TRRG_JOB_LEASE/s)).toHaveLength(1);
    expect(rules(({ api }) => { env(api).push({ name: "TRRG_METRICS_BEARER", value: "0123456789abcdefXYZ" }); })).toContain("trrg-api/api: TRRG_METRICS_BEARER is a secret given as a plain value, not from a Secret");
    expect(rules(({ all }) => { obj(find(all, "PersistentVolumeClaim", "trrg-instances")!.spec).accessModes = ["ReadWriteOnce"]; })).toContain("trrg-worker/worker: TRRG_STORAGE_DIR is not mounted from a ReadWriteMany PersistentVolumeClaim");
    expect(rules(({ all }) => { delete obj(find(all, "Secret", "trrg-gateway-secrets")!.stringData)["oauth-keys.json"]; })).toContain("trrg-api/api: TRRG_AUTH_KEYS_FILE /run/secrets/trrg/oauth-keys.json is not a key of the mounted Secret");
    expect(rules(({ all }) => { obj(find(all, "Secret", "trrg-gateway-secrets")!.stringData)["database-url"] = "postgres://trrg:s3cr3t@db.hospital.org/trrg"; })).toContain("Secret trrg-gateway-secrets: an example value is not a marked placeholder");
    expect(rules(({ all }) => { (arr(obj(find(all, "ScaledObject", "trrg-worker")!.spec).triggers)[0] as Json).metadata = { listName: "bull:trrg-jobs:wait", listLength: "4" }; })).toContain(
      `trrg-worker ScaledObject: the redis trigger watches bull:trrg-jobs:wait, not bull:${REPORT_JOB_QUEUE}:wait`,
    );
    expect(rules(({ all }) => { obj(find(all, "ConfigMap", "trrg-gateway-config")!.data).TRRG_REDIS_PREFIX = "trrg"; })).toContain(
      `trrg-worker ScaledObject: the redis trigger watches bull:${REPORT_JOB_QUEUE}:wait, not trrg:${REPORT_JOB_QUEUE}:wait`,
    );
    expect(rules(({ all }) => { obj(find(all, "ScaledObject", "trrg-worker")!.spec).minReplicaCount = 0; })).toContain(
      "trrg-worker ScaledObject: a redis list trigger cannot wake workers from zero (delayed jobs move to the wait list only under a worker)",
    );
    expect(kubernetesProblems([...manifests, ...alternatives.filter(({ doc }) => doc.kind === "HorizontalPodAutoscaler")])).toContain("trrg-worker: 2 autoscalers (KEDA makes its own HPA: use one)");
    const k = kustomization();
    expect(kustomizationProblems({ ...k, resources: arr(k.resources).filter((r) => r !== "worker-pdb.yaml") })).toContain("kustomization.yaml: does not list worker-pdb.yaml");
    expect(kustomizationProblems({ ...k, resources: [...arr(k.resources), "alternatives/worker-hpa-external.yaml"] })).toContain(
      "kustomization.yaml: alternatives/worker-hpa-external.yaml is an alternative, not part of the default set",
    );
  });

  it("read Secret file modes as kubectl does (YAML 1.1 octal)", () => {
    const volumes = arr(podSpec(find(manifests, "Deployment", "trrg-api")).volumes).map(obj);
    expect(obj(volumes.find((v) => v.name === "secrets")?.secret).defaultMode).toBe(0o440);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Secrets generator and documentation

describe("deploy/secrets/generate.mjs", () => {
  it("makes signing keys and a clients file the service loads, and never replaces them", async () => {
    const out = mkdtempSync(path.join(tmpdir(), "trrg-secrets-"));
    try {
      const run = () =>
        execFileSync(process.execPath, ["--import", "tsx", path.join(DEPLOY, "secrets", "generate.mjs"), "--app", path.join(ROOT, "src"), "--out", out, "--env", path.join(out, ".env")], {
          cwd: ROOT,
          encoding: "utf8",
        });
      expect(run()).toContain("made");
      const keys = readFileSync(path.join(out, "oauth-keys.json"), "utf8");
      expect(statSync(path.join(out, "oauth-keys.json")).mode & 0o077).toBe(0);
      expect(readFileSync(path.join(out, ".env"), "utf8")).toMatch(/^POSTGRES_PASSWORD=[\w-]{24,}$/m);
      const { loadOrCreateSigningKeys } = await import("../src/auth/signingKeys.js");
      const { readClientsFile } = await import("../src/auth/clients.js");
      expect((await loadOrCreateSigningKeys(path.join(out, "oauth-keys.json"))).keys.map((k) => k.alg).sort()).toEqual(["ES384", "RS384"]);
      expect((await readClientsFile(path.join(out, "oauth-clients.json")))?.map((c) => c.client_id)).toEqual(["trrg-cli"]);
      expect(run()).toContain("nothing made");
      expect(readFileSync(path.join(out, "oauth-keys.json"), "utf8")).toBe(keys);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe("docs/deployment.md", () => {
  it("names only settings the service has", () => {
    const named = new Set(read("docs/deployment.md").match(/\bTRRG_[A-Z0-9_]+\b/g) ?? []);
    expect(named.size).toBeGreaterThan(10);
    expect([...named].filter((name) => !KNOWN_SETTINGS.has(name))).toEqual([]);
  });
});
