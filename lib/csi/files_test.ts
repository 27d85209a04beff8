/** On a real tmpfs, as in production; needs root (mount, chown, writing through 0o444). */
import { assert, assertEquals } from "../../tests/harness/assert.ts";
import {
  file,
  has,
  IN_DELETE_SELF,
  IN_IGNORED,
  IN_MODIFY,
  names,
  openInotify,
  READ_ONLY,
  withVolume,
} from "../../tests/harness/tmpfs.ts";
import { writeFiles } from "./files.ts";
import { mountTmpfs, unmount } from "./mount.ts";

Deno.test("writeFiles() writes every file with its bytes and leaves no temporary file", () =>
  withVolume((dir) => {
    const keytab = new Uint8Array([0x05, 0x02, 0x00, 0xff, 0x0a]);
    writeFiles(dir, [file("db-password", "secret-password"), { name: "keytab", bytes: keytab }], {
      mode: 0o444,
    });
    assertEquals(names(dir), ["db-password", "keytab"]);
    assertEquals(Deno.readTextFileSync(`${dir}/db-password`), "secret-password");
    assertEquals(Deno.readFileSync(`${dir}/keytab`), keytab);
  }));

Deno.test("writeFiles() applies 0o444 and root ownership without a gid", () =>
  withVolume((dir) => {
    writeFiles(dir, [file("a", "1")], READ_ONLY);
    const info = Deno.statSync(`${dir}/a`);
    assertEquals([info.mode! & 0o7777, info.uid, info.gid], [0o444, 0, 0]);
  }));

Deno.test("writeFiles() applies uid, gid and 0o440 when the Pod has an fsGroup", () =>
  withVolume((dir) => {
    writeFiles(dir, [file("a", "1"), file("b", "")], { uid: 0, gid: 2345, mode: 0o440 });
    for (const n of ["a", "b"]) {
      const info = Deno.statSync(`${dir}/${n}`);
      assertEquals([info.mode! & 0o7777, info.uid, info.gid], [0o440, 0, 2345], n);
    }
  }));

Deno.test("writeFiles() gives a file its own mode; with an fsGroup the group can still read", () =>
  withVolume((dir) => {
    writeFiles(dir, [{ ...file("key", "k"), mode: 0o400 }, file("other", "o")], READ_ONLY);
    const st = (n: string) => Deno.statSync(`${dir}/${n}`);
    assertEquals([st("key").mode! & 0o7777, st("other").mode! & 0o7777], [0o400, 0o444]);
    writeFiles(dir, [{ ...file("g", "k"), mode: 0o400 }, { ...file("h", "k"), mode: 0o604 }], {
      uid: 0,
      gid: 2345,
      mode: 0o440,
    });
    assertEquals([st("g").mode! & 0o7777, st("g").gid], [0o440, 2345]);
    assertEquals(st("h").mode! & 0o7777, 0o644);
  }));

Deno.test("writeFiles() writes names of 255 bytes (NAME_MAX), ASCII or 2-byte characters", () =>
  withVolume((dir) => {
    const long = ["a".repeat(255), "é".repeat(127) + "a"];
    writeFiles(dir, long.map((n) => file(n, n.slice(0, 3))), READ_ONLY);
    assertEquals(names(dir), [...long].sort());
  }));

Deno.test("writeFiles() keeps a file whose name looks like another's temporary name", () =>
  withVolume((dir) => {
    writeFiles(
      dir,
      [file("a", "first"), file(".a.tmp", "second"), file(".tmp-a", "third")],
      READ_ONLY,
    );
    assertEquals(names(dir), [".a.tmp", ".tmp-a", "a"]);
    assertEquals(Deno.readTextFileSync(`${dir}/a`), "first");
    assertEquals(Deno.readTextFileSync(`${dir}/.a.tmp`), "second");
  }));

Deno.test("writeFiles() fails naming the file, never the value, and removes its temporary file", () =>
  withVolume((dir) => {
    const small = `${dir}/small`;
    Deno.mkdirSync(small);
    mountTmpfs(small, { sizeBytes: 4096 });
    try {
      const big = new Uint8Array(64 * 1024).fill(0x78);
      let message = "";
      try {
        writeFiles(small, [{ name: "cert", bytes: big }], READ_ONLY);
      } catch (e) {
        message = (e as Error).message;
      }
      assert(message.startsWith(`Cannot write ${small}/cert: `), message);
      assert(!message.includes("xxxx"), message);
      assertEquals(names(small), []);
    } finally {
      unmount(small);
    }
  }));

Deno.test("why rotation does not rename: a rename over the watched file ends the watch", () =>
  withVolume((dir) => {
    writeFiles(dir, [file("db-password", "first-value")], READ_ONLY);
    using inotify = openInotify();
    const wd = inotify.watch(`${dir}/db-password`);
    writeFiles(dir, [file("db-password", "second-value")], READ_ONLY);
    const masks = inotify.drain(wd);
    assert(!has(masks, IN_MODIFY), `${masks}`);
    assert(has(masks, IN_DELETE_SELF) && has(masks, IN_IGNORED), `${masks}`);
  }));
