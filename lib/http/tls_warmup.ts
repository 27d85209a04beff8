/** Starts the one-time set-up of the runtime's TLS random generator off the main thread.
 *
 * The compiled runtime's TLS (rustls on AWS-LC) seeds AWS-LC's random generator on its first
 * use in a process from CPU jitter entropy: a timing self-test and entropy gathering of about
 * 25-35 ms of CPU, once per process, on the thread that first asks (docs/benchmarks.md, "Where
 * the first TLS handshake's time goes"). Left alone, that thread is the main one, building the
 * first ClientHello after the injector's modules have loaded. Web Crypto's generateKey draws
 * from the same AWS-LC generator on one of the runtime's blocking threads, so one call made
 * before the modules load lets the set-up run beside them, and the first handshake finds it
 * done. The key is thrown away: nothing secret is made or kept. */

/** Fires the warm-up; the promise (awaited by tests only) settles when it is done and never
 * rejects, and the call itself never throws, whatever the runtime. `subtle` is replaced in
 * tests only. */
export function warmTlsRandom(
  subtle: () => Pick<SubtleCrypto, "generateKey"> = () => crypto.subtle,
): Promise<void> {
  try {
    return subtle().generateKey({ name: "AES-GCM", length: 128 }, false, ["encrypt"]).then(
      () => {},
      () => {},
    );
  } catch {
    // A runtime without Web Crypto: the first handshake pays the set-up as before.
    return Promise.resolve();
  }
}
