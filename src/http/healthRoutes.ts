// Liveness and readiness probes (Kubernetes conventions): /healthz says the process serves HTTP, /readyz that
// its database and storage answer.
import { Router } from "express";
import type { components } from "./api.js";
import { pingDatabase } from "../store/database.js";
import type { Services } from "../services.js";

type Schemas = components["schemas"];
type CheckResult = Schemas["ReadinessCheck"];

async function check(probe: () => Promise<void>): Promise<CheckResult> {
  try {
    await probe();
    return "ok";
  } catch (error) {
    return { status: "error", message: (error as Error).message };
  }
}

export function healthRoutes(services: Services): Router {
  const router = Router();
  router.get("/healthz", (_req, res) => {
    const body: Schemas["HealthStatus"] = { status: "ok" };
    res.json(body);
  });
  router.get("/readyz", async (_req, res) => {
    const checks = {
      database: await check(() => pingDatabase(services.db)),
      storage: await check(() => services.files.check()),
    };
    const body: Schemas["ReadyStatus"] | Schemas["NotReadyStatus"] =
      checks.database === "ok" && checks.storage === "ok"
        ? { status: "ready", checks: { database: "ok", storage: "ok" } }
        : { status: "not_ready", checks };
    res.status(body.status === "ready" ? 200 : 503).json(body);
  });
  return router;
}
