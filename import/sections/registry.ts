// Kamal's image, its tag and the registry it is pulled from.
import { ImportContext } from "../context";

const REGISTRY_KEYS = ["server", "username", "password"];

export interface Image {
  image?: string;
  version: string;
  registry?: Record<string, unknown>;
}

export function mapImage(ctx: ImportContext, kamal: Record<string, unknown>): Image {
  const { str, problem, notes, placeholder, hash, knownKeys, needSecret, skip, opts } = ctx;
  let image = str(kamal.image, "image");
  if (image === undefined) problem("image", "required");
  let version = opts.version;
  const tagged = image === undefined ? null : /^(.*\/)?([^/:@]+):([A-Za-z0-9_][A-Za-z0-9_.-]*)$/.exec(image);
  if (tagged && image) {
    image = image.slice(0, image.lastIndexOf(":"));
    version ??= tagged[3];
    notes.push(`image: the tag ${tagged[3]} moved from the image name to berth:version`);
  }
  version ??= placeholder("version", "the image tag to deploy (Kamal takes it from git; berth from berth:version)");

  // --- registry
  const registryIn = hash(kamal.registry, "registry");
  let registry: Record<string, unknown> | undefined;
  if (registryIn) {
    knownKeys(registryIn, REGISTRY_KEYS, "registry");
    const server = str(registryIn.server, "registry/server");
    if (server !== undefined && /^localhost(:|$)/.test(server)) {
      // The image keeps its local registry, so nothing is ever pushed to Docker Hub instead.
      if (image !== undefined && !image.startsWith(`${server}/`)) image = `${server}/${image}`;
      notes.push(
        `registry/server: ${server} is Kamal's local registry, which Kamal's hosts reach through an SSH tunnel; berth opens no tunnel, so each host pulls ${server}/... from its own ${server}: run a registry there, or push to one the hosts can reach and set berth:image and berth:registry`,
      );
    } else {
      const user = registryIn.username;
      let username: string | undefined;
      if (Array.isArray(user)) {
        username = placeholder(
          "registry-username",
          `the registry user name (Kamal read it from the secret ${user[0]})`,
        );
      } else username = str(user, "registry/username");
      const pass = registryIn.password;
      let passwordSecret: string | undefined;
      if (Array.isArray(pass)) passwordSecret = str(pass[0], "registry/password/0");
      else if (pass !== undefined) {
        passwordSecret = "KAMAL_REGISTRY_PASSWORD";
        notes.push(
          "registry/password: the value written in the Kamal config is not copied; set it as the secret KAMAL_REGISTRY_PASSWORD",
        );
      }
      if (username !== undefined && passwordSecret !== undefined) {
        registry = { server: server ?? "docker.io", username, passwordSecret };
        needSecret(passwordSecret, "registry/password");
      } else if (server !== undefined) {
        skip("registry", "berth's registry needs both username and password; the image is pulled anonymously");
      }
      if (image !== undefined && server !== undefined && !image.startsWith(`${server}/`)) image = `${server}/${image}`;
    }
  }
  return { image, version, registry };
}
