import { describe, expect, it } from "vitest";
import { selectFrontal, type StudyImage } from "../../src/pipeline/reportStudy.js";

function view(uid: string, viewPosition?: string, seriesDescription?: string): StudyImage {
  return { sopInstanceUID: uid, seriesInstanceUID: `s${uid}`, read: () => Promise.resolve(Buffer.alloc(0)), ...(viewPosition === undefined ? {} : { viewPosition }), ...(seriesDescription === undefined ? {} : { seriesDescription }) };
}

describe("choosing the frontal image of a study", () => {
  it("prefers PA to AP, whatever the order", () => {
    expect(selectFrontal([view("1", "LL"), view("2", "AP"), view("3", "PA")])?.sopInstanceUID).toBe("3");
  });

  it("takes AP when there is no PA", () => {
    expect(selectFrontal([view("1", "LATERAL"), view("2", "ap ")])?.sopInstanceUID).toBe("2");
  });

  it("reads the series description when View Position is absent", () => {
    expect(selectFrontal([view("1", undefined, "CHEST LAT"), view("2", undefined, "CHEST PA")])?.sopInstanceUID).toBe("2");
  });

  it("falls back to any image not marked lateral", () => {
    expect(selectFrontal([view("1", "LL"), view("2", undefined, "CHEST")])?.sopInstanceUID).toBe("2");
  });

  it("finds none in a study of lateral views only", () => {
    expect(selectFrontal([view("1", "LL"), view("2", "RL"), view("3", undefined, "Lateral")])).toBeUndefined();
  });
});
