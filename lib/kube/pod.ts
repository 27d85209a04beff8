/** The parts of a Pod the webhook reads and writes. Unknown fields pass through untouched,
 * so a mutation never drops what it does not understand. */
import { z } from "zod";

const EnvVar = z.looseObject({ name: z.string(), value: z.string().optional() });
const ExecAction = z.looseObject({ command: z.array(z.string()).optional() });
const Probe = z.looseObject({ exec: ExecAction.optional() });
const VolumeMount = z.looseObject({ name: z.string(), mountPath: z.string() });

export const ContainerSchema = z.looseObject({
  name: z.string().min(1),
  image: z.string().optional(),
  command: z.array(z.string()).optional(),
  args: z.array(z.string()).optional(),
  env: z.array(EnvVar).optional(),
  volumeMounts: z.array(VolumeMount).optional(),
  livenessProbe: Probe.optional(),
  readinessProbe: Probe.optional(),
  startupProbe: Probe.optional(),
});

export const PodSchema = z.looseObject({
  metadata: z.looseObject({
    name: z.string().optional(),
    generateName: z.string().optional(),
    namespace: z.string().optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  }).default({}),
  spec: z.looseObject({
    containers: z.array(ContainerSchema).min(1),
    initContainers: z.array(ContainerSchema).optional(),
    volumes: z.array(z.looseObject({ name: z.string() })).optional(),
    serviceAccountName: z.string().optional(),
    imagePullSecrets: z.array(z.looseObject({ name: z.string().optional() })).optional(),
  }),
});

export type Container = z.infer<typeof ContainerSchema>;
export type Pod = z.infer<typeof PodSchema>;
export type Volume = NonNullable<Pod["spec"]["volumes"]>[number];
export type ProbeField = "livenessProbe" | "readinessProbe" | "startupProbe";
export const PROBE_FIELDS: ProbeField[] = ["livenessProbe", "readinessProbe", "startupProbe"];
