/** A bounded worker pool: the store and the API server are asked many things at once, but
 * never more than a caller's limit at a time, so one Pod or one sweep cannot flood them. */

/** Calls `fn` on every item with at most `limit` calls in flight, and gives the results in
 * the order of `items`. A rejection rejects the whole; callers that want every outcome catch
 * inside `fn` (the readers keep a failure as a value). */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RangeError(`limit must be a positive whole number, not ${limit}`);
  }
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
