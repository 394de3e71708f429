// Where the bundled model set lies: models/trrg-mini at the package root, found from this file whether it runs
// from src/ (tsx) or from dist/src/ (the built service).
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error("package.json not found above the inference module");
    dir = parent;
  }
  return dir;
}

export const BUNDLED_MODEL_DIR = join(packageRoot(), "models", "trrg-mini");
