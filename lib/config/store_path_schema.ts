/** A zod schema for fields that hold a store path; the issue carries the parser's words, and
 * zod adds the field's path (`files.0.source.path`). Apart from store_path.ts, so the
 * injector, which needs the parser but no schema, does not load zod. */
import { z } from "zod";
import { parseStorePath, type StorePath } from "./store_path.ts";

export const StorePathSchema = z.string().transform((v, ctx): StorePath => {
  try {
    return parseStorePath(v);
  } catch (e) {
    ctx.addIssue({ code: "custom", message: (e as Error).message });
    return z.NEVER;
  }
});
