/** The test kube-apiserver's audit log (harness/kube.ts), read so a test can assert which
 * requests a component made: who, what verb, which namespace and object. */

/** One request as the audit log records it. */
export interface AuditedRequest {
  auditID: string;
  user: string;
  verb: string;
  requestURI: string;
  /** From the API server's own reading of the path (`objectRef`), not from the URI text. */
  namespace?: string | undefined;
  resource?: string | undefined;
  name?: string | undefined;
  /** HTTP status, when the request's ResponseComplete stage is in the log. */
  code?: number | undefined;
  at: Date;
}

/** A point in the log: requests after it are read from `offset`, so a test reads only the
 * lines written during it, not the whole run's. */
export interface AuditMark {
  file: string;
  offset: number;
  at: Date;
}

/** Marks now; pass it to requestsSince(). */
export async function auditMark(file: string): Promise<AuditMark> {
  const at = new Date();
  let offset = 0;
  try {
    offset = (await Deno.stat(file)).size;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return { file, offset, at };
}

interface AuditEvent {
  auditID: string;
  stage: string;
  verb: string;
  requestURI: string;
  user: { username: string };
  objectRef?: { namespace?: string; resource?: string; name?: string };
  responseStatus?: { code?: number };
  requestReceivedTimestamp: string;
}

/** The requests received since `mark` (by `user` when given), one per request, in the order
 * the API server received them. A request is logged at its RequestReceived stage before it
 * is served, so every request a component has had an answer to is here. */
export async function requestsSince(
  mark: AuditMark,
  user?: string,
): Promise<AuditedRequest[]> {
  const file = await Deno.open(mark.file);
  try {
    await file.seek(mark.offset, Deno.SeekMode.Start);
  } catch (e) {
    file.close();
    throw e;
  }
  const text = await new Response(file.readable).text(); // reading to the end closes it
  const byId = new Map<string, AuditedRequest>();
  // The last line may still be being written: only whole lines are read.
  for (const line of text.slice(0, text.lastIndexOf("\n") + 1).split("\n")) {
    if (!line) continue;
    const e = JSON.parse(line) as AuditEvent;
    if (user !== undefined && e.user.username !== user) continue;
    const at = new Date(e.requestReceivedTimestamp);
    if (at < mark.at) continue;
    const seen = byId.get(e.auditID);
    const code = e.responseStatus?.code;
    if (seen) {
      if (code !== undefined) seen.code = code;
      continue;
    }
    byId.set(e.auditID, {
      auditID: e.auditID,
      user: e.user.username,
      verb: e.verb,
      requestURI: e.requestURI,
      namespace: e.objectRef?.namespace,
      resource: e.objectRef?.resource,
      name: e.objectRef?.name,
      code,
      at,
    });
  }
  return [...byId.values()];
}

/** `verb namespace/resource/name (URI)` of each request, for assertions and messages. */
export function describeRequests(requests: AuditedRequest[]): string[] {
  return requests.map((r) =>
    `${r.verb} ${r.namespace ?? "-"}/${r.resource ?? "-"}/${r.name ?? "-"} (${r.requestURI})`
  );
}
