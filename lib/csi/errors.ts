/** Every CSI failure carries its gRPC status code, so handlers never guess at the edge. */
import { status } from "@grpc/grpc-js";

export { status };

export class CsiError extends Error {
  override name = "CsiError";
  constructor(readonly code: status, message: string) {
    super(message);
  }
}

/** INVALID_ARGUMENT naming the field, the most common early return of a handler. */
export function invalid(message: string): CsiError {
  return new CsiError(status.INVALID_ARGUMENT, message);
}
