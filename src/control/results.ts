// The results of the control protocol, by command: what the last (for most
// commands the only) reply line carries, checked by the client with these
// schemas. protocol.ts frames them; fdb's entries come in part lines first.

import { z } from 'zod';

const count = z.number().int().nonnegative();

export const fdbEntrySchema = z.object({ mac: z.string(), vlan: count.default(0), port: z.string(), ageSeconds: z.number().nonnegative() });
export type FdbEntry = z.infer<typeof fdbEntrySchema>;
/** What the client makes of the whole fdb reply. */
export interface FdbResult {
  entries: FdbEntry[];
}
/** What the handler returns for fdb: the entries, read as they are sent. */
export interface FdbListing {
  entries: Iterable<FdbEntry>;
}

export const fdbPartSchema = z.object({ entries: z.array(fdbEntrySchema) });
/** The last line of the fdb reply: how many entries the parts carried. */
export const fdbEndSchema = z.object({ count });

export const namedPortStatsSchema = z.object({
  port: z.string(),
  up: z.boolean(),
  mtu: count,
  rxFrames: count,
  rxBytes: count,
  txFrames: count,
  txBytes: count,
  rxRingDrops: count,
});
export const statsResultSchema = z.object({
  ports: z.array(namedPortStatsSchema),
  drops: z.record(z.string(), count),
  fdb: z.object({
    entries: count,
    learned: count,
    moved: count,
    expired: count,
    evicted: count,
    flushed: count,
    refused: count,
    suppressed: count,
  }),
  /** The monitors (monitor.ts): listening now, dropped for not reading, events suppressed; absent from a switch without them. */
  monitor: z.object({ subscribers: count, dropped: count, suppressed: count }).optional(),
  /** `vswconfig capture`: ports the datapath copies frames of (its flags, read back from it); 0 while no capture runs. */
  captures: z.object({ ports: count }).optional(),
});
/** A port's 802.1Q mode (core/vlan.ts PortVlan), named. */
export const vlanResultSchema = z.object({
  ifname: z.string(),
  mode: z.enum(['default', 'access', 'trunk', 'native-tagged', 'native-untagged']),
  tag: count,
  trunks: z.array(z.tuple([count, count])).nullable(),
});
export type VlanResult = z.infer<typeof vlanResultSchema>;

/** One ACL rule as `acl show` lists it (in: the port's name; src, dst: MAC[/MASK]). */
export const aclRuleResultSchema = z.object({
  id: count,
  priority: count,
  in: z.string().nullable(),
  src: z.string().nullable(),
  dst: z.string().nullable(),
  type: count.nullable(),
  vlan: z.union([count, z.literal('untagged')]).nullable(),
  action: z.enum(['allow', 'drop']),
  hits: count,
});
export type AclRuleResult = z.infer<typeof aclRuleResultSchema>;
export const aclShowResultSchema = z.object({ rules: z.array(aclRuleResultSchema) });
export type AclShowResult = z.infer<typeof aclShowResultSchema>;

/** One mirror as `mirror show` lists it. */
export const mirrorResultSchema = z.object({
  name: z.string(),
  output: z.string(),
  /** Added with no select list: every frame. */
  selectAll: z.boolean(),
  selectIngress: z.array(z.string()),
  selectEgress: z.array(z.string()),
  /** Ports that left the select lists with the switch (a list they emptied selects nothing). */
  leftIngress: z.array(z.string()),
  leftEgress: z.array(z.string()),
  selectVlans: z.array(z.tuple([count, count])).nullable(),
  copies: count,
});
export type MirrorResult = z.infer<typeof mirrorResultSchema>;
export const mirrorShowResultSchema = z.object({ mirrors: z.array(mirrorResultSchema) });
export type MirrorShowResult = z.infer<typeof mirrorShowResultSchema>;

/** A trace (core/trace.ts) with ports named and MACs written out. */
const tagSchema = count.nullable();
export const traceResultSchema = z.object({
  frame: z.object({ in: z.string(), src: z.string(), dst: z.string(), vlan: count.nullable(), type: count }),
  ingress: z.object({ port: z.string(), mode: z.string(), mirrorOutput: z.boolean() }),
  validation: z.object({ drop: z.string() }).nullable(),
  vlan: z.object({ vid: count, why: z.string(), drop: z.string().optional() }).nullable(),
  acl: z.object({ rule: count.nullable(), action: z.enum(['allow', 'drop']), rules: count }).nullable(),
  learn: z
    .object({
      kind: z.enum(['refresh', 'move', 'new', 'refused']),
      from: z.string().optional(),
      evicts: z.object({ mac: z.string(), vlan: count, port: z.string() }).optional(),
    })
    .nullable(),
  lookup: z.object({ kind: z.enum(['group', 'hit', 'miss', 'aged']), port: z.string().optional() }).nullable(),
  egress: z.array(z.object({ port: z.string(), tag: tagSchema, skipped: z.string().optional() })),
  mirrors: z.array(z.object({ mirror: z.string(), output: z.string(), tag: tagSchema, skipped: z.string().optional() })),
  verdict: z.union([
    z.object({ action: z.literal('forward'), ports: z.array(z.string()) }),
    z.object({ action: z.literal('drop'), reason: z.string() }),
  ]),
});
export type TraceResult = z.infer<typeof traceResultSchema>;

