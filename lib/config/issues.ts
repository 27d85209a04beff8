/** zod issues as one line, for every parser of outside input (settings files, API answers). */
import type { z } from "zod";

/** `connection.url: must be an https:// URL; ...`. */
export function describeIssues(issues: z.core.$ZodIssue[]): string {
  return issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
}
