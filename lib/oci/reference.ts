/** Image references as a container runtime reads them: `alpine` is
 * `docker.io/library/alpine:latest`, `host:5000/team/app@sha256:...` names a registry. */

/** A parsed image reference. */
export interface ImageReference {
  /** Registry host as users write it, with port: `docker.io`, `127.0.0.1:5000`. */
  registry: string;
  /** Host the distribution API is served from: `registry-1.docker.io` for Docker Hub. */
  apiHost: string;
  /** Repository path, `library/alpine` for Docker Hub's official images. */
  repository: string;
  /** Tag; `latest` when neither a tag nor a digest is given. */
  tag?: string | undefined;
  /** Digest, e.g. `sha256:<64 hex>`; wins over the tag, as runtimes pull by it. */
  digest?: string | undefined;
}

const DOCKER_HUB = "docker.io";
const DOCKER_HUB_API = "registry-1.docker.io";

// Grammar of distribution/reference (the one Docker and containerd use).
const HOST_LABEL = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = new RegExp(
  `^(?:${HOST_LABEL}(?:\\.${HOST_LABEL})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]+)?$`,
);
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const SHA256 = /^sha256:[a-f0-9]{64}$/;

/** Parses `image` as Docker and containerd do; throws a TypeError naming it when invalid. */
export function parseReference(image: string): ImageReference {
  const fail = (why: string): never => {
    throw new TypeError(`Invalid image reference "${image}": ${why}`);
  };
  if (image === "") fail("it is empty");
  if (image !== image.trim()) fail("it has leading or trailing spaces");

  let rest = image;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) fail(`digest "${digest}" is not algorithm:hex`);
    if (digest.startsWith("sha256:") && !SHA256.test(digest)) {
      fail(`digest "${digest}" is not sha256 followed by 64 lowercase hex digits`);
    }
  }
  // A tag follows the last ":" after the last "/", so "host:5000/app" has no tag.
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) fail(`tag "${tag}" is not 1-128 letters, digits, "_", "." or "-"`);
  }

  // The first component is a registry only if it looks like a host: Docker's rule, which is
  // why `team/app` is on Docker Hub but `localhost/app` and `registry.local/app` are not.
  const slash = rest.indexOf("/");
  const first = slash < 0 ? "" : rest.slice(0, slash);
  const isHost = first !== "" &&
    (first.includes(".") || first.includes(":") || first === "localhost" ||
      first !== first.toLowerCase());
  let registry = isHost ? first : DOCKER_HUB;
  let repository = isHost ? rest.slice(slash + 1) : rest;
  if (registry === "index.docker.io") registry = DOCKER_HUB;
  if (!DOMAIN.test(registry)) {
    fail(`registry "${registry}" is not a host name with an optional port`);
  }
  if (repository === "") fail("the repository name is empty");
  for (const part of repository.split("/")) {
    if (!PATH_COMPONENT.test(part)) {
      fail(
        `repository component "${part}" must be lowercase letters and digits, separated by ".", "_", "__" or "-"`,
      );
    }
  }
  if (registry === DOCKER_HUB && !repository.includes("/")) repository = `library/${repository}`;
  if (registry.length + 1 + repository.length > 255) fail("the name is longer than 255 characters");

  return {
    registry,
    apiHost: registry === DOCKER_HUB ? DOCKER_HUB_API : registry,
    repository,
    tag: tag ?? (digest ? undefined : "latest"),
    digest,
  };
}

/** The canonical text of a reference, e.g. `docker.io/library/alpine:3.20`. */
export function formatReference(r: ImageReference): string {
  return `${r.registry}/${r.repository}${r.tag ? `:${r.tag}` : ""}${
    r.digest ? `@${r.digest}` : ""
  }`;
}