/** One tunnel as `tunnel show` lists it; rx/tx: frames the switch took from it and gave it. */
export const tunnelResultSchema = z.object({
  name: z.string(),
  vni: count,
  local: z.string().nullable(),
  remotes: z.array(z.string()),
  dstport: count,
  underlay: z.string(),
  mtu: count,
  vlan: count.nullable(),
  rxFrames: count,
  txFrames: count,
});
/** A port whose MTU is larger than a tunnel's: frames over `tunnelMtu` from it are dropped (mtu-exceeded). */
export const mtuWarningSchema = z.object({ port: z.string(), mtu: count, tunnel: z.string(), tunnelMtu: count });
export const tunnelShowResultSchema = z.object({ tunnels: z.array(tunnelResultSchema), mtuWarnings: z.array(mtuWarningSchema) });
export type TunnelResult = z.infer<typeof tunnelResultSchema>;
export type MtuWarning = z.infer<typeof mtuWarningSchema>;

/** The ports in the order they were added, which datapath forwards their frames, and ports whose MTU is larger than a tunnel's. */
export const showResultSchema = z.object({
  datapath: z.enum(['kernel', 'user']),
  /** How the datapath's programs are attached at tc ingress (a daemon that does not say: absent). */
  attach: z.enum(['tcx', 'tc']).optional(),
  ports: z.array(z.string()),
  /** Only when there is one. */
  mtuWarnings: z.array(mtuWarningSchema).optional(),
});
export type ShowResult = z.infer<typeof showResultSchema>;
/** restart: the new vswitchd's pid. */
export const restartResultSchema = z.object({ pid: z.number().int().positive() }).strict();
export type RestartResult = z.infer<typeof restartResultSchema>;
export type TunnelShowResult = z.infer<typeof tunnelShowResultSchema>;

export type NamedPortStats = z.infer<typeof namedPortStatsSchema>;
export type StatsResult = z.infer<typeof statsResultSchema>;

/** What a successful request yields to the client, by command. */
export interface ResultOf {
  add: null;
  delete: null;
  show: ShowResult;
  fdb: FdbResult;
  stats: StatsResult;
  vlan: VlanResult;
  'acl-add': { id: number };
  'acl-del': null;
  'acl-show': AclShowResult;
  'mirror-add': null;
  'mirror-del': null;
  'mirror-show': MirrorShowResult;
  trace: TraceResult;
  'tunnel-add': null;
  'tunnel-del': null;
  'tunnel-show': TunnelShowResult;
  /** Never a result: a subscription (part lines only). */
  monitor: null;
  capture: CaptureEnd;
  restart: RestartResult;
}

/** One captured frame (a part of the capture reply): as it was on the wire, its first bytes in base64. */
export const capturedFrameSchema = z.object({
  /** ms since the epoch */
  time: z.number(),
  ifname: z.string(),
  dir: z.enum(['in', 'out', 'drop']),
  /** A drop's reason (core/reasons.ts names), and the ACL rule of an acl-drop. */
  reason: z.string().optional(),
  rule: z.number().int().optional(),
  /** The frame's length on the wire; data may hold fewer bytes. */
  len: z.number().int().nonnegative(),
  data: z.string(),
});
export type CapturedFrame = z.infer<typeof capturedFrameSchema>;
export const capturePartSchema = z.object({ frame: capturedFrameSchema });

/** The capture reply's last line: frames sent, frames lost (no room on the way), and why it ended. */
export const captureEndSchema = z.object({
  frames: count,
  lost: count,
  end: z.enum(['client', 'count', 'port-gone', 'shutdown']),
});
export type CaptureEnd = z.infer<typeof captureEndSchema>;

/** What the last (for most commands the only) reply line carries, by command. */
export const resultSchemas = {
  add: z.null(),
  delete: z.null(),
  show: showResultSchema,
  fdb: fdbEndSchema,
  stats: statsResultSchema,
  vlan: vlanResultSchema,
  'acl-add': z.object({ id: count }),
  'acl-del': z.null(),
  'acl-show': aclShowResultSchema,
  'mirror-add': z.null(),
  'mirror-del': z.null(),
  'mirror-show': mirrorShowResultSchema,
  trace: traceResultSchema,
  'tunnel-add': z.null(),
  'tunnel-del': z.null(),
  'tunnel-show': tunnelShowResultSchema,
  monitor: z.null(),
  capture: captureEndSchema,
  restart: restartResultSchema,
} as const;
