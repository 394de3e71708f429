// Liveness and readiness probes (Kubernetes conventions): /healthz says the process serves HTTP, /readyz that
// its database and storage answer.
import { Router } from "express";
import { pingDatabase } from "../store/database.js";
import type { Services } from "../services.js";

type CheckResult = "ok" | { status: "error"; message: string };

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
    res.json({ status: "ok" });
  });
  router.get("/readyz", async (_req, res) => {
    const checks = {
      database: await check(() => pingDatabase(services.db)),
      storage: await check(() => services.files.check()),
    };
    const ready = Object.values(checks).every((result) => result === "ok");
    res.status(ready ? 200 : 503).json({ status: ready ? "ready" : "not_ready", checks });
  });
  return router;
}
