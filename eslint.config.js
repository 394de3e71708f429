// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "data/", "src/http/api.ts", "test/fixtures/generated/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      "no-console": ["error", { allow: ["error"] }],
    },
  },
  {
    files: ["bench/**/*.ts", "test/fixtures/*.ts", "src/main.ts"],
    rules: { "no-console": "off" },
  },
  // Plain Node scripts of the deployment (no TypeScript, so no Node types to declare the globals).
  {
    files: ["deploy/**/*.mjs"],
    languageOptions: { globals: { process: "readonly" } },
  },
);
