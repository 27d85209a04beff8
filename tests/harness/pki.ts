/** Test certificates made with openssl: a CA, and leaf certificates it signs. A CA is never
 * used as a leaf, since rustls (Deno's fetch) refuses that. */
import { runOk } from "./process.ts";

export interface Ca {
  certFile: string;
  keyFile: string;
  cert: string;
}

export interface Leaf {
  certFile: string;
  keyFile: string;
}

const sh = (cmd: string) => runOk("openssl", cmd.split(" "));

/** A CA named `name`, written to `<dir>/<name>.crt` and `.key`. */
export async function makeCa(dir: string, name: string): Promise<Ca> {
  const certFile = `${dir}/${name}.crt`;
  const keyFile = `${dir}/${name}.key`;
  await sh(
    `req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=${name} -keyout ${keyFile} -out ${certFile}`,
  );
  return { certFile, keyFile, cert: await Deno.readTextFile(certFile) };
}

/** A serving certificate for `sans` (e.g. ["IP:127.0.0.1", "DNS:localhost"]) signed by `ca`. */
export async function makeLeaf(dir: string, name: string, ca: Ca, sans: string[]): Promise<Leaf> {
  const certFile = `${dir}/${name}.crt`;
  const keyFile = `${dir}/${name}.key`;
  const ext = `${dir}/${name}.ext`;
  await Deno.writeTextFile(ext, `subjectAltName=${sans.join(",")}\nbasicConstraints=CA:FALSE\n`);
  await sh(
    `req -newkey rsa:2048 -nodes -subj /CN=${name} -keyout ${keyFile} -out ${dir}/${name}.csr`,
  );
  await sh(
    `x509 -req -in ${dir}/${name}.csr -CA ${ca.certFile} -CAkey ${ca.keyFile} -CAcreateserial -days 2 -extfile ${ext} -out ${certFile}`,
  );
  return { certFile, keyFile };
}
