import { describe, expect, it } from "vitest";
import { describeRequirement, grantingScope, parseResourceScope, parseScopes, type ScopeRequirement } from "../../src/auth/scopes.js";

const read: ScopeRequirement = { resourceType: "ImagingStudy", permission: "r", contexts: ["patient", "user", "system"] };
const auditSearch: ScopeRequirement = { resourceType: "AuditEvent", permission: "s", contexts: ["system"] };

describe("SMART scopes", () => {
  it.each([
    ["system/ImagingStudy.rs", "system", "ImagingStudy", "rs"],
    ["user/*.cruds", "user", "*", "cruds"],
    ["patient/Observation.read", "patient", "Observation", "rs"],
    ["system/ImagingStudy.write", "system", "ImagingStudy", "cud"],
    ["user/DiagnosticReport.*", "user", "DiagnosticReport", "cruds"],
  ])("reads %s (v1 names map to their v2 permissions)", (text, context, resourceType, permissions) => {
    const scope = parseResourceScope(text);
    expect(scope?.context).toBe(context);
    expect(scope?.resourceType).toBe(resourceType);
    expect([...(scope?.permissions ?? [])].sort().join("")).toBe([...permissions].sort().join(""));
  });

  it.each(["openid", "launch/patient", "fhirUser", "system/ImagingStudy.sr", "system/ImagingStudy.", "system/ImagingStudy.rs?category=x", "admin/ImagingStudy.r"])(
    "does not grant anything for %s",
    (text) => expect(parseResourceScope(text)).toBeUndefined(),
  );

  it("grants a requirement from the best matching scope, system before user before patient", () => {
    const scopes = parseScopes("patient/ImagingStudy.rs user/*.r openid");
    expect(grantingScope(scopes, read)?.context).toBe("user");
    expect(grantingScope(parseScopes("patient/ImagingStudy.rs"), read)?.context).toBe("patient");
  });

  it("refuses a permission the scope lacks and a context the route does not allow", () => {
    expect(grantingScope(parseScopes("system/ImagingStudy.s"), read)).toBeUndefined();
    expect(grantingScope(parseScopes("user/AuditEvent.rs patient/AuditEvent.rs"), auditSearch)).toBeUndefined();
    expect(grantingScope(parseScopes("system/AuditEvent.rs"), auditSearch)?.context).toBe("system");
  });

  it("names the scope a client would need", () => {
    expect(describeRequirement(auditSearch)).toBe("system/AuditEvent.s");
    expect(describeRequirement(read)).toBe("system/ImagingStudy.r");
  });
});
