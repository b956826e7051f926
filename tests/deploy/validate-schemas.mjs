// Validates every object in the YAML streams on stdin-named files against the
// Kubernetes API schemas of the npm package kubernetes-models (strict: unknown
// fields fail too). Usage: node validate-schemas.mjs FILE...
// Kinds the package has no schema for (cert-manager's Certificate) fail, so
// callers pass only core objects.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const groups = { "": "v1" };
let failures = 0, checked = 0;
for (const file of process.argv.slice(2)) {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    const obj = doc.toJS();
    if (!obj) continue;
    const [group, version] = obj.apiVersion.includes("/") ? obj.apiVersion.split("/") : ["", obj.apiVersion];
    const path = group ? `${group}/${version}` : version;
    const where = `${file}: ${obj.kind}/${obj.metadata?.name}`;
    let Model;
    try {
      Model = (await import(`kubernetes-models/${path}/${obj.kind}`))[obj.kind];
    } catch (e) {
      console.error(`${where}: no schema for ${obj.apiVersion} ${obj.kind}`);
      failures++;
      continue;
    }
    try {
      new Model(obj).validate();
      checked++;
    } catch (e) {
      console.error(`${where}: ${e.message}`);
      failures++;
    }
  }
}
console.log(`schemas: ${checked} objects valid, ${failures} invalid`);
process.exit(failures ? 1 : 0);
