#!/usr/bin/env node
// tests/js/validate_openapi.mjs FILE: validates an OpenAPI document
// independently of the C++ code that wrote it.
//
// 1. The document against the official OpenAPI JSON schema of its version
//    (@seriousme/openapi-schema-validator, pinned in package.json).
// 2. Every $ref resolves inside the document.
// 3. Rules of the specification that its JSON schema cannot express: each
//    {variable} of a path is a required path parameter of every operation on
//    it and the other way round, and operationIds are unique.
//
// Prints "valid: FILE (OpenAPI x.y, N operations)" and exits 0, or prints the
// errors and exits 1 (2 for a usage error or a file that cannot be read).
// Run tests/js/install.sh first.
import { readFile } from "node:fs/promises";
import { Validator } from "@seriousme/openapi-schema-validator";

const VERBS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

function fail(errors) {
  console.error(JSON.stringify(errors, null, 2));
  process.exit(1);
}

// Errors of step 3, as strings; returns the number of operations too.
function checkPaths(document) {
  const errors = [];
  const operationIds = new Map();
  let operations = 0;
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    const variables = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    for (const verb of VERBS) {
      const operation = item[verb];
      if (!operation) continue;
      operations++;
      const where = `${verb.toUpperCase()} ${path}`;
      const declared = [...(item.parameters ?? []), ...(operation.parameters ?? [])]
        .filter((p) => p.in === "path")
        .map((p) => p.name);
      for (const v of variables) {
        if (!declared.includes(v)) errors.push(`${where}: path variable {${v}} is not declared as a path parameter`);
      }
      for (const p of [...(item.parameters ?? []), ...(operation.parameters ?? [])]) {
        if (p.in !== "path") continue;
        if (!variables.includes(p.name)) errors.push(`${where}: path parameter ${p.name} is not in the path`);
        if (p.required !== true) errors.push(`${where}: path parameter ${p.name} must be required`);
      }
      const id = operation.operationId;
      if (id !== undefined) {
        if (operationIds.has(id)) errors.push(`${where}: operationId ${id} also used by ${operationIds.get(id)}`);
        operationIds.set(id, where);
      }
    }
  }
  return { errors, operations };
}

const file = process.argv[2];
if (!file || process.argv.length > 3) {
  console.error("usage: validate_openapi.mjs FILE");
  process.exit(2);
}
let text;
try {
  text = await readFile(file, "utf8");
} catch (e) {
  console.error(`cannot read ${file}: ${e.message}`);
  process.exit(2);
}

// Parsed here: the validator reads a string as a file name or YAML.
let document;
try {
  document = JSON.parse(text);
} catch (e) {
  fail([`${file} is not JSON: ${e.message}`]);
}
const validator = new Validator();
const result = await validator.validate(document);
if (!result.valid) fail(result.errors);
try {
  validator.resolveRefs();
} catch (e) {
  fail([`unresolved reference: ${e.message}`]);
}
const { errors, operations } = checkPaths(validator.specification);
if (errors.length > 0) fail(errors);
console.log(`valid: ${file} (OpenAPI ${validator.version}, ${operations} operations)`);
